"""Open-time arithmetic on named calendars: 24x7, business days, business hours.

A calendar is a weekly schedule of open intervals in the account's local wall time, optionally
closed on the public holidays of the account's country and on extra dates. A duration on a calendar
counts only open time, measured as real elapsed time (a stopwatch that runs only while the calendar
is open), so deadlines are exact instants that stay right across DST changes: the open intervals of
each local day are turned into UTC instants through the account's zone, and all arithmetic is UTC.

Pure: no clock, no I/O (the ``holidays`` package computes its dates in memory).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from itertools import pairwise
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from sevtriage.errors import SlaError

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MINUTES_PER_DAY = 24 * 60
# A deadline further away than this means a calendar with (almost) no open time: fail, don't spin.
MAX_DAYS_WALKED = 3 * 366
_SPAN_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)

Span = tuple[int, int]
"""An open interval of one local day, in minutes since local midnight: [start, end), end <= 1440."""


def parse_span(text: str) -> Span:
    """``"09:00-18:00"`` -> ``(540, 1080)``; ``"00:00-24:00"`` is the whole day."""
    match = _SPAN_RE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not an interval like '09:00-18:00'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 >= 60 or m2 >= 60 or start >= MINUTES_PER_DAY or end > MINUTES_PER_DAY:
        raise ValueError(f"{text!r} has an invalid time (use 00:00 to 24:00)")
    if end <= start:
        raise ValueError(f"{text!r} must end after it starts (use 24:00 for midnight)")
    return (start, end)


def _to_span(value: object) -> object:
    return parse_span(value) if isinstance(value, str) else value


SpanField = Annotated[tuple[int, int], BeforeValidator(_to_span)]


class CalendarSpec(BaseModel):
    """One calendar in ``rules/sla/calendars.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    description: str = ""
    open: dict[Weekday, list[SpanField]] = Field(min_length=1)
    public_holidays: bool = False
    closed_dates: list[date] = Field(default_factory=list)
    closed_dates_by_country: dict[str, list[date]] = Field(default_factory=dict)


@dataclass(frozen=True)
class Calendar:
    """A named calendar, ready for arithmetic. Hashable, so per-day results can be cached."""

    name: str
    weekly: tuple[tuple[Span, ...], ...]
    """Seven entries, Monday first: the day's open spans, sorted and disjoint."""
    public_holidays: bool = False
    closed_dates: frozenset[date] = frozenset()
    closed_by_country: tuple[tuple[str, frozenset[date]], ...] = ()
    always_open: bool = field(init=False, repr=False, compare=False)
    """Open every minute of every day: deadlines are plain sums."""
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Computed once: every deadline looks the calendar up in ``open_intervals``'s cache,
        # and the generated ``__hash__`` rehashed all seven days' spans each time.
        object.__setattr__(self, "_hash", hash(self._fields()))
        object.__setattr__(self, "always_open", _always_open(self))

    def _fields(self) -> tuple[object, ...]:
        return (
            self.name,
            self.weekly,
            self.public_holidays,
            self.closed_dates,
            self.closed_by_country,
        )

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuilt through __init__ elsewhere: string hashes differ from process to process.
        return (Calendar, self._fields())

    @property
    def needs_country(self) -> bool:
        return self.public_holidays or bool(self.closed_by_country)

    @classmethod
    def from_spec(cls, name: str, spec: CalendarSpec) -> Calendar:
        """Build from a validated spec; raises ``ValueError`` for overlapping spans."""
        weekly: list[tuple[Span, ...]] = []
        for day in WEEKDAYS:
            spans = sorted(spec.open.get(day, []))  # type: ignore[call-overload]
            for (_, end), (start, _) in pairwise(spans):
                if start < end:
                    raise ValueError(f"open.{day}: intervals overlap")
            weekly.append(tuple(spans))
        if not any(weekly):
            raise ValueError("open: the calendar is never open")
        by_country = tuple(
            sorted((c.upper(), frozenset(ds)) for c, ds in spec.closed_dates_by_country.items())
        )
        return cls(
            name, tuple(weekly), spec.public_holidays, frozenset(spec.closed_dates), by_country
        )


def _always_open(cal: Calendar) -> bool:
    whole = ((0, MINUTES_PER_DAY),)
    return (
        all(day == whole for day in cal.weekly) and not cal.needs_country and not cal.closed_dates
    )


@dataclass(frozen=True)
class Place:
    """Where an account is: its time zone and (for holidays) its ISO 3166 country code."""

    zone: ZoneInfo
    country: str | None = None


