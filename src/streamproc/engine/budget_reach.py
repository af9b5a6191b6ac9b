"""Which receipts can consult a shared campaign budget, decided from the receipt's lines alone.

A budget is only ever consulted for a discount or points that cover at least one line: every
campaign type (and a personal offer of a campaign) computes its cost from the lines its target
covers (a bundle's from the lines its components' targets cover), a cost of zero never reaches
the budget (spec section 5), and issuing a personal offer costs none. So a receipt none of
whose lines is covered by a target of a budgeted campaign gets the same result whatever the
budgets hold: a quote for it need not read them. This is an over-approximation (a covered line
may still not be discounted); callers that skip the read still check that the computation asked
for no budget (`quote.service`), so a gap here costs a second read, never a wrong answer.
"""

from __future__ import annotations

from streamproc.domain.program import Campaign, Program, Target
from streamproc.domain.receipt import Receipt


def _targets(c: Campaign) -> list[Target]:
    """The targets whose lines make a cost for the campaign's budget: a bundle's components
    (its own target is every line), an offer's target for the offer's use (issuing one costs
    no budget), the campaign's own target for the rest."""
    if c.type == "bundle":
        return [comp.target for comp in c.components]
    ts = [] if c.type == "next_purchase_offer" else [c.target]
    if c.offer is not None:
        ts.append(c.offer.target)
    return ts


# lines seen are remembered by (sku, category), up to this many (a client may send any)
MAX_REMEMBERED = 65_536


class BudgetReach:
    """The targets of the program's budgeted campaigns, asked line by line."""

    def __init__(self, program: Program) -> None:
        self.targets: tuple[Target, ...] = tuple(
            t for c in program.campaigns if c.budget is not None for t in _targets(c))
        self._seen: dict[tuple[str, str], bool] = {}

    def touches(self, receipt: Receipt) -> bool:
        """True when some budgeted campaign could spend its budget on this receipt."""
        if not self.targets or receipt.kind == "return":  # a return never spends a budget
            return False
        seen = self._seen
        for ln in receipt.lines:
            key = (ln.sku, ln.category)
            hit = seen.get(key)
            if hit is None:
                hit = any(t.covers(ln.sku, ln.category) for t in self.targets)
                if len(seen) >= MAX_REMEMBERED:
                    seen.clear()
                seen[key] = hit
            if hit:
                return True
        return False
