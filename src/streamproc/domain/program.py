"""The program file (spec section 4): a typed model, loaded and validated once at start.

Every error names the file, the campaign id and the field, and all errors are reported
together so a marketer fixes the file in one pass.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streamproc.domain.program_file import ProgramFileError, quote, read_program_doc
from streamproc.domain.receipt import MAX_SAFE_INT
from streamproc.domain.timeutil import DAY_NAMES, US_PER_DAY, parse_program_time
from streamproc.errors import StreamprocError

MAX_DAYS = 3650  # every day count: ten years, far past any loyalty rule, far from overflow

STAGE_A_TYPES = ("percent_off", "amount_off", "fixed_price", "n_for_m", "bundle")
STAGE_B_TYPES = ("threshold_discount",)
POINT_TYPES = ("bonus_points", "sku_points", "points_multiplier", "next_purchase_offer")
CAMPAIGN_TYPES = STAGE_A_TYPES + STAGE_B_TYPES + POINT_TYPES
DISCOUNT_TYPES = STAGE_A_TYPES + STAGE_B_TYPES
OFFER_TYPES = ("percent_off", "points_multiplier")
ID_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
HOURS_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Target:
    skus: frozenset[str] | None = None
    categories: tuple[str, ...] | None = None
    exclude_skus: frozenset[str] = frozenset()
    exclude_categories: tuple[str, ...] = ()

    def covers(self, sku: str, category: str) -> bool:
        if sku in self.exclude_skus or category_matches(category, self.exclude_categories):
            return False
        if self.skus is None and self.categories is None:
            return True
        if self.skus is not None and sku in self.skus:
            return True
        return self.categories is not None and category_matches(category, self.categories)


ANY_LINE = Target()


def category_matches(category: str, targets: tuple[str, ...]) -> bool:
    """C matches C itself and every category that starts with C/."""
    return any(category == t or category.startswith(t + "/") for t in targets)


@dataclass(frozen=True)
class Schedule:
    days: frozenset[int] | None  # 0 = Monday
    start_min: int | None
    end_min: int | None

    def allows(self, weekday: int, minute: int) -> bool:
        if self.days is not None and weekday not in self.days:
            return False
        if self.start_min is None or self.end_min is None:
            return True
        if self.start_min < self.end_min:
            return self.start_min <= minute < self.end_min
        return minute >= self.start_min or minute < self.end_min


@dataclass(frozen=True)
class Audience:
    tiers: frozenset[str] | None = None
    segments: frozenset[str] | None = None
    first_purchase: bool = False
    birthday_window_days: int | None = None
    anonymous: bool = True


@dataclass(frozen=True)
class Component:
    target: Target
    qty: int


@dataclass(frozen=True)
class OfferSpec:
    type: str
    target: Target
    percent_bps: int = 0
    multiplier_bps: int = 0
    valid_days: int = 1
    uses: int | None = None


@dataclass(frozen=True)
class Campaign:
    id: str
    type: str
    name: str = ""
    priority: int = 0
    exclusive: bool = False
    active_from_us: int | None = None
    active_until_us: int | None = None
    schedule: Schedule | None = None
    stores: frozenset[str] | None = None
    audience: Audience = field(default_factory=Audience)
    coupon_codes: tuple[str, ...] = ()
    single_use: bool = False
    per_customer: int | None = None
    per_receipt: int | None = None
    budget: int | None = None
    holdout_bps: int = 0
    activation_days: int = 0
    expiry_days: int | None = None
    target: Target = ANY_LINE
    percent_bps: int = 0
    amount: int = 0
    price: int = 0
    buy: int = 0
    pay: int = 0
    components: tuple[Component, ...] = ()
    max_sets: int | None = None
    min_amount: int = 0
    points: int = 0
    points_per_unit: int = 0
    multiplier_bps: int = 0
    offer: OfferSpec | None = None

    @property
    def gives_points(self) -> bool:
        return self.type in POINT_TYPES


@dataclass(frozen=True)
class Tier:
    name: str
    min_spend: int
    rate_bps: int


@dataclass(frozen=True)
class Restriction:
    category: str
    accrual: bool  # True: lines in it may earn points
    redemption: bool
    discounts: bool


@dataclass(frozen=True)
class Program:
    id: str
    timezone: str
    tz: ZoneInfo
    rate_bps: int
    on_redeemed: bool
    activation_days: int
    expiry_days: int | None
    max_share_bps: int
    min_payable: int
    tiers: tuple[Tier, ...]
    restricted: tuple[Restriction, ...]
    max_line_discount_bps: int
    return_window_days: int
    expiring_days_before: int | None
    campaigns: tuple[Campaign, ...]  # by priority (higher first), then id
    source: str = "<program>"
    version: str = ""  # content hash of the program file: results name the rules they used

    @property
    def return_window_us(self) -> int:
        return self.return_window_days * US_PER_DAY

    def campaign(self, cid: str) -> Campaign:
        return self._by_id[cid]

    @property
    def _by_id(self) -> dict[str, Campaign]:
        cache = self.__dict__.get("_by_id_cache")
        if cache is None:
            cache = {c.id: c for c in self.campaigns}
            object.__setattr__(self, "_by_id_cache", cache)
        return cache

    def tier_for(self, spend: int) -> int:
        """Index of the tier a lifetime qualifying spend earns (0 without tiers)."""
        idx = 0
        for i, t in enumerate(self.tiers):
            if spend >= t.min_spend:
                idx = i
        return idx

    def tier_name(self, idx: int) -> str | None:
        return self.tiers[idx].name if self.tiers else None

    def tier_rate(self, idx: int) -> int:
        return self.tiers[idx].rate_bps if self.tiers else self.rate_bps

    def restriction(self, category: str) -> tuple[bool, bool, bool]:
        """(accrual allowed, redemption allowed, discounts allowed) for a category."""
        acc = red = dis = True
        for r in self.restricted:
            if category_matches(category, (r.category,)):
                acc &= r.accrual
                red &= r.redemption
                dis &= r.discounts
        return acc, red, dis


class ProgramError(StreamprocError):
    """A program file that cannot run; `errors` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