@cache
def supported_countries() -> frozenset[str]:
    """The country codes ``holidays`` has calendars for (alpha-2 and alpha-3), read from its
    registry: ``list_supported_countries`` imports every country's module to list them (some
    280 modules, ~150 ms and ~8 MB per process). Tested equal to it; if the registry is not
    in the form expected, ``list_supported_countries`` answers."""
    try:
        from holidays import registry

        codes = frozenset(
            code
            for entry in registry.COUNTRIES.values()
            for code in entry[1:]
            if len(code) in (2, 3) and code.isalpha() and code.isupper()
        )
    except (ImportError, AttributeError, TypeError, IndexError):
        codes = frozenset()
    return codes or frozenset(holidays.list_supported_countries())


@lru_cache(maxsize=256)
def zone_named(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises ``SlaError`` naming the field when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SlaError(f"timezone: unknown time zone {name!r} (use an IANA name)") from exc


def place(timezone: str, country: str | None) -> Place:
    """Validate a zone name and country code into a ``Place``."""
    zone = zone_named(timezone)
    if country is None or country == "":
        return Place(zone, None)
    code = country.upper()
    if code not in supported_countries():
        raise SlaError(f"country: unknown country code {country!r} (use ISO 3166 alpha-2)")
    return Place(zone, code)


@lru_cache(maxsize=2048)
def holiday_dates(country: str, year: int) -> frozenset[date]:
    """National public holidays (with observed days) of ``country`` in ``year``."""
    return frozenset(holidays.country_holidays(country, years=year).keys())


def is_closed_day(cal: Calendar, where: Place, day: date) -> bool:
    """True when the calendar is closed for the whole of ``day`` (holiday or closed date)."""
    if day in cal.closed_dates:
        return True
    if not cal.needs_country:
        return False
    if where.country is None:
        raise SlaError(f"country: calendar {cal.name!r} needs the account's country for holidays")
    if cal.public_holidays and day in holiday_dates(where.country, day.year):
        return True
    return any(day in dates for code, dates in cal.closed_by_country if code == where.country)


def _local_instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    if minute >= MINUTES_PER_DAY:
        day, minute = day + _ONE_DAY, minute - MINUTES_PER_DAY
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    return local.astimezone(UTC)


@lru_cache(maxsize=131072)
def open_intervals(cal: Calendar, where: Place, day: date) -> tuple[tuple[datetime, datetime], ...]:
    """The open intervals of local ``day`` as UTC instants [start, end)."""
    spans = cal.weekly[day.weekday()]
    if not spans or is_closed_day(cal, where, day):
        return ()
    out = []
    for start, end in spans:
        a, b = _local_instant(day, start, where.zone), _local_instant(day, end, where.zone)
        if b > a:  # a span entirely inside a DST gap has no real time
            out.append((a, b))
    return tuple(out)


def _utc(instant: datetime, name: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise SlaError(f"{name}: {instant.isoformat()} has no UTC offset; use an aware datetime")
    return instant.astimezone(UTC)


def add_open_time(cal: Calendar, where: Place, start: datetime, duration: timedelta) -> datetime:
    """The earliest instant at which ``duration`` of open time has passed since ``start``.

    The result is in the account's zone. It is open time or exactly the end of an open interval
    (a deadline "at closing"), never strictly inside closed time.
    """
    return add_open_time_utc(cal, where, _utc(start, "start"), duration).astimezone(where.zone)


def add_open_time_utc(
    cal: Calendar, where: Place, start: datetime, duration: timedelta
) -> datetime:
    """``add_open_time`` on a UTC ``start``, returning UTC (the hot path: no conversions)."""
    if duration <= _ZERO:
        return start
    if cal.always_open:
        return start + duration
    remaining = duration
    day = start.astimezone(where.zone).date()
    for _ in range(MAX_DAYS_WALKED):
        for a, b in open_intervals(cal, where, day):
            if b <= start:
                continue
            if a < start:
                a = start
            span = b - a
            if remaining <= span:
                return a + remaining
            remaining -= span
        day += _ONE_DAY
    raise SlaError(f"calendar {cal.name!r} has too little open time to fit {duration}")


def open_time_between(cal: Calendar, where: Place, start: datetime, end: datetime) -> timedelta:
    """How much open time lies in [start, end) (zero when end <= start)."""
    start, end = _utc(start, "start"), _utc(end, "end")
    if end <= start:
        return _ZERO
    if cal.always_open:
        return end - start
    total = _ZERO
    day = start.astimezone(where.zone).date()
    last = end.astimezone(where.zone).date()
    while day <= last:
        for a, b in open_intervals(cal, where, day):
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                total += hi - lo
        day += _ONE_DAY
    return total


def is_open(cal: Calendar, where: Place, instant: datetime) -> bool:
    """Whether the calendar is open at ``instant`` (intervals are half-open [start, end))."""
    moment = _utc(instant, "instant")
    day = moment.astimezone(where.zone).date()
    return any(a <= moment < b for a, b in open_intervals(cal, where, day))
