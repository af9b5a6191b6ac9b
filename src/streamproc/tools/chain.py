"""The synthetic retail chain the load generator sells from: catalogue, segments, codes.

Fixed data, the same in every run (the program `examples/retail-chain.yaml` refers to its
categories, SKUs and coupon codes), and the pick tables that turn a uniform draw into a
weighted one. The receipts and customers drawn from it are `streamproc.tools.loadgen`'s.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable
from dataclasses import dataclass

# ----------------------------------------------------------------------------- the catalogue

# (category, SKU prefix, number of SKUs, min price RUB, max price RUB, popularity, qty profile)
# SKU codes are the prefix plus a 3-digit index: dairy/milk is 4601000..4601011.
CATEGORIES: tuple[tuple[str, str, int, int, int, float, str], ...] = (
    ("dairy/milk", "4601", 12, 65, 140, 8.0, "staple"),
    ("dairy/kefir", "4602", 8, 60, 120, 4.0, "staple"),
    ("dairy/yogurt", "4603", 20, 35, 90, 6.0, "multi"),
    ("dairy/cheese/hard", "4604", 15, 250, 900, 4.0, "one"),
    ("dairy/cheese/soft", "4605", 10, 150, 500, 2.0, "one"),
    ("dairy/butter", "4606", 6, 150, 350, 3.0, "staple"),
    ("meat/sausage", "4610", 20, 200, 800, 5.0, "one"),
    ("meat/fresh", "4611", 15, 300, 1200, 4.0, "one"),
    ("meat/poultry", "4612", 10, 250, 700, 4.0, "one"),
    ("fish/frozen", "4613", 8, 300, 1200, 2.0, "one"),
    ("bakery/bread", "4620", 12, 40, 120, 8.0, "staple"),
    ("bakery/pastry", "4621", 15, 50, 250, 3.0, "multi"),
    ("produce/fruit", "4630", 20, 80, 400, 7.0, "staple"),
    ("produce/vegetables", "4631", 25, 50, 300, 8.0, "staple"),
    ("grocery/pasta", "4640", 10, 70, 250, 3.0, "staple"),
    ("grocery/cereals", "4641", 10, 80, 300, 3.0, "staple"),
    ("grocery/canned", "4642", 15, 90, 400, 3.0, "staple"),
    ("sweets/chocolate", "4645", 20, 80, 400, 4.0, "staple"),
    ("sweets/cookies", "4646", 10, 90, 300, 3.0, "staple"),
    ("drinks/water", "4650", 8, 40, 120, 5.0, "pack"),
    ("drinks/juice", "4651", 10, 100, 250, 3.0, "staple"),
    ("drinks/coffee", "4652", 15, 300, 1500, 3.0, "one"),
    ("drinks/tea", "4653", 10, 150, 600, 2.0, "one"),
    ("alcohol/wine", "4660", 25, 500, 3000, 2.0, "one"),
    ("alcohol/beer", "4661", 15, 80, 250, 3.0, "pack"),
    ("alcohol/spirits", "4662", 10, 600, 3500, 1.0, "one"),
    ("tobacco/cigarettes", "4670", 12, 180, 300, 2.0, "staple"),
    ("household/cleaning", "4680", 15, 150, 700, 2.0, "one"),
    ("household/paper", "4681", 8, 100, 450, 2.0, "staple"),
    ("cosmetics/care", "4685", 15, 150, 900, 1.5, "one"),
    ("baby/diapers", "4690", 6, 900, 2200, 0.3, "one"),
    ("baby/food", "4691", 12, 60, 250, 0.5, "multi"),
    ("pets/food", "4700", 15, 100, 3000, 0.7, "staple"),
    ("pets/care", "4701", 6, 150, 800, 0.3, "one"),
    ("sport/shoes", "4710", 8, 3000, 12000, 0.05, "one"),
    ("sport/apparel", "4711", 10, 1000, 5000, 0.08, "one"),
    ("sport/equipment", "4712", 10, 500, 8000, 0.06, "one"),
    ("food/sport-nutrition/protein", "4720", 6, 1200, 4500, 0.1, "one"),
    ("food/sport-nutrition/bars", "4721", 8, 80, 250, 0.3, "multi"),
    ("services/bags", "4790", 2, 5, 15, 3.0, "one"),
)

# How many units a line has, by profile: a uniform pick from the tuple.
QTY_PROFILES: dict[str, tuple[int, ...]] = {
    "one": (1,) * 9 + (2,),
    "staple": (1,) * 7 + (2, 2, 3),
    "multi": (1, 1, 2, 2, 3, 3, 3, 4, 6, 6),
    "pack": (1, 1, 2, 2, 4, 6, 6, 6, 12, 24),
}

# Customers' segments and how likely each customer is to have it.
SEGMENTS: tuple[tuple[str, float], ...] = (
    ("parents", 0.25),
    ("pets", 0.30),
    ("students", 0.10),
    ("sport", 0.12),
    ("seniors", 0.15),
    ("vegan", 0.03),
)

# Extra lines a segment's basket gets: (segment, probability, categories to pick from).
SEGMENT_BASKETS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("parents", 0.5, ("baby/diapers", "baby/food", "baby/food", "dairy/yogurt")),
    ("pets", 0.45, ("pets/food", "pets/food", "pets/care")),
    ("students", 0.4, ("drinks/coffee", "sweets/chocolate", "bakery/pastry")),
    (
        "sport",
        0.3,
        (
            "food/sport-nutrition/protein",
            "food/sport-nutrition/bars",
            "food/sport-nutrition/bars",
            "sport/shoes",
            "sport/apparel",
            "sport/equipment",
        ),
    ),
)

# Coupon codes of examples/retail-chain.yaml, and codes no campaign knows.
MULTI_USE_CODES: tuple[str, ...] = ("WELCOME10", "COMEBACK")
SINGLE_USE_CODES: tuple[str, ...] = (
    "GIFT-7K2M9Q", "GIFT-3XH8PA", "GIFT-Q4N6ZT", "GIFT-L9D2WE", "GIFT-R5B7JC",
    "GIFT-8VF3KU", "GIFT-M2P6YS", "GIFT-T7G4HN", "GIFT-W3C9RB", "GIFT-Z6J5LD",
)  # fmt: skip
UNKNOWN_CODES: tuple[str, ...] = ("SUMMER10", "PROMO2025", "XMAS2025", "GIFT-000000", "welcome10")

# Requested redemptions, in points (kopecks).
REDEEM_AMOUNTS: tuple[int, ...] = (5000, 10000, 20000, 30000, 50000, 100000, 100000, 500000)

# Relative receipt traffic by local clock hour 0..23 (24-hour stores keep a trickle at night).
HOURLY_TRAFFIC: tuple[float, ...] = (
    0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 1.5, 3.0, 4.0, 4.5, 5.0,
    5.5, 5.5, 5.0, 5.0, 5.5, 7.0, 8.5, 9.0, 8.0, 6.0, 3.0, 1.0,
)  # fmt: skip

BASKET_SIZES: tuple[tuple[int, float], ...] = (
    (1, 9), (2, 9), (3, 8.5), (4, 8), (5, 8), (6, 7.5), (7, 7), (8, 6.5), (9, 6), (10, 5.5),
    (11, 5), (12, 4.5), (13, 4), (14, 3.5), (15, 3), (17, 2.5), (20, 2), (25, 1), (30, 0.6),
    (40, 0.25), (60, 0.06),
)  # fmt: skip

TABLE_SIZE = 1 << 16  # size of the precomputed pick tables


@dataclass(frozen=True)
class Sku:
    sku: str
    category: str
    unit_price: int  # kopecks
    qty_profile: tuple[int, ...]


def build_catalogue() -> list[Sku]:
    """The chain's catalogue: the same in every run (fixed seed), prices ending in .90/.99."""
    rng = random.Random("retail-chain-catalogue-v1")
    out: list[Sku] = []
    for category, prefix, n, lo, hi, _weight, qty in CATEGORIES:
        # Log-uniform prices, cheapest first: the first SKUs of a category sell most.
        rubles = sorted(int(lo * (hi / lo) ** rng.random()) for _ in range(n))
        for i, rub in enumerate(rubles):
            kop = rng.choice((90, 99, 90, 0, 50))
            price = max(100, rub * 100 - 100 + kop) if kop else rub * 100
            out.append(Sku(f"{prefix}{i:03d}", category, price, QTY_PROFILES[qty]))
    return out


