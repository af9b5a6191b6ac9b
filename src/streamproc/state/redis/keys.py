"""Redis key names. Every key carries a hash tag, so one customer's keys share a cluster slot.

  {prefix}:c:{<customer>}        hash: v (version), s (state blob)
  {prefix}:p:{<customer>}        profile blob
  {prefix}:r:{<receipt>}         receipt record (duplicates, returns), kept for the window
  {prefix}:o:{<receipt>}         a receipt's output, kept for redelivery after a crash
  {prefix}:g:{g}:budget          hash campaign -> spent
  {prefix}:g:{g}:coupons         hash single-use code -> receipt id
  {prefix}:g:{g}:exhausted       set of campaigns whose budget ran out (event sent once)
  {prefix}:g:{g}:timers          zset customer -> next timer due (microseconds)
  {prefix}:g:{g}:liability       outstanding points (active + pending, net of debt)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "sp"

    def customer(self, cid: str) -> str:
        return f"{self.prefix}:c:{{{cid}}}"

    def profile(self, cid: str) -> str:
        return f"{self.prefix}:p:{{{cid}}}"

    def receipt(self, rid: str) -> str:
        return f"{self.prefix}:r:{{{rid}}}"

    def output(self, rid: str) -> str:
        return f"{self.prefix}:o:{{{rid}}}"

    @property
    def budget(self) -> str:
        return f"{self.prefix}:g:{{g}}:budget"

    @property
    def coupons(self) -> str:
        return f"{self.prefix}:g:{{g}}:coupons"

    @property
    def exhausted(self) -> str:
        return f"{self.prefix}:g:{{g}}:exhausted"

    @property
    def liability(self) -> str:
        return f"{self.prefix}:g:{{g}}:liability"

    @property
    def timers(self) -> str:
        return f"{self.prefix}:g:{{g}}:timers"
