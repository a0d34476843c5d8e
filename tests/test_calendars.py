"""Open-time arithmetic: business days with holidays, business hours, DST, and its properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.calendars import (
    Calendar,
    CalendarSpec,
    Place,
    add_open_time,
    holiday_dates,
    is_open,
    open_time_between,
    parse_span,
    place,
)
from sevtriage.errors import SlaError

WHOLE_DAY = ("00:00-24:00",)


def calendar(name: str, days: dict[str, list[str]], **extra: object) -> Calendar:
    return Calendar.from_spec(name, CalendarSpec.model_validate({"open": days, **extra}))


WEEKDAYS5 = ("mon", "tue", "wed", "thu", "fri")
ALWAYS = calendar("24x7", {d: ["00:00-24:00"] for d in (*WEEKDAYS5, "sat", "sun")})
BUSINESS_DAYS = calendar(
    "business_days", {d: ["00:00-24:00"] for d in WEEKDAYS5}, public_holidays=True
)
BUSINESS_HOURS = calendar(
    "business_hours", {d: ["09:00-18:00"] for d in WEEKDAYS5}, public_holidays=True
)
MEXICO = place("America/Mexico_City", "MX")
MADRID = place("Europe/Madrid", "ES")
SANTIAGO = place("America/Santiago", "CL")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_mx_revolution_day_2026_is_observed_on_monday_16_november() -> None:
    assert date(2026, 11, 16) in holiday_dates("MX", 2026)
    assert "Revolution" in holidays.country_holidays("MX", years=2026)[date(2026, 11, 16)]


@pytest.mark.parametrize(
    ("created", "hours", "due"),
    [
        # Friday 15:00, Monday is a holiday: 9 h on Friday + 15 h on Tuesday.
        ("2026-11-13T15:00:00-06:00", 24, "2026-11-17T15:00:00-06:00"),
        ("2026-11-13T15:00:00-06:00", 48, "2026-11-18T15:00:00-06:00"),
        # Saturday: the clock starts Monday 00:00 and one business day ends at Tuesday 00:00.
        ("2026-11-21T10:00:00-06:00", 24, "2026-11-24T00:00:00-06:00"),
    ],
)
def test_business_days_in_mexico_skip_weekend_and_holiday(
    created: str, hours: int, due: str
) -> None:
    result = add_open_time(BUSINESS_DAYS, MEXICO, at(created), timedelta(hours=hours))
    assert result.isoformat() == due


def test_always_open_calendar_adds_real_time() -> None:
    due = add_open_time(ALWAYS, MEXICO, at("2026-11-21T10:00:00-06:00"), timedelta(hours=4))
    assert due.isoformat() == "2026-11-21T14:00:00-06:00"


@pytest.mark.parametrize("country", ["MX", "ES", "US"])
def test_every_public_holiday_of_2026_is_closed_on_business_days(country: str) -> None:
    where = place("UTC", country)
    days = holidays.country_holidays(country, years=2026)
    assert len(days) >= 7
    for day in days:
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        assert not is_open(BUSINESS_DAYS, where, noon), f"{country} {day} {days[day]}"
        assert not is_open(BUSINESS_HOURS, where, noon), f"{country} {day} {days[day]}"


def test_an_ordinary_weekday_is_open_and_weekend_is_closed() -> None:
    assert is_open(BUSINESS_DAYS, MEXICO, at("2026-11-18T03:00:00-06:00"))
    assert not is_open(BUSINESS_DAYS, MEXICO, at("2026-11-21T12:00:00-06:00"))
    assert is_open(ALWAYS, MEXICO, at("2026-11-21T12:00:00-06:00"))


def test_extra_closed_dates_global_and_per_country_are_closed() -> None:
    cal = calendar(
        "custom",
        {d: ["00:00-24:00"] for d in WEEKDAYS5},
        closed_dates=[date(2026, 12, 24)],
        closed_dates_by_country={"es": [date(2026, 12, 31)]},
    )
    madrid, mexico = place("Europe/Madrid", "ES"), place("America/Mexico_City", "MX")
    assert not is_open(cal, madrid, at("2026-12-24T12:00:00+01:00"))
    assert not is_open(cal, mexico, at("2026-12-24T12:00:00-06:00"))
    assert not is_open(cal, madrid, at("2026-12-31T12:00:00+01:00"))
    assert is_open(cal, mexico, at("2026-12-31T12:00:00-06:00"))


def test_calendar_with_holidays_needs_the_country() -> None:
    with pytest.raises(SlaError, match="country"):
        add_open_time(BUSINESS_DAYS, place("America/Mexico_City", None), at("2026-11-13T15:00:00-06:00"), timedelta(hours=1))  # fmt: skip


def test_unknown_zone_and_country_are_rejected_naming_the_field() -> None:
    with pytest.raises(SlaError, match=r"^timezone: .*Mars/Base"):
        place("Mars/Base", None)
    with pytest.raises(SlaError, match=r"^country: .*'XX'"):
        place("UTC", "XX")


def test_naive_start_is_rejected() -> None:
    with pytest.raises(SlaError, match="no UTC offset"):
        add_open_time(ALWAYS, MEXICO, datetime(2026, 1, 1), timedelta(hours=1))


def test_business_hours_skip_nights_and_weekend() -> None:
    due = add_open_time(BUSINESS_HOURS, MEXICO, at("2026-11-12T16:00:00-06:00"), timedelta(hours=8))
    # Thursday 16-18 (2 h), Friday 09-15 (6 h).
    assert due.isoformat() == "2026-11-13T15:00:00-06:00"
    closing = add_open_time(
        BUSINESS_HOURS, MEXICO, at("2026-11-12T09:00:00-06:00"), timedelta(hours=9)
    )
    assert closing.isoformat() == "2026-11-12T18:00:00-06:00"  # due at closing, not next morning


@pytest.mark.parametrize(
    ("created", "due"),
    [
        # Madrid springs forward Sunday 2026-03-29: Friday 14:00 + 8 business hours.
        ("2026-03-27T14:00:00+01:00", "2026-03-30T13:00:00+02:00"),
        # ... and falls back Sunday 2026-10-25.
        ("2026-10-23T14:00:00+02:00", "2026-10-26T13:00:00+01:00"),
    ],
)
def test_business_hours_keep_local_opening_hours_across_madrid_dst(created: str, due: str) -> None:
    assert add_open_time(BUSINESS_HOURS, MADRID, at(created), timedelta(hours=8)).isoformat() == due


@pytest.mark.parametrize(
    ("where", "created", "due"),
    [
        (MADRID, "2026-03-27T15:00:00+01:00", "2026-03-31T15:00:00+02:00"),
        (MADRID, "2026-10-23T15:00:00+02:00", "2026-10-27T15:00:00+01:00"),
        # Santiago falls back at the end of Saturday 2026-04-04 (Good Friday 04-03 is a holiday).
        (SANTIAGO, "2026-04-02T15:00:00-03:00", "2026-04-07T15:00:00-04:00"),
        # ... and springs forward at the start of Sunday 2026-09-06.
        (SANTIAGO, "2026-09-04T15:00:00-04:00", "2026-09-08T15:00:00-03:00"),
    ],
)
def test_two_business_days_end_at_the_same_local_time_across_dst(
    where: Place, created: str, due: str
) -> None:
    result = add_open_time(BUSINESS_DAYS, where, at(created), timedelta(days=2))
    assert result.isoformat() == due
    assert open_time_between(BUSINESS_DAYS, where, at(created), result) == timedelta(days=2)


@pytest.mark.parametrize(
    ("where", "created", "due"),
    [
        (MADRID, "2026-03-29T00:30:00+01:00", "2026-03-29T05:30:00+02:00"),
        (MADRID, "2026-10-25T00:30:00+02:00", "2026-10-25T03:30:00+01:00"),
        (SANTIAGO, "2026-09-05T22:00:00-04:00", "2026-09-06T03:00:00-03:00"),
        (SANTIAGO, "2026-04-04T22:00:00-03:00", "2026-04-05T01:00:00-04:00"),
    ],
)
def test_24x7_counts_real_hours_across_dst(where: Place, created: str, due: str) -> None:
    assert add_open_time(ALWAYS, where, at(created), timedelta(hours=4)).isoformat() == due


def test_business_hours_lose_the_skipped_hour_when_santiago_springs_forward() -> None:
    cal = calendar("night", {"sat": ["22:00-24:00"], "sun": ["00:00-02:00"]})
    start, end = at("2026-09-05T00:00:00-04:00"), at("2026-09-07T00:00:00-03:00")
    # Saturday 22-24 (2 h) + Sunday 00:00-02:00 of which 00:00-01:00 does not exist (1 h).
    assert open_time_between(cal, SANTIAGO, start, end) == timedelta(hours=3)


def test_business_hours_gain_the_repeated_hour_when_santiago_falls_back() -> None:
    cal = calendar("night", {"sat": ["22:00-24:00"]})
    start, end = at("2026-04-04T00:00:00-03:00"), at("2026-04-06T00:00:00-04:00")
    # Saturday 22:00-24:00 lasts 3 real hours: 23:00-24:00 is lived twice.
    assert open_time_between(cal, SANTIAGO, start, end) == timedelta(hours=3)


@pytest.mark.parametrize(
    ("text", "span"), [("09:00-18:00", (540, 1080)), ("00:00-24:00", (0, 1440))]
)
def test_span_parses_local_hours(text: str, span: tuple[int, int]) -> None:
    assert parse_span(text) == span


@pytest.mark.parametrize("text", ["18:00-09:00", "9-18", "00:00-24:30", "10:61-11:00"])
def test_bad_span_is_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_span(text)


def test_calendar_never_open_or_overlapping_is_rejected() -> None:
    with pytest.raises(ValueError, match="never open"):
        calendar("x", {"mon": []})
    with pytest.raises(ValueError, match="overlap"):
        calendar("x", {"mon": ["09:00-12:00", "11:00-13:00"]})


# --- properties -------------------------------------------------------------------------------

PLACES = [
    MEXICO,
    MADRID,
    SANTIAGO,
    place("America/New_York", "US"),
    place("Australia/Lord_Howe", "AU"),
    place("Asia/Kolkata", "IN"),
]
OTHER_ZONES = ["UTC", "Pacific/Kiritimati", "America/St_Johns", "Asia/Kathmandu", "Europe/Madrid"]
calendars = st.sampled_from([ALWAYS, BUSINESS_DAYS, BUSINESS_HOURS])
places = st.sampled_from(PLACES)
starts = st.datetimes(
    min_value=datetime(2025, 12, 1), max_value=datetime(2027, 2, 1), timezones=st.just(UTC)
)
durations = st.integers(min_value=1, max_value=6 * 24 * 60).map(lambda m: timedelta(minutes=m))
PROPERTY = settings(max_examples=60, deadline=None)


@PROPERTY
@given(calendars, places, starts, durations)
def test_deadline_is_never_before_creation(
    cal: Calendar, where: Place, start: datetime, duration: timedelta
) -> None:
    assert add_open_time(cal, where, start, duration) > start


@PROPERTY
@given(calendars, places, starts, durations, durations)
def test_deadline_is_monotone_in_the_duration(
    cal: Calendar, where: Place, start: datetime, d1: timedelta, d2: timedelta
) -> None:
    short, long = sorted((d1, d2))
    assert add_open_time(cal, where, start, short) <= add_open_time(cal, where, start, long)


@PROPERTY
@given(calendars, places, starts, starts, durations)
def test_later_creation_never_gives_an_earlier_deadline(
    cal: Calendar, where: Place, s1: datetime, s2: datetime, duration: timedelta
) -> None:
    early, late = sorted((s1, s2))
    assert add_open_time(cal, where, early, duration) <= add_open_time(cal, where, late, duration)


@PROPERTY
@given(calendars, places, starts, durations)
def test_deadline_lies_in_open_time_or_exactly_at_a_boundary(
    cal: Calendar, where: Place, start: datetime, duration: timedelta
) -> None:
    due = add_open_time(cal, where, start, duration)
    just_before = due - timedelta(microseconds=1)
    assert is_open(cal, where, due) or is_open(cal, where, just_before)


@PROPERTY
@given(calendars, places, starts, durations)
def test_open_time_from_creation_to_deadline_is_the_duration(
    cal: Calendar, where: Place, start: datetime, duration: timedelta
) -> None:
    due = add_open_time(cal, where, start, duration)
    assert open_time_between(cal, where, start, due) == duration


@PROPERTY
@given(calendars, places, starts, durations, st.sampled_from(OTHER_ZONES))
def test_deadline_is_the_same_instant_whatever_zone_the_creation_is_given_in(
    cal: Calendar, where: Place, start: datetime, duration: timedelta, other: str
) -> None:
    reference = add_open_time(cal, where, start, duration)
    shifted = add_open_time(cal, where, start.astimezone(ZoneInfo(other)), duration)
    assert shifted == reference
    assert shifted.isoformat() == reference.isoformat()  # printed in the account's zone


def test_supported_countries_are_the_ones_holidays_lists() -> None:
    """Read from the registry (no module imported per country), the same codes as
    ``holidays.list_supported_countries`` gives by importing them all."""
    import holidays

    from sevtriage.calendars import supported_countries

    assert supported_countries() == frozenset(holidays.list_supported_countries())
    assert {"MX", "ES", "MEX"} <= supported_countries()


def test_a_calendar_hashes_once_and_pickles_through_its_fields() -> None:
    """The hash is computed once (open_intervals' cache looks the calendar up for every
    deadline); equal calendars hash equal, and a pickled one is rebuilt, not given a hash
    that another process computed with its own string hashing."""
    import pickle

    cal = calendar("office", {"mon": ["09:00-17:00"]}, public_holidays=True)
    twin = calendar("office", {"mon": ["09:00-17:00"]}, public_holidays=True)
    other = calendar("office", {"mon": ["09:00-18:00"]}, public_holidays=True)
    assert cal == twin and hash(cal) == hash(twin) and cal != other
    copy = pickle.loads(pickle.dumps(cal))
    assert copy == cal and hash(copy) == hash(cal) and copy.always_open is False
    assert b"_hash" not in pickle.dumps(cal)  # rebuilt through __init__, hash recomputed
    week = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    assert calendar("always", {day: ["00:00-24:00"] for day in week}).always_open
