"""What a run did, in numbers a marketer and finance read: by status, by campaign, liability."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamproc.domain.result import AppliedResult
from streamproc.engine.processor import APPLIED, DUPLICATE, REJECTED, Outcome


@dataclass
class RunReport:
    messages: int = 0
    by_status: Counter = field(default_factory=Counter)
    rejects_by_reason: Counter = field(default_factory=Counter)
    events_by_type: Counter = field(default_factory=Counter)
    discount_by_campaign: Counter = field(default_factory=Counter)
    points_by_campaign: Counter = field(default_factory=Counter)
    total_sales: int = 0
    total_discount: int = 0
    total_redeemed: int = 0
    total_accrued: int = 0
    returns: int = 0
    liability: int = 0
    liability_active: int = 0
    liability_pending: int = 0
    customers: int = 0
    tiers: Counter = field(default_factory=Counter)
    timer_events: int = 0
    seconds: float = 0.0
    profiles: int = 0
    profiles_rejected: int = 0

    def count(self, o: Outcome) -> None:
        """One message's outcome (called for every message: written with locals)."""
        self.messages += 1
        status = o.status
        self.by_status[status] += 1
        if status != APPLIED:
            if status == REJECTED:
                assert o.reject is not None
                self.rejects_by_reason[o.reject["reason"]] += 1
            return
        r = o.result
        assert isinstance(r, AppliedResult)
        by_type = self.events_by_type
        for ev in o.events:
            by_type[ev["type"]] += 1
        total = r.total
        if total < 0:
            self.returns += 1
        else:
            self.total_sales += total
        self.total_discount += r.discount
        self.total_redeemed += r.redeemed
        self.total_accrued += r.accrued
        discount, points = self.discount_by_campaign, self.points_by_campaign
        for a in r.applied:
            (discount if a.kind == "discount" else points)[a.campaign_id] += a.amount

    def count_timer_events(self, events: list[dict[str, Any]]) -> None:
        self.timer_events += len(events)
        for ev in events:
            self.events_by_type[ev["type"]] += 1

    @property
    def reconciles(self) -> bool:
        return self.messages == sum(self.by_status[s] for s in (APPLIED, DUPLICATE, REJECTED))

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "receipts_by_status": {s: self.by_status[s] for s in (APPLIED, DUPLICATE, REJECTED)},
            "rejects_by_reason": dict(self.rejects_by_reason),
            "reconciles": self.reconciles,
            "sales_total": self.total_sales,
            "returns": self.returns,
            "discount_total": self.total_discount,
            "redeemed_total": self.total_redeemed,
            "accrued_total": self.total_accrued,
            "discount_by_campaign": dict(self.discount_by_campaign.most_common()),
            "points_by_campaign": dict(self.points_by_campaign.most_common()),
            "points_liability": {"total": self.liability, "active": self.liability_active,
                                 "pending": self.liability_pending},
            "customers": self.customers,
            "tiers": dict(self.tiers),
            "events_by_type": dict(self.events_by_type),
            "timer_events": self.timer_events,
            "profiles": {"loaded": self.profiles, "rejected": self.profiles_rejected},
            "seconds": round(self.seconds, 3),
        }


def plot_campaign_cost(report: RunReport, path: str | Path, title: str = "") -> None:
    """A horizontal bar chart: discount and points given per campaign (in major units)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(set(report.discount_by_campaign) | set(report.points_by_campaign),
                   key=lambda c: report.discount_by_campaign[c] + report.points_by_campaign[c])
    disc = [report.discount_by_campaign[c] / 100 for c in names]
    pts = [report.points_by_campaign[c] / 100 for c in names]
    fig, ax = plt.subplots(figsize=(9, max(3.0, 0.35 * len(names) + 1.5)))
    ax.barh(names, disc, label="discount")
    ax.barh(names, pts, left=disc, label="points")
    ax.set_xlabel("cost (major currency units; 1 point = 1 unit)")
    ax.set_title(title or "Cost per campaign")
    ax.legend(loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
