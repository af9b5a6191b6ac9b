"""Event time: receipts carry ISO 8601 timestamps with offsets; we compute in integer microseconds.

Days, hours and birthdays are read in the program's timezone (spec section 1).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
_UTC = ZoneInfo("UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def to_us(dt: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch (exact, no floats)."""
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * US_PER_SECOND + delta.microseconds


def from_us(us: int, tz: ZoneInfo) -> datetime:
    """The instant as an aware datetime in `tz`: the UTC instant first, then its local
    reading (adding to a local time would keep the epoch's offset: an hour off in summer)."""
    return (_EPOCH + timedelta(microseconds=us)).astimezone(tz)


def parse_ts(text: str) -> int:
    """Parse an ISO 8601 timestamp that must carry an offset; raise ValueError otherwise."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("timestamp has no UTC offset")
    return to_us(dt)


def parse_ts_wall(text: str) -> tuple[int, int]:
    """`parse_ts`, plus the wall-clock time as written (its offset ignored) in the same units:
    a receipt's window is checked on both (spec section 7)."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("timestamp has no UTC offset")
    return to_us(dt), to_us(dt.replace(tzinfo=_UTC))


def parse_program_time(value: object, tz: ZoneInfo) -> int:
    """A program timestamp: with an offset as given; without one, or a bare date, in `tz`."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        dt = datetime.fromisoformat(text)
    else:
        raise ValueError("expected an ISO timestamp or date")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return to_us(dt)


# instants every timezone can format: datetime's range less a day at each end
FORMAT_MIN_US = to_us(datetime(1, 1, 2, tzinfo=_UTC))
FORMAT_MAX_US = to_us(datetime(9999, 12, 30, tzinfo=_UTC))


US_PER_HOUR = 3_600 * US_PER_SECOND
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# per zone: {UTC hour since the epoch -> (the zone's offset in that hour in µs, its "+HH:MM"
# text), or None when the offset changes within that hour or is not whole minutes}
_HOURS: dict[ZoneInfo, dict[int, tuple[int, str] | None]] = {}
_DAYS: dict[int, str] = {}  # days since the epoch -> "YYYY-MM-DD"
_CACHE_MAX = 1 << 16
_HHMM = [f"{m // 60:02d}:{m % 60:02d}:" for m in range(1440)]
_SS = [f"{sec:02d}" for sec in range(60)]


def _hour_offset(utc_hour: int, tz: ZoneInfo) -> tuple[int, str] | None:
    start = from_us(utc_hour * US_PER_HOUR, tz)
    off = start.utcoffset()
    end = from_us(utc_hour * US_PER_HOUR + US_PER_HOUR - 1, tz)
    if off is None or off != end.utcoffset() or off.seconds % 60 or off.microseconds:
        return None
    return (off.days * 86_400 + off.seconds) * US_PER_SECOND, start.isoformat()[-6:]


def format_us(us: int, tz: ZoneInfo) -> str:
    """ISO text of an instant in `tz`; instants past what a datetime holds are clamped to its
    ends (a stored date from an older, unbounded program must not stop the timers).

    Every timer event formats one or two instants, so this writes out what
    `from_us(us, tz).isoformat()` gives (the same text, tested against it) from the zone's
    offset cached per UTC hour and dates cached per day."""
    us = min(max(us, FORMAT_MIN_US), FORMAT_MAX_US)
    hours = _HOURS.get(tz)
    if hours is None:
        hours = _HOURS[tz] = {}
    hour = us // US_PER_HOUR
    if hour in hours:
        got = hours[hour]
    else:
        if len(hours) >= _CACHE_MAX:
            hours.clear()
        got = hours[hour] = _hour_offset(hour, tz)
    if got is None:
        return from_us(us, tz).isoformat()
    offset, label = got
    days, rest = divmod(us + offset, US_PER_DAY)
    day = _DAYS.get(days)
    if day is None:
        if len(_DAYS) >= _CACHE_MAX:
            _DAYS.clear()
        day = _DAYS[days] = date.fromordinal(_EPOCH_ORDINAL + days).isoformat()
    secs, micro = divmod(rest, US_PER_SECOND)
    minutes, sec = divmod(secs, 60)
    if micro:
        return f"{day}T{_HHMM[minutes]}{_SS[sec]}.{micro:06d}{label}"
    return f"{day}T{_HHMM[minutes]}{_SS[sec]}{label}"


class LocalClock:
    """Reads receipt instants in the program's timezone, with a small cache per local day."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz

    def local(self, us: int) -> tuple[int, int, date]:
        """(weekday 0=Mon, minute of day, local date) of an instant."""
        dt = from_us(us, self.tz)
        return dt.weekday(), dt.hour * 60 + dt.minute, dt.date()


def birthday_distance_ok(day: date, birth_month: int, birth_day: int, window: int) -> bool:
    """Is `day` within `window` days of the birthday, either side, across year ends?

    29 February counts as 28 February in years that have none.
    """
    for year in (day.year - 1, day.year, day.year + 1):
        m, d = birth_month, birth_day
        if m == 2 and d == 29 and not _is_leap(year):
            d = 28
        if abs((date(year, m, d) - day).days) <= window:
            return True
    return False


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