def catalogue_categories() -> set[str]:
    return {c[0] for c in CATEGORIES}


def pick_table(items: list[int], weights: list[float]) -> tuple[int, ...]:
    """A table of `TABLE_SIZE` item indices in proportion to the weights (a uniform pick is
    then a weighted one)."""
    total = sum(weights)
    cum: list[float] = []
    acc = 0.0
    for w in weights:
        acc += w
        cum.append(acc / total)
    return tuple(
        items[min(bisect.bisect_right(cum, (j + 0.5) / TABLE_SIZE), len(items) - 1)]
        for j in range(TABLE_SIZE)
    )


def sku_weights(catalogue: list[Sku], cats: Iterable[str] | None) -> tuple[int, ...]:
    """Pick table over the catalogue (or some categories): category popularity split over its
    SKUs with a Zipf-like skew (the first SKUs of a category sell most)."""
    weight_of = {c[0]: c[5] for c in CATEGORIES}
    wanted = None if cats is None else list(cats)
    items: list[int] = []
    weights: list[float] = []
    by_cat: dict[str, list[int]] = {}
    for i, s in enumerate(catalogue):
        by_cat.setdefault(s.category, []).append(i)
    for cat, idxs in by_cat.items():
        if wanted is None:
            cat_w = weight_of[cat]
        elif cat in wanted:
            cat_w = float(wanted.count(cat))
        else:
            continue
        norm = sum(1.0 / (r + 1) for r in range(len(idxs)))
        for r, i in enumerate(idxs):
            items.append(i)
            weights.append(cat_w * (1.0 / (r + 1)) / norm)
    return pick_table(items, weights)
