"""The program file (spec section 4) as a JSON Schema, for editors and for "did you mean".

The loader in `program.py` stays the authority (it checks what a schema cannot: tier order,
shared codes, `pay < buy`); this schema describes the same fields so an editor completes and
flags them while the file is typed. A test validates every example program against it.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from streamproc.domain.program import (
    CAMPAIGN_TYPES,
    ID_RE,
    MAX_DAYS,
    OFFER_TYPES,
    POINT_TYPES,
)
from streamproc.domain.receipt import MAX_SAFE_INT
from streamproc.domain.timeutil import DAY_NAMES

SCHEMA_ID = "https://streamproc.dev/schemas/program.schema.json"


def _int(desc: str, lo: int = 0, hi: int | None = None, nullable: bool = False) -> dict:
    s: dict[str, Any] = {"type": ["integer", "null"] if nullable else "integer",
                         "minimum": lo, "maximum": MAX_SAFE_INT if hi is None else hi,
                         "description": desc}
    return s


def _strlist(desc: str) -> dict:
    return {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1},
            "description": desc}


def _obj(props: dict[str, Any], desc: str, required: tuple[str, ...] = ()) -> dict:
    s: dict[str, Any] = {"type": "object", "additionalProperties": False,
                         "properties": props, "description": desc}
    if required:
        s["required"] = list(required)
    return s


_TIME = {"type": "string", "description": "ISO date (midnight) or timestamp; without an "
         "offset it is read in the program's timezone. Half-open: `until` is excluded."}
_MONEY = "integer minor units (kopecks, cents): 150000 = 1,500.00"
_BPS = "basis points: 10000 = 100 %, 1500 = 15 %"

_TARGET_LISTS = {"skus": _strlist("SKUs covered"),
                 "categories": _strlist("category paths covered (a path covers its children)")}
TARGET = _obj({**_TARGET_LISTS,
               "exclude": _obj(dict(_TARGET_LISTS), "lines never covered")},
              "the lines a campaign covers; absent = every line")

_COMMON: dict[str, Any] = {
    "id": {"type": "string", "pattern": ID_RE.pattern, "description": "unique campaign id"},
    "name": {"type": "string", "description": "a human name"},
    "priority": {"type": "integer", "description": "higher first, ties by id (default 0)"},
    "exclusive": {"type": "boolean", "description": "skips lines already discounted; lines it "
                  "discounts take no later discount (default false)"},
    "active": _obj({"from": _TIME, "until": _TIME}, "the campaign's window"),
    "schedule": _obj({
        "days": {"type": "array", "minItems": 1, "items": {"enum": list(DAY_NAMES)},
                 "description": "weekdays, local time"},
        "hours": {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$",
                  "description": "HH:MM-HH:MM local time, end excluded, wraps past midnight"},
    }, "days and hours of the week it runs"),
    "stores": _strlist("store ids it runs in"),
    "audience": _obj({
        "tiers": _strlist("tier names (any of)"),
        "segments": _strlist("profile segments (any of)"),
        "first_purchase": {"type": "boolean", "description": "customer's first sale only"},
        "birthday_window_days": _int("days either side of the birthday", nullable=True,
                                     hi=MAX_DAYS),
        "anonymous": {"type": "boolean", "description": "discount types: applies to anonymous "
                      "receipts too (default true)"},
    }, "who it is for"),
    "coupon": _obj({"codes": _strlist("codes; the campaign applies only with one of them"),
                    "single_use": {"type": "boolean",
                                   "description": "each code works once across all customers"}},
                   "coupon codes the campaign needs", required=("codes",)),
    "limits": _obj({
        "per_customer": _int("receipts per customer on which it gives something", 1,
                             nullable=True),
        "per_receipt": _int("cap of its discount or points on one receipt, " + _MONEY,
                            nullable=True),
        "budget": _int("total discount plus points over all receipts, " + _MONEY,
                       nullable=True),
    }, "limits"),
    "holdout_bps": _int("share of customers held out as a control group, " + _BPS, 0, 10_000),
}
_POINT_EXTRA = {
    "activation_days": _int("days its points stay pending (default: the program's)",
                            hi=MAX_DAYS),
    "expiry_days": _int("days its points stay active (null = never)", 1, nullable=True,
                        hi=MAX_DAYS),
}
_PCT = _int("percent off, " + _BPS, 1, 10_000)
_MULT = _int("points multiplier in bps: 20000 = x2", 10_001, 100_000)
_OFFER = _obj({
    "type": {"enum": list(OFFER_TYPES)},
    "target": TARGET,
    "percent_bps": _PCT,
    "multiplier_bps": _MULT,
    "valid_days": _int("days the offer works after it is issued", 1, hi=MAX_DAYS),
    "uses": _int("receipts it works on (null = unlimited)", 1, nullable=True),
}, "the personal offer issued", required=("type", "valid_days"))

# type -> (its own fields, required fields)
TYPE_FIELDS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "percent_off": ({"target": TARGET, "percent_bps": _PCT}, ("percent_bps",)),
    "amount_off": ({"target": TARGET, "amount": _int("off each covered unit, " + _MONEY, 1)},
                   ("amount",)),
    "fixed_price": ({"target": TARGET, "price": _int("unit price, " + _MONEY)}, ("price",)),
    "n_for_m": ({"target": TARGET, "buy": _int("units in a group", 1),
                 "pay": _int("units paid in a group (less than buy)")}, ("buy", "pay")),
    "bundle": ({"components": {"type": "array", "minItems": 1, "description": "the set",
                               "items": _obj({"target": TARGET, "qty": _int("units", 1)},
                                             "one component", required=("target", "qty"))},
                "percent_bps": _PCT, "max_sets": _int("sets per receipt", 1, nullable=True)},
               ("components", "percent_bps")),
    "threshold_discount": ({"target": TARGET, "min_amount": _int("basket from, " + _MONEY),
                            "percent_bps": _PCT, "amount": _int("off, " + _MONEY, 1)},
                           ("min_amount",)),
    "bonus_points": ({"target": TARGET, "min_amount": _int("basket from, " + _MONEY),
                      "points": _int("points given, minor units", 1)}, ("points",)),
    "sku_points": ({"target": TARGET, "points_per_unit": _int("points per covered unit", 1)},
                   ("points_per_unit",)),
    "points_multiplier": ({"target": TARGET, "multiplier_bps": _MULT}, ("multiplier_bps",)),
    "next_purchase_offer": ({"target": TARGET, "min_amount": _int("basket from, " + _MONEY),
                             "offer": _OFFER}, ("offer",)),
}
assert set(TYPE_FIELDS) == set(CAMPAIGN_TYPES)


def campaign_schema(ctype: str) -> dict[str, Any]:
    own, required = TYPE_FIELDS[ctype]
    props = {**_COMMON, "type": {"const": ctype}, **own}
    if ctype in POINT_TYPES:
        props.update(_POINT_EXTRA)
    s = _obj(props, f"a {ctype} campaign", required=("id", "type", *required))
    if ctype == "threshold_discount":
        s["oneOf"] = [{"required": ["percent_bps"]}, {"required": ["amount"]}]
    return s


PROGRAM = _obj({
    "id": {"type": "string", "minLength": 1, "description": "the program's id"},
    "name": {"type": "string"},
    "timezone": {"type": "string", "description": "IANA zone, e.g. Europe/Moscow"},
    "accrual": _obj({
        "rate_bps": _int("base rate when there are no tiers, " + _BPS, 0, 10_000),
        "on_redeemed": {"type": "boolean", "description": "points on the part paid with points"},
        "activation_days": _int("days points stay pending", hi=MAX_DAYS),
        "expiry_days": _int("days points stay active (null = never)", 1, nullable=True,
                            hi=MAX_DAYS),
    }, "how points are earned"),
    "redemption": _obj({
        "max_share_bps": _int("most of a basket payable with points, " + _BPS, 0, 10_000),
        "min_payable": _int("always at least this in money, " + _MONEY),
    }, "paying with points"),
    "tiers": {"type": "array", "minItems": 1, "description": "by lifetime qualifying spend",
              "items": _obj({"name": {"type": "string", "minLength": 1},
                             "min_spend": _int(_MONEY), "rate_bps": _int(_BPS, 0, 10_000)},
                            "a tier", required=("name", "min_spend", "rate_bps"))},
    "restricted": {"type": "array", "minItems": 1, "description": "restricted categories",
                   "items": _obj({"category": {"type": "string", "minLength": 1},
                                  "accrual": {"type": "boolean"},
                                  "redemption": {"type": "boolean"},
                                  "discounts": {"type": "boolean"}},
                                 "a restricted category", required=("category",))},
    "max_line_discount_bps": _int("most a line can lose to discounts, " + _BPS, 0, 10_000),
    "returns": _obj({"window_days": _int("days a sale can be returned", hi=MAX_DAYS)},
                    "returns"),
    "notify": _obj({"expiring_days_before": _int("days before expiry to warn", 1,
                                                  nullable=True, hi=MAX_DAYS)}, "notifications"),
}, "the program", required=("id",))


def program_schema() -> dict[str, Any]:
    """The whole file's JSON Schema (draft 2020-12)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "streamproc loyalty program",
        "description": "docs/spec.md section 4. Money in minor units, rates in basis points.",
        "type": "object",
        "additionalProperties": False,
        "required": ["program"],
        "properties": {
            "program": PROGRAM,
            "campaigns": {"type": "array", "items": {
                "type": "object", "required": ["id", "type"],
                "properties": {"type": {"enum": list(CAMPAIGN_TYPES)}},
                "allOf": [{"if": {"properties": {"type": {"const": t}}, "required": ["type"]},
                           "then": campaign_schema(t)} for t in CAMPAIGN_TYPES],
            }},
        },
    }


