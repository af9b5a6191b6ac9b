"""Redis key names. The Kafka partition is the unit of state: every per-customer key carries
its receipts' partition as hash tag, so one batch of one partition is one atomic call on one
cluster slot. Global claims (budgets, single-use codes) share the tag `{g}`.

  {prefix}:c:{P}:<customer>      state blob (packed, its version inside)
  {prefix}:p:{P}:<customer>      profile blob
  {prefix}:h:{P}:<customer>      the customer's receipt records (duplicates, returns), packed
  {prefix}:a:{P}:<receipt>       an anonymous receipt's record (duplicates)
  {prefix}:o:{P}:<topic>/<partition>:<offset div 65536>
                                 hash offset -> a message's answer, kept for redelivery
                                 after a crash (a hash for 65,536 offsets of one source
                                 partition: one HSET, HMGET, HDEL a batch, not one key a
                                 message)
  {prefix}:t:{P}                 zset customer -> next timer due (microseconds)
  {prefix}:x:{P}                 hash: timer events written, not yet acknowledged by Kafka
  {prefix}:f:{P}                 the partition's owner (fence): "<generation> <member id>"
  {prefix}:l:{P}                 the partition's outstanding points (liability)
  {prefix}:g:{g}:budget          hash campaign -> spent
  {prefix}:g:{g}:coupons         hash single-use code -> receipt id
  {prefix}:g:{g}:exhausted       set of campaigns whose budget ran out (event sent once)
  {prefix}:g:{g}:k:<receipt>     hash: the receipt's claims (campaign or code -> answer), TTL
  {prefix}:layout                hash: partitions, partitioner (for lookups outside the stream)
"""

from __future__ import annotations

from dataclasses import dataclass

ANSWER_BITS = 16  # the messages' answers of 2**16 consecutive offsets share a hash


@dataclass(frozen=True)
class Keys:
    prefix: str = "sp"

    def customer(self, p: int, cid: str) -> str:
        return f"{self.prefix}:c:{{{p}}}:{cid}"

    def profile(self, p: int, cid: str) -> str:
        return f"{self.prefix}:p:{{{p}}}:{cid}"

    def records(self, p: int, cid: str) -> str:
        return f"{self.prefix}:h:{{{p}}}:{cid}"

    def anonymous(self, p: int, rid: str) -> str:
        return f"{self.prefix}:a:{{{p}}}:{rid}"

    def receipt(self, p: int, rid: str) -> str:
        """A receipt record of format 1 (one key a receipt): only `state migrate` reads it."""
        return f"{self.prefix}:r:{{{p}}}:{rid}"

    def answer(self, p: int, origin: str) -> tuple[str, str]:
        """(hash key, field) of the answer stored for the message from `origin`
        ("<topic>/<partition>/<offset>"; anything else gets a hash of its own kind)."""
        head, _, off = origin.rpartition("/")
        if head and off.isdigit():
            return f"{self.prefix}:o:{{{p}}}:{head}:{int(off) >> ANSWER_BITS}", off
        return f"{self.prefix}:o:{{{p}}}:-", origin

    def timers(self, p: int) -> str:
        return f"{self.prefix}:t:{{{p}}}"

    def outbox(self, p: int) -> str:
        return f"{self.prefix}:x:{{{p}}}"

    def fence(self, p: int) -> str:
        return f"{self.prefix}:f:{{{p}}}"

    def liability(self, p: int) -> str:
        return f"{self.prefix}:l:{{{p}}}"

    def claims(self, rid: str) -> str:
        return f"{self.prefix}:g:{{g}}:k:{rid}"

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
    def layout(self) -> str:
        return f"{self.prefix}:layout"
