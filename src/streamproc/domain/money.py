"""Integer money maths in one place: flooring and largest-remainder splits (spec section 1)."""

from __future__ import annotations

from collections.abc import Sequence

BPS = 10_000


def bps_of(amount: int, bps: int) -> int:
    """floor(amount * bps / 10000): a rate applied once, rounded down."""
    return amount * bps // BPS


def split_largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` over `weights` proportionally, shares floored, the remainder given one
    unit at a time to the largest fractional parts, ties to the lower index.

    Weights are non-negative; when they sum to zero nothing can be split and all shares are 0.
    """
    n = len(weights)
    wsum = sum(weights)
    if wsum <= 0 or total <= 0:
        return [0] * n
    shares = [0] * n
    rems = [0] * n
    given = 0
    for i, w in enumerate(weights):
        q, r = divmod(total * w, wsum)
        shares[i] = q
        rems[i] = r
        given += q
    left = total - given
    if left:
        order = sorted(range(n), key=lambda i: (-rems[i], i))
        for i in order[:left]:
            shares[i] += 1
    return shares