# ------------------------------------------------------------------ did you mean

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def path_tokens(path: str) -> list[str | int]:
    return [int(m[2]) if m[2] is not None else m[1] for m in _TOKEN.finditer(path)]


def allowed_fields(path: list[str | int], campaign_type: str | None) -> set[str]:
    """Field names valid where `path`'s last element sits (path relative to the campaign, or
    from the program mapping when `campaign_type` is None)."""
    node: dict[str, Any] = (campaign_schema(campaign_type) if campaign_type in TYPE_FIELDS
                            else PROGRAM if campaign_type is None else {"properties": _COMMON})
    for tok in path[:-1]:
        if isinstance(tok, int):  # arrays were entered already
            continue
        sub = node.get("properties", {}).get(tok)
        if sub is None:
            return set()
        node = sub.get("items", sub) if sub.get("type") == "array" else sub
    return set(node.get("properties", {}))


def did_you_mean(path: str, campaign_type: str | None) -> str | None:
    """The closest valid field name to the last element of an unknown field's path."""
    toks = path_tokens(path)
    if not toks or not isinstance(toks[-1], str):
        return None
    if campaign_type is None and toks[0] != "program":
        names = {"program", "campaigns"} if len(toks) == 1 else set()
    else:
        names = allowed_fields(toks[1:] if campaign_type is None else toks, campaign_type)
    hit = difflib.get_close_matches(toks[-1], sorted(names), n=1, cutoff=0.6)
    return hit[0] if hit else None
