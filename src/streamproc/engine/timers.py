"""Timer events: points activated, expiring soon and expired, each once per bucket.

They report transitions on a clock of their own (the wall clock in a stream, the latest
receipt time read in a replay) and never change what a receipt computes: they only read the
buckets and mark what they have announced.
"""

from __future__ import annotations

from streamproc.domain.program import Program
from streamproc.domain.result import Event
from streamproc.domain.timeutil import US_PER_DAY, format_us
from streamproc.engine import ledger
from streamproc.engine.model import (
    EXPIRED,
    NOTE_ACTIVATED,
    NOTE_EXPIRED,
    NOTE_EXPIRING,
    Bucket,
    CustomerState,
)


def next_due(st: CustomerState, program: Program) -> int | None:
    """When this customer's next timer event is due (None: nothing to announce).

    Called after every receipt, so it is written flat (no lists) over the customer's buckets.
    """
    notify = _notify_us(program)
    best = None
    for b in st.buckets:
        notes = b.notes
        if b.state != EXPIRED:
            if not notes & NOTE_ACTIVATED and (best is None or b.act_us < best):
                best = b.act_us
            exp = b.exp_us
            if exp is not None:
                if notify is not None and not notes & NOTE_EXPIRING:
                    t = exp - notify
                    if best is None or t < best:
                        best = t
                if not notes & NOTE_EXPIRED and (best is None or exp < best):
                    best = exp
        elif not notes & NOTE_EXPIRED and b.exp_us is not None \
                and (best is None or b.exp_us < best):
            best = b.exp_us
    return best


def _notify_us(program: Program) -> int | None:
    d = program.expiring_days_before
    return None if d is None else d * US_PER_DAY


def fire_due(st: CustomerState, program: Program, now_us: int, text: bool = True
             ) -> list[Event]:
    """Announce every transition due by `now_us`, in time order, and mark it announced.

    Called for every customer whose timer is due (about once a receipt in a replay), so it is
    written flat; (time, what, bucket id) is unique, so the tuples sort without a key. Without
    `text` an event is only its type, amount and campaign (what `whatif` counts: it writes no
    events), the same marks are made.
    """
    notify = _notify_us(program)
    due: list[tuple[int, int, int, Bucket]] = []
    for b in st.buckets:
        notes = b.notes
        live = b.state != EXPIRED
        if live and not notes & NOTE_ACTIVATED and b.act_us <= now_us:
            due.append((b.act_us, NOTE_ACTIVATED, b.id, b))
        exp = b.exp_us
        if exp is not None:
            if notify is not None and live and not notes & NOTE_EXPIRING \
                    and exp - notify <= now_us:
                due.append((exp - notify, NOTE_EXPIRING, b.id, b))
            if not notes & NOTE_EXPIRED and exp <= now_us:
                due.append((exp, NOTE_EXPIRED, b.id, b))
    if len(due) > 1:
        due.sort()
    events: list[Event] = []
    tz = program.tz
    cust = st.customer_id
    for t, what, _, b in due:
        if b.notes & what:
            continue
        b.notes |= what
        if what == NOTE_ACTIVATED:
            etype, amount = "points_activated", b.amount
        elif what == NOTE_EXPIRING:
            if t + notify <= now_us:  # type: ignore[operator]
                continue  # already past its expiry: only `points_expired` is news
            etype, amount = "points_expiring_soon", b.amount
        else:
            etype, amount = "points_expired", b.burnt if b.state == EXPIRED else b.amount
            b.notes |= NOTE_ACTIVATED | NOTE_EXPIRING
        if amount <= 0:
            continue
        if not text:
            events.append({"type": etype, "amount": amount, "campaign_id": b.campaign_id})
            continue
        ev = {"event_id": f"{cust}/b{b.id}/{etype}", "type": etype, "customer_id": cust,
              "ts": format_us(t, tz), "amount": amount, "campaign_id": b.campaign_id}
        if etype != "points_expired" and b.exp_us is not None:
            ev["expires_at"] = format_us(b.exp_us, tz)
        events.append(ev)
    ledger.prune(st)
    return events