# ---------------------------------------------------------------- loading


def load_program(path: str | Path) -> Program:
    """Read a YAML or JSON program file and validate it; raise ProgramError naming the file."""
    p = Path(path)
    try:
        doc = read_program_doc(p)
    except ProgramFileError as exc:
        raise ProgramError([str(exc)]) from None
    return program_from_dict(doc, source=str(p), version=content_version(p.read_bytes()))


def content_version(data: bytes) -> str:
    """`program_version`: the first 16 hex digits of the SHA-256 of the file's bytes."""
    return hashlib.sha256(data).hexdigest()[:16]


def program_from_dict(doc: Any, source: str = "<program>", version: str | None = None) -> Program:
    """A program from a parsed document; without a file, the version hashes its canonical
    JSON."""
    prog = _Loader(source).load(doc)
    if version is None:
        canon = json.dumps(doc, sort_keys=True, default=str, separators=(",", ":"))
        version = content_version(canon.encode())
    return dataclasses.replace(prog, version=version)


class _Loader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[str] = []

    # error helpers -------------------------------------------------------
    def err(self, where: str | None, fld: str, msg: str) -> None:
        scope = f"campaign '{where}'" if where else "program"
        fld = fld if len(fld) <= 80 else fld[:80] + "..."
        self.errors.append(f"{self.source}: {scope}: field '{fld}': {msg}")

    def keys(self, obj: dict, allowed: set[str], where: str | None, prefix: str) -> None:
        for k in obj:
            if k not in allowed:
                self.err(where, f"{prefix}{k}", "unknown field")

    def int_(
        self, obj: dict, key: str, where: str | None, prefix: str = "", *, lo: int = 0,
        hi: int | None = None, default: Any = ..., nullable: bool = False,
    ) -> Any:
        """An integer in lo..hi (hi: 2^53 - 1 unless given, what JSON consumers read exactly)."""
        hi = MAX_SAFE_INT if hi is None else hi
        if key not in obj or (obj[key] is None and not nullable):
            if default is ...:
                self.err(where, prefix + key, "missing")
                return None if nullable else lo
            return default
        v = obj[key]
        if v is None and nullable:
            return None
        if not isinstance(v, int) or isinstance(v, bool):
            self.err(where, prefix + key, f"must be an integer, got {quote(v)}")
            return lo
        if v < lo or v > hi:
            self.err(where, prefix + key, f"{quote(v)} is out of range ({lo}..{hi})")
            return lo
        return v

    def bool_(self, obj: dict, key: str, where: str | None, prefix: str, default: bool) -> bool:
        v = obj.get(key, default)
        if not isinstance(v, bool):
            self.err(where, prefix + key, f"must be true or false, got {quote(v)}")
            return default
        return v

    def dict_(self, obj: dict, key: str, where: str | None, prefix: str = "") -> dict | None:
        v = obj.get(key)
        if v is None:
            return None
        if not isinstance(v, dict):
            self.err(where, prefix + key, "must be a mapping")
            return None
        return v

    def strlist(self, obj: dict, key: str, where: str | None, prefix: str) -> list[str] | None:
        if key not in obj:
            return None
        v = obj[key]
        if not isinstance(v, list) or not v:
            self.err(where, prefix + key, "must be a non-empty list")
            return None
        if not all(isinstance(x, str) and x for x in v):
            self.err(where, prefix + key, "must hold non-empty strings")
            return None
        return v

    # program -------------------------------------------------------------
    def load(self, doc: Any) -> Program:
        if not isinstance(doc, dict) or not isinstance(doc.get("program"), dict):
            raise ProgramError([f"{self.source}: program: field 'program': missing mapping"])
        self.keys(doc, {"program", "campaigns"}, None, "")
        prog = doc["program"]
        self.keys(
            prog,
            {"id", "timezone", "accrual", "redemption", "tiers", "restricted",
             "max_line_discount_bps", "returns", "notify", "name"},
            None, "program.",
        )
        pid = prog.get("id")
        if not isinstance(pid, str) or not pid:
            self.err(None, "program.id", "missing")
            pid = ""
        tzname = prog.get("timezone", "UTC")
        try:
            tz = ZoneInfo(str(tzname))
        except (ZoneInfoNotFoundError, ValueError):
            self.err(None, "program.timezone", f"unknown timezone {quote(tzname)}")
            tz = ZoneInfo("UTC")
        accrual = self.dict_(prog, "accrual", None, "program.") or {}
        self.keys(accrual, {"rate_bps", "on_redeemed", "activation_days", "expiry_days"},
                  None, "program.accrual.")
        pa = "program.accrual."
        rate = self.int_(accrual, "rate_bps", None, pa, hi=10_000, default=0)
        on_redeemed = self.bool_(accrual, "on_redeemed", None, pa, False)
        act_days = self.int_(accrual, "activation_days", None, pa, hi=MAX_DAYS, default=0)
        exp_days = self.int_(accrual, "expiry_days", None, pa, lo=1, hi=MAX_DAYS, default=None,
                             nullable=True)
        red = self.dict_(prog, "redemption", None, "program.") or {}
        pr = "program.redemption."
        self.keys(red, {"max_share_bps", "min_payable"}, None, pr)
        max_share = self.int_(red, "max_share_bps", None, pr, hi=10_000, default=0)
        min_payable = self.int_(red, "min_payable", None, pr, default=0)
        tiers = self.load_tiers(prog)
        restricted = self.load_restricted(prog)
        mld = self.int_(prog, "max_line_discount_bps", None, "program.", hi=10_000, default=10_000)
        returns = self.dict_(prog, "returns", None, "program.") or {}
        self.keys(returns, {"window_days"}, None, "program.returns.")
        window = self.int_(returns, "window_days", None, "program.returns.", hi=MAX_DAYS,
                           default=30)
        notify = self.dict_(prog, "notify", None, "program.") or {}
        self.keys(notify, {"expiring_days_before"}, None, "program.notify.")
        notify_days = self.int_(notify, "expiring_days_before", None, "program.notify.",
                                lo=1, hi=MAX_DAYS, default=None, nullable=True)
        tier_names = {t.name for t in tiers}
        campaigns = self.load_campaigns(doc.get("campaigns"), tz, tier_names, act_days, exp_days)
        if self.errors:
            raise ProgramError(self.errors)
        campaigns.sort(key=lambda c: (-c.priority, c.id))
        return Program(
            id=pid, timezone=str(tzname), tz=tz, rate_bps=rate, on_redeemed=on_redeemed,
            activation_days=act_days, expiry_days=exp_days, max_share_bps=max_share,
            min_payable=min_payable, tiers=tuple(tiers), restricted=tuple(restricted),
            max_line_discount_bps=mld, return_window_days=window,
            expiring_days_before=notify_days, campaigns=tuple(campaigns), source=self.source,
        )

    def load_tiers(self, prog: dict) -> list[Tier]:
        if "tiers" not in prog:
            return []
        raw = prog["tiers"]
        if not isinstance(raw, list) or not raw:
            self.err(None, "program.tiers", "must be a non-empty list")
            return []
        tiers: list[Tier] = []
        for i, t in enumerate(raw):
            f = f"program.tiers[{i}]."
            if not isinstance(t, dict):
                self.err(None, f"program.tiers[{i}]", "must be a mapping")
                continue
            self.keys(t, {"name", "min_spend", "rate_bps"}, None, f)
            name = t.get("name")
            if not isinstance(name, str) or not name:
                self.err(None, f + "name", "missing")
                name = f"tier{i}"
            if any(x.name == name for x in tiers):
                self.err(None, f + "name", f"duplicate tier {quote(name)}")
            spend = self.int_(t, "min_spend", None, f)
            rate = self.int_(t, "rate_bps", None, f, hi=10_000)
            if i == 0 and spend != 0:
                self.err(None, f + "min_spend", "the first tier's min_spend must be 0")
            if tiers and spend <= tiers[-1].min_spend:
                self.err(None, f + "min_spend", "tiers must be in increasing min_spend order")
            tiers.append(Tier(name, spend, rate))
        return tiers

    def load_restricted(self, prog: dict) -> list[Restriction]:
        if "restricted" not in prog:
            return []
        raw = prog["restricted"]
        if not isinstance(raw, list) or not raw:
            self.err(None, "program.restricted", "must be a non-empty list")
            return []
        out = []
        for i, r in enumerate(raw):
            f = f"program.restricted[{i}]."
            if not isinstance(r, dict) or not isinstance(r.get("category"), str) \
                    or not r.get("category"):
                self.err(None, f + "category", "missing")
                continue
            self.keys(r, {"category", "accrual", "redemption", "discounts"}, None, f)
            out.append(Restriction(
                r["category"],
                self.bool_(r, "accrual", None, f, True),
                self.bool_(r, "redemption", None, f, True),
                self.bool_(r, "discounts", None, f, True),
            ))
        return out

    # campaigns -----------------------------------------------------------
    def load_campaigns(
        self, raw: Any, tz: ZoneInfo, tier_names: set[str], act_days: int, exp_days: int | None
    ) -> list[Campaign]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.errors.append(f"{self.source}: program: field 'campaigns': must be a list")
            return []
        out: list[Campaign] = []
        seen: set[str] = set()
        code_owner: dict[str, str] = {}
        for i, c in enumerate(raw):
            if not isinstance(c, dict):
                self.errors.append(f"{self.source}: campaigns[{i}]: must be a mapping")
                continue
            cid = c.get("id")
            if not isinstance(cid, str) or not ID_RE.match(cid):
                self.errors.append(f"{self.source}: campaigns[{i}]: field 'id': {quote(cid)} "
                                   "must match [a-z0-9_-]{1,64}")
                cid = f"campaigns[{i}]"
            elif cid in seen:
                self.err(cid, "id", "duplicate campaign id")
            seen.add(cid)
            camp = self.load_campaign(c, cid, tz, tier_names, act_days, exp_days)
            if camp is None:
                continue
            for code in camp.coupon_codes:
                if code in code_owner and code_owner[code] != cid:
                    self.err(cid, "coupon.codes",
                             f"code {quote(code)} already belongs to campaign '{code_owner[code]}'")
                code_owner.setdefault(code, cid)
            out.append(camp)
        return out

    def load_campaign(
        self, c: dict, cid: str, tz: ZoneInfo, tier_names: set[str], act_days: int,
        exp_days: int | None,
    ) -> Campaign | None:
        ctype = c.get("type")
        if ctype not in CAMPAIGN_TYPES:
            self.err(cid, "type", f"unknown campaign type {quote(ctype)} "
                     f"(one of: {', '.join(CAMPAIGN_TYPES)})")
            return None
        common = {"id", "type", "name", "priority", "exclusive", "active", "schedule", "stores",
                  "audience", "coupon", "limits", "holdout_bps"}
        if ctype in POINT_TYPES:
            common |= {"activation_days", "expiry_days"}
        specific = {
            "percent_off": {"target", "percent_bps"},
            "amount_off": {"target", "amount"},
            "fixed_price": {"target", "price"},
            "n_for_m": {"target", "buy", "pay"},
            "bundle": {"components", "percent_bps", "max_sets"},
            "threshold_discount": {"target", "min_amount", "percent_bps", "amount"},
            "bonus_points": {"target", "min_amount", "points"},
            "sku_points": {"target", "points_per_unit"},
            "points_multiplier": {"target", "multiplier_bps"},
            "next_purchase_offer": {"target", "min_amount", "offer"},
        }[ctype]
        self.keys(c, common | specific, cid, "")
        kw: dict[str, Any] = {"id": cid, "type": ctype}
        name = c.get("name", "")
        kw["name"] = name if isinstance(name, str) else str(name)
        kw["priority"] = self.int_(c, "priority", cid, lo=-MAX_SAFE_INT, default=0)
        kw["exclusive"] = self.bool_(c, "exclusive", cid, "", False)
        self.load_active(c, cid, tz, kw)
        self.load_schedule(c, cid, kw)
        stores = self.strlist(c, "stores", cid, "")
        kw["stores"] = frozenset(stores) if stores is not None else None
        kw["audience"] = self.load_audience(c, cid, tier_names, ctype)
        self.load_coupon(c, cid, kw)
        self.load_limits(c, cid, kw)
        kw["holdout_bps"] = self.int_(c, "holdout_bps", cid, hi=10_000, default=0)
        if ctype in POINT_TYPES:
            kw["activation_days"] = self.int_(c, "activation_days", cid, hi=MAX_DAYS,
                                              default=act_days)
            kw["expiry_days"] = (
                self.int_(c, "expiry_days", cid, lo=1, hi=MAX_DAYS, nullable=True, default=None)
                if "expiry_days" in c else exp_days
            )
        if "target" in specific:
            kw["target"] = self.load_target(c.get("target"), cid, "target")
        self.load_type_fields(c, cid, ctype, kw)
        return Campaign(**kw)

    def load_type_fields(self, c: dict, cid: str, ctype: str, kw: dict) -> None:
        if ctype == "percent_off":
            kw["percent_bps"] = self.int_(c, "percent_bps", cid, lo=1, hi=10_000)
        elif ctype == "amount_off":
            kw["amount"] = self.int_(c, "amount", cid, lo=1)
        elif ctype == "fixed_price":
            kw["price"] = self.int_(c, "price", cid)
        elif ctype == "n_for_m":
            buy = self.int_(c, "buy", cid, lo=1)
            pay = self.int_(c, "pay", cid)
            if "buy" in c and "pay" in c and pay >= buy:
                self.err(cid, "pay", f"pay ({pay}) must be less than buy ({buy})")
            kw["buy"], kw["pay"] = buy, pay
        elif ctype == "bundle":
            kw["percent_bps"] = self.int_(c, "percent_bps", cid, lo=1, hi=10_000)
            kw["max_sets"] = self.int_(c, "max_sets", cid, lo=1, nullable=True, default=None)
            comps = c.get("components")
            if not isinstance(comps, list) or not comps:
                self.err(cid, "components", "must be a non-empty list")
                comps = []
            out = []
            for i, comp in enumerate(comps):
                f = f"components[{i}]."
                if not isinstance(comp, dict):
                    self.err(cid, f"components[{i}]", "must be a mapping")
                    continue
                self.keys(comp, {"target", "qty"}, cid, f)
                if comp.get("target") is None:
                    self.err(cid, f + "target", "missing")
                tgt = self.load_target(comp.get("target"), cid, f + "target")
                out.append(Component(tgt, self.int_(comp, "qty", cid, f, lo=1)))
            kw["components"] = tuple(out)
        elif ctype == "threshold_discount":
            kw["min_amount"] = self.int_(c, "min_amount", cid)
            has_p, has_a = "percent_bps" in c, "amount" in c
            if has_p == has_a:
                self.err(cid, "percent_bps", "give exactly one of percent_bps or amount")
            elif has_p:
                kw["percent_bps"] = self.int_(c, "percent_bps", cid, lo=1, hi=10_000)
            else:
                kw["amount"] = self.int_(c, "amount", cid, lo=1)
        elif ctype == "bonus_points":
            kw["min_amount"] = self.int_(c, "min_amount", cid, default=0)
            kw["points"] = self.int_(c, "points", cid, lo=1)
        elif ctype == "sku_points":
            kw["points_per_unit"] = self.int_(c, "points_per_unit", cid, lo=1)
        elif ctype == "points_multiplier":
            kw["multiplier_bps"] = self.int_(c, "multiplier_bps", cid, lo=10_001, hi=100_000)
        elif ctype == "next_purchase_offer":
            kw["min_amount"] = self.int_(c, "min_amount", cid, default=0)
            kw["offer"] = self.load_offer(c, cid)

    def load_offer(self, c: dict, cid: str) -> OfferSpec | None:
        o = c.get("offer")
        if not isinstance(o, dict):
            self.err(cid, "offer", "missing mapping")
            return None
        f = "offer."
        self.keys(o, {"type", "target", "percent_bps", "multiplier_bps", "valid_days", "uses"},
                  cid, f)
        otype = o.get("type")
        if otype not in OFFER_TYPES:
            self.err(cid, f + "type", f"must be one of {', '.join(OFFER_TYPES)}")
            return None
        tgt = self.load_target(o.get("target"), cid, f + "target")
        pct = mult = 0
        if otype == "percent_off":
            pct = self.int_(o, "percent_bps", cid, f, lo=1, hi=10_000)
        else:
            mult = self.int_(o, "multiplier_bps", cid, f, lo=10_001, hi=100_000)
        valid = self.int_(o, "valid_days", cid, f, lo=1, hi=MAX_DAYS)
        uses = self.int_(o, "uses", cid, f, lo=1, nullable=True, default=None)
        return OfferSpec(otype, tgt, pct, mult, valid, uses)

    def load_target(self, t: Any, cid: str, fld: str) -> Target:
        if t is None:
            return ANY_LINE
        if not isinstance(t, dict):
            self.err(cid, fld, "must be a mapping")
            return ANY_LINE
        self.keys(t, {"skus", "categories", "exclude"}, cid, fld + ".")
        skus = self.strlist(t, "skus", cid, fld + ".")
        cats = self.strlist(t, "categories", cid, fld + ".")
        ex = t.get("exclude") or {}
        if not isinstance(ex, dict):
            self.err(cid, fld + ".exclude", "must be a mapping")
            ex = {}
        self.keys(ex, {"skus", "categories"}, cid, fld + ".exclude.")
        ex_skus = self.strlist(ex, "skus", cid, fld + ".exclude.") or []
        ex_cats = self.strlist(ex, "categories", cid, fld + ".exclude.") or []
        return Target(
            frozenset(skus) if skus is not None else None,
            tuple(cats) if cats is not None else None,
            frozenset(ex_skus),
            tuple(ex_cats),
        )

    def load_active(self, c: dict, cid: str, tz: ZoneInfo, kw: dict) -> None:
        a = self.dict_(c, "active", cid)
        if a is None:
            return
        self.keys(a, {"from", "until"}, cid, "active.")
        for key, name in (("from", "active_from_us"), ("until", "active_until_us")):
            if a.get(key) is None:
                continue
            try:
                kw[name] = parse_program_time(a[key], tz)
            except (ValueError, OverflowError):
                self.err(cid, f"active.{key}", f"not an ISO timestamp or date: {quote(a[key])}")
        if kw.get("active_from_us") is not None and kw.get("active_until_us") is not None \
                and kw["active_from_us"] >= kw["active_until_us"]:
            self.err(cid, "active.until", "must be later than active.from")

    def load_schedule(self, c: dict, cid: str, kw: dict) -> None:
        s = self.dict_(c, "schedule", cid)
        if s is None:
            return
        self.keys(s, {"days", "hours"}, cid, "schedule.")
        days = None
        if "days" in s:
            names = self.strlist(s, "days", cid, "schedule.") or []
            bad = [d for d in names if d not in DAY_NAMES]
            if bad:
                self.err(cid, "schedule.days", f"unknown day(s) {quote(bad)}; use mon..sun")
            days = frozenset(DAY_NAMES.index(d) for d in names if d in DAY_NAMES)
        start = end = None
        if "hours" in s:
            m = HOURS_RE.match(str(s["hours"]))
            if not m:
                self.err(cid, "schedule.hours", f"{quote(s['hours'])} is not HH:MM-HH:MM")
            else:
                start = int(m[1]) * 60 + int(m[2])
                end = int(m[3]) * 60 + int(m[4])
                if start == end:
                    self.err(cid, "schedule.hours", "hours start where they end")
        kw["schedule"] = Schedule(days, start, end)

    def load_audience(self, c: dict, cid: str, tier_names: set[str], ctype: str) -> Audience:
        a = self.dict_(c, "audience", cid)
        if a is None:
            return Audience(anonymous=ctype in DISCOUNT_TYPES)
        f = "audience."
        self.keys(a, {"tiers", "segments", "first_purchase", "birthday_window_days",
                      "anonymous"}, cid, f)
        tiers = self.strlist(a, "tiers", cid, f)
        if tiers is not None:
            for t in tiers:
                if t not in tier_names:
                    self.err(cid, "audience.tiers", f"unknown tier {quote(t)}")
        segs = self.strlist(a, "segments", cid, f)
        bw = self.int_(a, "birthday_window_days", cid, f, hi=MAX_DAYS, default=None,
                       nullable=True)
        anon = self.bool_(a, "anonymous", cid, f, ctype in DISCOUNT_TYPES)
        return Audience(
            frozenset(tiers) if tiers is not None else None,
            frozenset(segs) if segs is not None else None,
            self.bool_(a, "first_purchase", cid, f, False),
            bw,
            anon and ctype in DISCOUNT_TYPES,
        )

    def load_coupon(self, c: dict, cid: str, kw: dict) -> None:
        cp = self.dict_(c, "coupon", cid)
        if cp is None:
            return
        self.keys(cp, {"codes", "single_use"}, cid, "coupon.")
        codes = self.strlist(cp, "codes", cid, "coupon.")
        if codes is None and "codes" not in cp:
            self.err(cid, "coupon.codes", "missing")
        kw["coupon_codes"] = tuple(dict.fromkeys(codes or ()))
        kw["single_use"] = self.bool_(cp, "single_use", cid, "coupon.", False)

    def load_limits(self, c: dict, cid: str, kw: dict) -> None:
        lim = self.dict_(c, "limits", cid)
        if lim is None:
            return
        f = "limits."
        self.keys(lim, {"per_customer", "per_receipt", "budget"}, cid, f)
        kw["per_customer"] = self.int_(lim, "per_customer", cid, f, lo=1, default=None,
                                       nullable=True)
        kw["per_receipt"] = self.int_(lim, "per_receipt", cid, f, default=None, nullable=True)
        kw["budget"] = self.int_(lim, "budget", cid, f, default=None, nullable=True)
