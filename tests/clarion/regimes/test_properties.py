"""Properties of the clock arithmetic, over every shipped clock and generated ones.

Starts are aware datetimes in 2020–2035 in zones with odd offsets and daylight-saving rules; the zone
a clock counts days in is the regime's (shipped clocks) or one of the same list (generated clocks).
"""

from __future__ import annotations

import calendar as month_calendar
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from clarion.regimes import Clock, business_calendar, calendar_names, due, regimes

ZONE_NAMES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Sao_Paulo",
    "Asia/Singapore",
    "Asia/Kolkata",
    "Australia/Sydney",
    "Pacific/Chatham",
    "America/St_Johns",
]
ZONES = [ZoneInfo(name) for name in ZONE_NAMES]
PROCESS_ZONES = ["UTC", "America/Los_Angeles", "Asia/Tokyo", "Pacific/Chatham", "Europe/Berlin", "EST5EDT"]

Case = tuple[Clock, ZoneInfo]


@cache
def shipped() -> list[Case]:
    """Every stage clock and cap clock of every shipped regime, with the regime's zone."""
    cases = []
    for regime in regimes().values():
        for stage in regime.stages:
            for clock in (stage.clock, *(cap.clock for cap in stage.caps)):
                cases.append((clock, regime.zone))
    assert cases
    return cases


starts = st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2035, 12, 31, 23, 59, 59),
    timezones=st.sampled_from(ZONES),
    allow_imaginary=False,
)
zones = st.sampled_from(ZONES)
cutoffs = st.none() | st.times()
day_options = {"count_start_day": st.booleans(), "cutoff": cutoffs}

generated_hours = st.builds(Clock, hours=st.floats(min_value=0.5, max_value=2000, allow_nan=False))
# short counts are where the start day, the cut-off and the start's own time of day meet
generated_calendar_days = st.builds(
    Clock, calendar_days=st.integers(1, 3) | st.integers(1, 400), **day_options
)
generated_business_days = st.builds(
    Clock,
    business_days=st.integers(1, 3) | st.integers(1, 60),
    calendar=st.deferred(lambda: st.sampled_from(calendar_names())),
    **day_options,
)
generated_months = st.builds(Clock, months=st.integers(1, 24))

shipped_cases = st.deferred(lambda: st.sampled_from(shipped()))
any_clock = generated_hours | generated_calendar_days | generated_business_days | generated_months
cases = shipped_cases | st.tuples(any_clock, zones)
business_cases = st.deferred(
    lambda: (
        st.sampled_from([case for case in shipped() if case[0].business_days is not None])
        if any(case[0].business_days is not None for case in shipped())
        else st.nothing()
    )
) | st.tuples(generated_business_days, zones)


