"""A program in a marketer's words: each campaign's value ("15 % off dairy/cheese"), windows as
dates, money in major units; warnings that do not stop it; errors with their file line.

`streamproc check` prints these; the loader (`program.py`) stays the authority on what runs.
A marketer reads "15 %" and "1.5 %" apart far more reliably than `1500` and `150`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from streamproc.domain.program import Campaign, Program, Target
from streamproc.domain.program_schema import did_you_mean, path_tokens
from streamproc.domain.timeutil import DAY_NAMES, from_us

# ------------------------------------------------------------------ numbers in words


def money(units: int) -> str:
    """Minor units as major units with thousands separators: 150000 -> '1,500.00'."""
    sign = "-" if units < 0 else ""
    units = abs(units)
    return f"{sign}{units // 100:,}.{units % 100:02d}"


def _decimal(value: int, scale: int, digits: int) -> str:
    whole, frac = divmod(value, scale)
    return f"{whole}" + (f".{frac:0{digits}d}".rstrip("0") if frac else "")


def percent(bps: int) -> str:
    """Basis points as a percentage: 1500 -> '15 %', 150 -> '1.5 %'."""
    return _decimal(bps, 100, 2) + " %"


def multiplier(bps: int) -> str:
    """A multiplier in bps: 20000 -> 'x2', 15000 -> 'x1.5'."""
    return "x" + _decimal(bps, 10_000, 4)


def target_text(t: Target) -> str:
    parts = []
    if t.categories:
        parts.append(", ".join(t.categories))
    if t.skus:
        skus = sorted(t.skus)
        parts.append("SKU " + ", ".join(skus) if len(skus) <= 3 else f"{len(skus)} SKUs")
    text = " and ".join(parts) if parts else "everything"
    ex = list(t.exclude_categories) + sorted(t.exclude_skus)
    if ex:
        text += " except " + (", ".join(ex) if len(ex) <= 3 else f"{len(ex)} items")
    return text


def _on(t: Target) -> str:
    text = target_text(t)
    return "" if text == "everything" else f" on {text}"


def _counting(t: Target) -> str:
    text = target_text(t)
    return "" if text == "everything" else f" of {text}"


def campaign_value(c: Campaign) -> str:
    """What the campaign gives, in the words of a promotion leaflet."""
    t = c.type
    if t == "percent_off":
        return f"{percent(c.percent_bps)} off {target_text(c.target)}"
    if t == "amount_off":
        return f"{money(c.amount)} off each unit of {target_text(c.target)}"
    if t == "fixed_price":
        return f"{target_text(c.target)} at {money(c.price)} a unit"
    if t == "n_for_m":
        return f"{c.buy} for the price of {c.pay}: {target_text(c.target)}"
    if t == "bundle":
        sets = " + ".join(f"{k.qty} x {target_text(k.target)}" for k in c.components)
        cap = f", at most {c.max_sets} sets a receipt" if c.max_sets else ""
        return f"{percent(c.percent_bps)} off each set of {sets}{cap}"
    if t == "threshold_discount":
        off = money(c.amount) if c.amount else percent(c.percent_bps)
        return f"{off} off baskets from {money(c.min_amount)}{_counting(c.target)}"
    if t == "bonus_points":
        basket = f" on baskets from {money(c.min_amount)}{_counting(c.target)}" \
            if c.min_amount else _on(c.target)
        return f"{money(c.points)} points{basket}"
    if t == "sku_points":
        return f"{money(c.points_per_unit)} points a unit of {target_text(c.target)}"
    if t == "points_multiplier":
        return f"{multiplier(c.multiplier_bps)} points{_on(c.target)}"
    if t == "next_purchase_offer" and c.offer is not None:
        o = c.offer
        gift = f"{percent(o.percent_bps)} off {target_text(o.target)}" \
            if o.type == "percent_off" else f"{multiplier(o.multiplier_bps)} points{_on(o.target)}"
        uses = "unlimited uses" if o.uses is None else \
            f"{o.uses} use" + ("s" if o.uses > 1 else "")
        basket = f" from {money(c.min_amount)}" if c.min_amount else ""
        return (f"after a basket{_on(c.target)}{basket}: next purchases {gift}, "
                f"{o.valid_days} days, {uses}")
    return t


def window_text(c: Campaign, p: Program) -> str:
    """The active window as local dates ('2026-11-01 – 2026-11-30', both days included)."""
    if c.active_from_us is None and c.active_until_us is None:
        return ""
    start = _when(c.active_from_us, p, end=False) if c.active_from_us is not None else "…"
    end = _when(c.active_until_us, p, end=True) if c.active_until_us is not None else "…"
    return f"{start} – {end}"


def _when(us: int, p: Program, end: bool) -> str:
    dt = from_us(us, p.tz)
    if (dt.hour, dt.minute, dt.second, dt.microsecond) == (0, 0, 0, 0):
        return (dt.date() - timedelta(days=1) if end else dt.date()).isoformat()
    return dt.strftime("%Y-%m-%d %H:%M") + (" (excl.)" if end else "")


def conditions_text(c: Campaign, p: Program) -> str:
    out = []
    if c.schedule:
        s = c.schedule
        days = ", ".join(DAY_NAMES[d] for d in sorted(s.days)) if s.days else ""
        hours = "" if s.start_min is None or s.end_min is None else \
            f"{s.start_min // 60:02d}:{s.start_min % 60:02d}-{s.end_min // 60:02d}:" \
            f"{s.end_min % 60:02d}"
        out.append(" ".join(x for x in (days, hours) if x))
    if c.stores:
        st = sorted(c.stores)
        out.append("stores " + ", ".join(st) if len(st) <= 3 else f"{len(st)} stores")
    a = c.audience
    if a.tiers:
        out.append("tier " + "/".join(sorted(a.tiers)))
    if a.segments:
        out.append("segment " + "/".join(sorted(a.segments)))
    if a.first_purchase:
        out.append("first purchase")
    if a.birthday_window_days is not None:
        out.append(f"birthday ±{a.birthday_window_days} days")
    if not a.anonymous and c.type not in ("bonus_points", "sku_points", "points_multiplier",
                                          "next_purchase_offer"):
        out.append("card holders only")
    if c.coupon_codes:
        codes = list(c.coupon_codes)
        what = "code " + ", ".join(codes) if len(codes) <= 2 else f"{len(codes)} codes"
        out.append(what + (" (single use)" if c.single_use else ""))
    if c.per_customer is not None:
        out.append("once per customer" if c.per_customer == 1 else
                   f"{c.per_customer} receipts per customer")
    if c.per_receipt is not None:
        out.append(f"at most {money(c.per_receipt)} a receipt")
    if c.budget is not None:
        out.append(f"budget {money(c.budget)}")
    if c.holdout_bps:
        out.append(f"{percent(c.holdout_bps)} held out")
    if c.gives_points and (c.activation_days != p.activation_days
                           or c.expiry_days != p.expiry_days):
        exp = "never expire" if c.expiry_days is None else f"expire after {c.expiry_days} days"
        act = "active at once" if c.activation_days == 0 else \
            f"pending {c.activation_days} days"
        out.append(f"points {act}, {exp}")
    return "; ".join(out)


def program_text(p: Program) -> list[str]:
    """The program-wide rules in words."""
    if p.tiers:
        acc = ", ".join(f"{t.name} from {money(t.min_spend)} at {percent(t.rate_bps)}"
                        for t in p.tiers)
    else:
        acc = f"{percent(p.rate_bps)} of what is paid"
    exp = "never expire" if p.expiry_days is None else f"expire after {p.expiry_days} days"
    red = "points cannot be spent" if p.max_share_bps == 0 else \
        f"pay up to {percent(p.max_share_bps)} of a basket with points, always at least " \
        f"{money(p.min_payable)} in money"
    lines = [f"points: {acc}; pending {p.activation_days} days, then {exp}",
             f"redemption: {red}",
             f"a line loses at most {percent(p.max_line_discount_bps)} to discounts; returns "
             f"within {p.return_window_days} days"]
    for r in p.restricted:
        no = [w for w, ok in (("points", r.accrual), ("paying with points", r.redemption),
                              ("discounts", r.discounts)) if not ok]
        if no:
            lines.append(f"{r.category}: no {', no '.join(no)}")
    return lines


# ------------------------------------------------------------------ file lines


class Locator:
    """Finds the line of a field in the program file (YAML or JSON, both parse as YAML)."""

    def __init__(self, text: str) -> None:
        try:
            self.root: Any = yaml.compose(text)
        except yaml.YAMLError:
            self.root = None

    @staticmethod
    def _child(node: Any, key: str) -> tuple[Any, Any] | None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if getattr(k, "value", None) == key:
                    return k, v
        return None

    def campaign(self, cid: str | None, index: int | None, last: bool = False) -> Any:
        pair = self._child(self.root, "campaigns")
        if pair is None or not isinstance(pair[1], yaml.SequenceNode):
            return None
        items = pair[1].value
        if index is not None:
            return items[index] if index < len(items) else None
        hits = [n for n in items if (idn := self._child(n, "id")) and idn[1].value == cid]
        return (hits[-1] if last else hits[0]) if hits else None

    def line(self, start: Any, path: str) -> int | None:
        """1-based line of the deepest part of `path` found under `start`."""
        if start is None:
            return None
        node, line = start, start.start_mark.line + 1
        for tok in path_tokens(path):
            if isinstance(tok, int):
                if not isinstance(node, yaml.SequenceNode) or tok >= len(node.value):
                    break
                node = node.value[tok]
                line = node.start_mark.line + 1
                continue
            pair = self._child(node, tok)
            if pair is None:
                break
            line = pair[0].start_mark.line + 1
            node = pair[1]
        return line


_SCOPE = re.compile(r"^(?:campaign '(?P<cid>[^']*)'|(?P<prog>program)|campaigns\[(?P<idx>\d+)\])"
                    r": (?:field '(?P<fld>[^']*)': )?(?P<msg>.*)$", re.S)
_IDX = re.compile(r"^campaigns\[(\d+)\]$")


@dataclass
class Finding:
    """An error or warning, placed in the file."""

    file: str
    line: int | None
    campaign: str | None
    field: str | None
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        scope = f"campaign '{self.campaign}'" if self.campaign else "program"
        fld = f"field '{self.field}': " if self.field else ""
        hint = f" (did you mean '{self.hint}'?)" if self.hint else ""
        return f"{where}: {scope}: {fld}{self.message}{hint}"


def _campaign_types(doc: Any) -> dict[str, str | None]:
    camps = doc.get("campaigns") if isinstance(doc, dict) else None
    return {c["id"]: c.get("type") for c in camps or [] if isinstance(c, dict)
            and isinstance(c.get("id"), str)}


def place_errors(path: str | Path, errors: list[str]) -> list[Finding]:
    """The loader's errors with their line in the file and, for unknown fields, the closest
    valid name."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    loc = Locator(text)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    types = _campaign_types(doc)
    out = []
    for e in errors:
        body = e[len(source) + 2:] if e.startswith(source + ": ") else e
        m = _SCOPE.match(body)
        if m is None:  # a parse error: YAML names its own line
            ln = re.search(r"line (\d+)", body)
            out.append(Finding(source, int(ln[1]) if ln else None, None, None, body))
            continue
        cid, fld, msg = m["cid"], m["fld"], m["msg"]
        idx = int(m["idx"]) if m["idx"] is not None else None
        if cid is not None and (im := _IDX.match(cid)):
            idx, cid = int(im[1]), None
        hint = None
        if m["prog"]:
            line = loc.line(loc.root, fld or "")
            if msg == "unknown field" and fld:
                hint = did_you_mean(fld, None)
        else:
            node = loc.campaign(cid, idx, last="duplicate" in msg)
            line = loc.line(node, fld or "")
            if msg == "unknown field" and fld:
                ctype = types.get(cid or "") if cid else None
                if idx is not None and isinstance(doc, dict):
                    raw = (doc.get("campaigns") or [None] * (idx + 1))[idx]
                    ctype = raw.get("type") if isinstance(raw, dict) else None
                hint = did_you_mean(fld, ctype or "")
        out.append(Finding(source, line, cid or (f"campaigns[{idx}]" if idx is not None
                                                 else None), fld, msg, hint))
    return out


