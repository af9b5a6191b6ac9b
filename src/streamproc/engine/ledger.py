"""Point buckets over time: grants, settlement on the customer's clock, spending, clawback.

Shared by both engines: this is bookkeeping on a handful of buckets per customer, not the
per-line arithmetic the compiled engine speeds up (spec section 5, steps 3 and 6; returns).
"""

from __future__ import annotations

from streamproc.engine.model import (
    ACTIVE,
    EXPIRED,
    KIND_RATE,
    PENDING,
    Bucket,
    CustomerState,
)

_NEVER = 1 << 62


def grant(
    st: CustomerState, receipt_id: str, campaign_id: str, kind: int, amount: int, ts_us: int,
    activation_us: int, expiry_us: int | None,
) -> Bucket:
    """Add a bucket: pending until ts + activation, then active for expiry (None: forever)."""
    act = ts_us + activation_us
    b = Bucket(st.next_bucket, receipt_id, campaign_id, kind, amount, act,
               None if expiry_us is None else act + expiry_us)
    st.next_bucket += 1
    st.buckets.append(b)
    return b


def settle(st: CustomerState) -> None:
    """Activate and expire buckets due by the customer's clock, in time order.

    Activation first pays off any debt; expiry burns what is left. At equal times activations
    come first, then by bucket age.
    """
    clock = st.clock_us
    if clock is None:
        return
    due: list[tuple[int, int, int, Bucket]] = []
    for b in st.buckets:
        if b.state == PENDING and b.act_us <= clock:
            due.append((b.act_us, 0, b.id, b))
            if b.exp_us is not None and b.exp_us <= clock:
                due.append((b.exp_us, 1, b.id, b))
        elif b.state == ACTIVE and b.exp_us is not None and b.exp_us <= clock:
            due.append((b.exp_us, 1, b.id, b))
    if not due:
        return
    due.sort(key=lambda e: (e[0], e[1], e[2]))
    for _, what, _, b in due:
        if what == 0:
            b.state = ACTIVE
            if st.debt and b.amount:
                pay = min(st.debt, b.amount)
                st.debt -= pay
                b.amount -= pay
        else:
            b.state = EXPIRED
            b.burnt = b.amount
            b.amount = 0
    prune(st)


def prune(st: CustomerState) -> None:
    """Drop buckets that hold nothing and have nothing left to announce."""
    st.buckets = [b for b in st.buckets if b.amount > 0 or (b.state == EXPIRED and b.burnt > 0
                                                            and not b.notes & 4)]


def spend_active(st: CustomerState, amount: int) -> None:
    """Take redeemed points from active buckets: soonest expiry first (never last), then the
    earliest activated."""
    active = [b for b in st.buckets if b.state == ACTIVE and b.amount > 0]
    active.sort(key=lambda b: (b.exp_us if b.exp_us is not None else _NEVER, b.act_us, b.id))
    left = amount
    for b in active:
        if not left:
            break
        take = min(left, b.amount)
        b.amount -= take
        left -= take
    if left:
        raise AssertionError("redeemed more than the active balance")
    prune(st)


def claw_back(st: CustomerState, amount: int, sale_buckets: list[int]) -> None:
    """Take back returned points: the sale's own rate-based buckets (newest first), then other
    pending buckets (newest first), then active ones (never-expiring first, then latest expiry);
    what is left becomes debt."""
    left = amount
    own = set(sale_buckets)
    order: list[Bucket] = sorted(
        (b for b in st.buckets if b.id in own and b.kind == KIND_RATE and b.amount > 0),
        key=lambda b: -b.id,
    )
    order += sorted((b for b in st.buckets if b.id not in own and b.state == PENDING
                     and b.amount > 0), key=lambda b: -b.id)
    order += sorted((b for b in st.buckets if b.id not in own and b.state == ACTIVE
                     and b.amount > 0),
                    key=lambda b: (-(b.exp_us if b.exp_us is not None else _NEVER), -b.id))
    for b in order:
        if not left:
            break
        take = min(left, b.amount)
        b.amount -= take
        left -= take
    st.debt += left
    prune(st)
