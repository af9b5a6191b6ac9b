"""`from_us` reads an instant in a zone (the same instant, the zone's offset at that instant);
`format_us` writes out `from_us(us, tz).isoformat()` from cached hours and dates: it must give
the very same text, across offsets that are not whole hours, DST changes and the clamped ends;
so must its compiled twin (`_fastcalc.format_us`, what the compiled timers write)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from streamproc._fastcalc import format_us as compiled_format_us
from streamproc.domain import timeutil as T

ZONES = ["UTC", "Europe/Berlin", "America/St_Johns", "Australia/Lord_Howe", "Asia/Kolkata",
         "Asia/Kathmandu", "Africa/Monrovia", "America/New_York", "Pacific/Chatham",
         "Europe/Dublin", "Europe/Amsterdam"]


def slow(us: int, tz: ZoneInfo) -> str:
    return T.from_us(min(max(us, T.FORMAT_MIN_US), T.FORMAT_MAX_US), tz).isoformat()


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(ZONES),
       st.one_of(st.integers(T.FORMAT_MIN_US - 10**15, T.FORMAT_MAX_US + 10**15),
                 st.integers(-3 * 10**15, 3 * 10**15),
                 st.integers(0, 2 * 10**15).map(lambda u: u - u % 1_000_000)))
def test_format_us_is_isoformat(zone: str, us: int) -> None:
    tz = ZoneInfo(zone)
    assert T.format_us(us, tz) == slow(us, tz)
    # the compiled timers' twin, on a cold and on a warm cache
    assert compiled_format_us(us, tz) == slow(us, tz)
    assert compiled_format_us(us, tz) == slow(us, tz)


def test_format_us_around_dst_changes() -> None:
    for zone in ZONES:
        tz = ZoneInfo(zone)
        for year in (1916, 1970, 2026):
            start = T.parse_ts(f"{year}-01-01T00:00:00+00:00")
            for minute in range(0, 366 * 24 * 60, 23):  # every 23 minutes of the year
                us = start + minute * 60_000_000 + (minute % 3) * 500_000
                assert T.format_us(us, tz) == slow(us, tz), (zone, us)
                assert compiled_format_us(us, tz) == slow(us, tz), (zone, us)


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(ZONES), st.integers(T.FORMAT_MIN_US, T.FORMAT_MAX_US))
def test_from_us_is_the_same_instant(zone: str, us: int) -> None:
    dt = T.from_us(us, ZoneInfo(zone))
    assert T.to_us(dt) == us
    assert dt.utcoffset() == ZoneInfo(zone).utcoffset(dt.replace(tzinfo=None))


def test_summer_time_is_read_with_the_summer_offset() -> None:
    """The epoch's offset must not stick: Berlin was +01:00 in 1970, +02:00 in July 2026."""
    us = T.parse_ts("2026-07-01T12:00:00+00:00")
    assert T.from_us(us, ZoneInfo("Europe/Berlin")).isoformat() == "2026-07-01T14:00:00+02:00"
    assert T.format_us(us, ZoneInfo("Europe/Berlin")) == "2026-07-01T14:00:00+02:00"
    assert T.format_us(us, ZoneInfo("America/New_York")) == "2026-07-01T08:00:00-04:00"
    assert T.LocalClock(ZoneInfo("Europe/Berlin")).local(us)[1] == 14 * 60


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(ZONES),
       st.one_of(st.integers(T.FORMAT_MIN_US, T.FORMAT_MAX_US),
                 st.integers(-3 * 10**15, 3 * 10**15)))
def test_compiled_engine_reads_local_time_as_local_clock(zone: str, us: int) -> None:
    """`FastEngine.local_time` (cached per minute, the zone's offset per hour from the cache
    `format_us` shares) against `LocalClock.local`, twice: a cold and a warm cache."""
    from streamproc._fastcalc import FastEngine
    from streamproc.domain.program import program_from_dict

    eng = FastEngine(program_from_dict({"program": {
        "id": "t", "timezone": zone, "accrual": {"rate_bps": 0, "activation_days": 0},
        "redemption": {"max_share_bps": 10000, "min_payable": 0},
        "returns": {"window_days": 30}}, "campaigns": []}))
    want = T.LocalClock(ZoneInfo(zone)).local(us)
    assert eng.local_time(us) == want
    assert eng.local_time(us) == want


def test_compiled_engine_local_time_around_dst_changes() -> None:
    from streamproc._fastcalc import FastEngine
    from streamproc.domain.program import program_from_dict

    for zone in ZONES:
        eng = FastEngine(program_from_dict({"program": {
            "id": "t", "timezone": zone, "accrual": {"rate_bps": 0, "activation_days": 0},
            "redemption": {"max_share_bps": 10000, "min_payable": 0},
            "returns": {"window_days": 30}}, "campaigns": []}))
        clock = T.LocalClock(ZoneInfo(zone))
        start = T.parse_ts("2026-01-01T00:00:00+00:00")
        for minute in range(0, 366 * 24 * 60, 29):
            us = start + minute * 60_000_000 + (minute % 5) * 7_000_000
            assert eng.local_time(us) == clock.local(us), (zone, us)