@contextmanager
def process_zone(name: str) -> Iterator[None]:
    """The process-wide local time zone set to ``name`` (``TZ`` + ``tzset``), restored after."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


# ── the deadline never comes before the start ─────────────────────────────────────────────────────


@settings(max_examples=300, deadline=None)
@given(start=starts, case=cases)
def test_deadline_is_never_before_the_start(start: datetime, case: Case) -> None:
    clock, zone = case
    assert due(start, clock, zone) >= start


# ── business-day deadlines fall on business days ──────────────────────────────────────────────────


@settings(max_examples=200, deadline=None)
@given(start=starts, case=business_cases)
def test_business_day_deadlines_fall_on_a_business_day(start: datetime, case: Case) -> None:
    clock, zone = case
    assert clock.calendar is not None
    day = due(start, clock, zone).astimezone(zone).date()
    calendar = business_calendar(clock.calendar)
    assert calendar.is_business_day(day), f"{day} is closed: {calendar.closure(day)}"


# ── the caller's own time zone does not matter ────────────────────────────────────────────────────


@settings(max_examples=150, deadline=None)
@given(start=starts, case=cases, other=zones)
def test_the_same_instant_in_another_zone_gives_the_same_deadline(
    start: datetime, case: Case, other: ZoneInfo
) -> None:
    clock, zone = case
    expected = due(start, clock, zone)
    assert due(start.astimezone(other), clock, zone) == expected
    assert due(start.astimezone(UTC), clock, zone) == expected


@settings(max_examples=60, deadline=None)
@given(start=starts, case=cases)
def test_the_process_time_zone_does_not_matter(start: datetime, case: Case) -> None:
    clock, zone = case
    expected = due(start, clock, zone)
    for name in PROCESS_ZONES:
        with process_zone(name):
            assert due(start, clock, zone) == expected, name
            assert due(start.astimezone(), clock, zone) == expected, name  # in the process zone


def test_process_zone_helper_really_changes_the_local_zone() -> None:
    moment = datetime(2026, 7, 1, 12, tzinfo=UTC)
    with process_zone("Asia/Tokyo"):
        assert moment.astimezone().utcoffset() == timedelta(hours=9)
    with process_zone("America/Los_Angeles"):
        assert moment.astimezone().utcoffset() == timedelta(hours=-7)


# ── a later start never gives an earlier deadline ─────────────────────────────────────────────────

delays = (
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=3))
    | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3))
    | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=90))
)


@settings(max_examples=300, deadline=None)
@given(start=starts, delay=delays, case=cases)
def test_a_later_start_never_gives_an_earlier_deadline(start: datetime, delay: timedelta, case: Case) -> None:
    clock, zone = case
    later = start.astimezone(UTC) + delay  # in UTC: adding to a wall time with fold=1 would drop the fold
    assert due(later, clock, zone) >= due(start, clock, zone)


@st.composite
def month_end_starts(draw: st.DrawFn) -> datetime:
    """Starts in the last days of a month, where month arithmetic clips the day."""
    year, month = draw(st.integers(2020, 2035)), draw(st.integers(1, 12))
    last = month_calendar.monthrange(year, month)[1]
    wall = datetime(
        year, month, draw(st.integers(last - 3, last)), draw(st.integers(0, 23)), draw(st.integers(0, 59))
    )
    return wall.replace(tzinfo=draw(zones))


@settings(max_examples=200, deadline=None)
@given(
    start=month_end_starts(),
    delay=st.timedeltas(timedelta(0), timedelta(hours=36)),
    months=st.integers(1, 24),
)
def test_a_later_start_at_the_end_of_a_month_never_gives_an_earlier_month_deadline(
    start: datetime, delay: timedelta, months: int
) -> None:
    later = start.astimezone(UTC) + delay
    zone = start.tzinfo
    assert isinstance(zone, ZoneInfo)
    assert due(later, Clock(months=months), zone) >= due(start, Clock(months=months), zone)


# ── the counterexamples the properties found, as plain tests ──────────────────────────────────────

BERLIN = ZoneInfo("Europe/Berlin")


def test_one_day_counting_the_start_day_with_a_cutoff_already_past() -> None:
    """An 18:00 start with "1 calendar day, start day counted, by 17:00" must not be due at 17:00
    the same day, an hour before it started."""
    start = datetime(2026, 3, 2, 18, 0, tzinfo=BERLIN)
    clock = Clock(calendar_days=1, count_start_day=True, cutoff=wall_time(17, 0))
    assert due(start, clock, BERLIN) >= start


def test_one_business_day_counting_the_start_day_with_a_cutoff_already_past() -> None:
    start = datetime(2026, 3, 2, 18, 0, tzinfo=BERLIN)  # a Monday
    clock = Clock(business_days=1, calendar="weekdays", count_start_day=True, cutoff=wall_time(17, 0))
    assert due(start, clock, BERLIN) >= start


def test_a_month_from_a_later_start_at_the_end_of_the_month() -> None:
    """Jan 30 23:00 + 1 month is Feb 28 23:00; Jan 31 10:00 (later) + 1 month is clipped to Feb 28
    10:00 (earlier)."""
    earlier = datetime(2026, 1, 30, 23, 0, tzinfo=BERLIN)
    later = datetime(2026, 1, 31, 10, 0, tzinfo=BERLIN)
    assert due(later, Clock(months=1), BERLIN) >= due(earlier, Clock(months=1), BERLIN)


def test_a_month_from_a_later_start_in_the_autumn_fold() -> None:
    """02:30 CEST and 02:10 CET (40 minutes later) on 2026-10-25 are a month later 02:30 and 02:10."""
    earlier = datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=BERLIN)
    later = datetime(2026, 10, 25, 2, 10, fold=1, tzinfo=BERLIN)
    assert later.astimezone(UTC) - earlier.astimezone(UTC) == timedelta(minutes=40)
    assert due(later, Clock(months=1), BERLIN) >= due(earlier, Clock(months=1), BERLIN)


def test_a_month_from_a_later_start_landing_after_the_spring_gap() -> None:
    """2026-02-29 does not exist; 2026-01-29: 02:30 + 2 months is in the gap of 2026-03-29, moved
    to 03:30 CEST, after 03:10 CEST, where a start 40 minutes later lands."""
    earlier = datetime(2026, 1, 29, 2, 30, tzinfo=BERLIN)
    later = datetime(2026, 1, 29, 3, 10, tzinfo=BERLIN)
    assert due(later, Clock(months=2), BERLIN) >= due(earlier, Clock(months=2), BERLIN)


def test_shipped_month_clocks_at_the_end_of_january() -> None:
    """The same clipping in the shipped one-month clocks (DORA and NIS2 final reports)."""
    month_clocks = [(clock, zone) for clock, zone in shipped() if clock.months is not None]
    assert month_clocks
    for clock, zone in month_clocks:
        earlier = datetime(2026, 1, 30, 23, 0, tzinfo=zone)
        later = datetime(2026, 1, 31, 10, 0, tzinfo=zone)
        assert due(later, clock, zone) >= due(earlier, clock, zone), clock