# ------------------------------------------------------------------ warnings


def program_warnings(p: Program, path: str | Path, now_us: int) -> list[Finding]:
    """What runs but probably is not what was meant; never a reason to refuse the file."""
    source = str(path)
    try:
        loc = Locator(Path(path).read_text(encoding="utf-8", errors="replace"))
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8", errors="replace"))
    except (OSError, yaml.YAMLError):
        loc, raw = Locator(""), None
    out: list[Finding] = []

    def warn(cid: str | None, fld: str, msg: str) -> None:
        node = loc.root if cid is None else loc.campaign(cid, None)
        out.append(Finding(source, loc.line(node, fld), cid, fld, msg))

    if p.max_share_bps == 0:
        warn(None, "program.redemption.max_share_bps",
             "is 0: redemption is disabled, points can never be spent")
    elif p.min_payable > 0 and p.min_payable >= 10_000_000:
        warn(None, "program.redemption.min_payable",
             f"is {money(p.min_payable)}: redemption is effectively disabled")
    for c in p.campaigns:
        if c.active_until_us is not None and c.active_until_us <= now_us:
            warn(c.id, "active.until", f"the window ended ({window_text(c, p)}): it never "
                 "applies to new receipts")
        elif c.active_from_us is not None and c.active_from_us > now_us:
            warn(c.id, "active.from", f"the window has not started ({window_text(c, p)})")
        if c.per_receipt == 0:
            warn(c.id, "limits.per_receipt", "is 0: the campaign can never give anything")
        if c.budget == 0:
            warn(c.id, "limits.budget", "is 0: the campaign can never give anything")
        if c.holdout_bps == 10_000:
            warn(c.id, "holdout_bps", "is 100 %: every customer is held out")
        codes = _raw_codes(raw, c.id)
        dups = sorted({x for x in codes if codes.count(x) > 1})
        if dups:
            warn(c.id, "coupon.codes", f"lists {', '.join(dups)} more than once")
        if c.coupon_codes and c.offer is not None:
            warn(c.id, "coupon.codes", "codes gate only the issuing receipt; the offer it "
                 "issues works on later receipts without them")
    return out


def _raw_codes(raw: Any, cid: str) -> list[str]:
    for c in (raw or {}).get("campaigns") or [] if isinstance(raw, dict) else []:
        if isinstance(c, dict) and c.get("id") == cid and isinstance(c.get("coupon"), dict):
            codes = c["coupon"].get("codes")
            return [x for x in codes if isinstance(x, str)] if isinstance(codes, list) else []
    return []
