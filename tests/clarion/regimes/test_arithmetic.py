"""Unit tests of the clock arithmetic: one clock kind at a time, on dates worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from clarion.regimes.arithmetic import _localize, add_months, due, earliest
from clarion.regimes.schema import Clock

BERLIN = ZoneInfo("Europe/Berlin")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
BRUSSELS = ZoneInfo("Europe/Brussels")
NEW_YORK = ZoneInfo("America/New_York")
SINGAPORE = ZoneInfo("Asia/Singapore")


def at(
    zone: tzinfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=zone)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return at(UTC, year, month, day, hour, minute, second)


# ── hours ─────────────────────────────────────────────────────────────────────────────────────────


def test_hours_run_through_the_weekend() -> None:
    friday = utc(2026, 3, 6, 18, 0)
    assert due(friday, Clock(hours=72), BRUSSELS) == utc(2026, 3, 9, 18, 0)  # Monday, same hour


def test_hours_are_fractional() -> None:
    assert due(utc(2026, 3, 6, 18, 0), Clock(hours=0.5), BRUSSELS) == utc(2026, 3, 6, 18, 30)


def test_result_is_utc() -> None:
    result = due(at(BERLIN, 2026, 3, 2, 10, 0), Clock(hours=1), BERLIN)
    assert result.utcoffset() == timedelta(0)
    assert result == utc(2026, 3, 2, 10, 0)


@pytest.mark.parametrize(
    ("zone", "start", "hours", "wall_end"),
    [
        # spring: the night loses an hour, so the wall clock ends one hour later
        (BERLIN, datetime(2026, 3, 28, 12, 0), 24, datetime(2026, 3, 29, 13, 0)),
        (NEW_YORK, datetime(2026, 3, 7, 12, 0), 72, datetime(2026, 3, 10, 13, 0)),
        # autumn: the night gains an hour, so the wall clock ends one hour earlier
        (BERLIN, datetime(2026, 10, 24, 12, 0), 24, datetime(2026, 10, 25, 11, 0)),
        (NEW_YORK, datetime(2026, 10, 31, 12, 0), 72, datetime(2026, 11, 3, 11, 0)),
    ],
)
def test_hours_across_a_dst_change_shift_the_wall_hour(
    zone: ZoneInfo, start: datetime, hours: int, wall_end: datetime
) -> None:
    begin = start.replace(tzinfo=zone)
    result = due(begin, Clock(hours=hours), zone)
    assert result - begin == timedelta(hours=hours)  # elapsed time is exact
    assert result.astimezone(zone).replace(tzinfo=None) == wall_end


def test_hours_do_not_depend_on_the_regime_zone() -> None:
    start = at(NEW_YORK, 2026, 3, 7, 12, 0)
    assert due(start, Clock(hours=72), BERLIN) == due(start, Clock(hours=72), SINGAPORE)


# ── calendar days ─────────────────────────────────────────────────────────────────────────────────


def test_calendar_days_exclude_the_start_day_and_end_at_end_of_day() -> None:
    start = at(BRUSSELS, 2026, 3, 2, 10, 0)  # Monday
    result = due(start, Clock(calendar_days=3), BRUSSELS)
    assert result.astimezone(BRUSSELS) == at(BRUSSELS, 2026, 3, 5, 23, 59, 59)


def test_calendar_days_count_start_day_makes_it_day_one() -> None:
    start = at(BRUSSELS, 2026, 3, 2, 10, 0)
    result = due(start, Clock(calendar_days=3, count_start_day=True), BRUSSELS)
    assert result.astimezone(BRUSSELS) == at(BRUSSELS, 2026, 3, 4, 23, 59, 59)


def test_one_calendar_day_counting_the_start_day_ends_that_day() -> None:
    start = at(BRUSSELS, 2026, 3, 2, 10, 0)
    result = due(start, Clock(calendar_days=1, count_start_day=True), BRUSSELS)
    assert result.astimezone(BRUSSELS) == at(BRUSSELS, 2026, 3, 2, 23, 59, 59)


def test_calendar_days_cutoff_is_the_local_time_of_the_last_day() -> None:
    start = at(BRUSSELS, 2026, 3, 2, 10, 0)
    result = due(start, Clock(calendar_days=3, cutoff=time(17, 0)), BRUSSELS)
    assert result.astimezone(BRUSSELS) == at(BRUSSELS, 2026, 3, 5, 17, 0)
    assert result == utc(2026, 3, 5, 16, 0)


def test_calendar_days_are_counted_in_the_regime_zone() -> None:
    start = utc(2026, 3, 2, 23, 30)  # already 3 March in Singapore
    assert due(start, Clock(calendar_days=1), SINGAPORE).astimezone(SINGAPORE) == at(
        SINGAPORE, 2026, 3, 4, 23, 59, 59
    )
    assert due(start, Clock(calendar_days=1), NEW_YORK).astimezone(NEW_YORK) == at(
        NEW_YORK, 2026, 3, 3, 23, 59, 59
    )


def test_calendar_days_end_of_day_follows_the_dst_offset_of_the_last_day() -> None:
    start = at(BERLIN, 2026, 3, 27, 10, 0)  # CET, +01:00
    result = due(start, Clock(calendar_days=3), BERLIN)  # 30 March, CEST, +02:00
    assert result == utc(2026, 3, 30, 21, 59, 59)


# ── business days ─────────────────────────────────────────────────────────────────────────────────


def business(
    count: int, calendar: str = "us-sec", *, count_start_day: bool = False, cutoff: time | None = None
) -> Clock:
    return Clock(business_days=count, calendar=calendar, count_start_day=count_start_day, cutoff=cutoff)


def local_due(start: datetime, clock: Clock, zone: ZoneInfo = NEW_YORK) -> datetime:
    return due(start, clock, zone).astimezone(zone)


def test_business_days_skip_the_weekend() -> None:
    thursday = at(NEW_YORK, 2026, 3, 5, 10, 0)
    assert local_due(thursday, business(2)) == at(NEW_YORK, 2026, 3, 9, 23, 59, 59)  # Fri 1, Mon 2


def test_business_days_skip_holidays() -> None:
    tuesday = at(NEW_YORK, 2025, 11, 25, 10, 0)  # Thursday 27 is Thanksgiving
    assert local_due(tuesday, business(2)) == at(NEW_YORK, 2025, 11, 28, 23, 59, 59)


def test_four_business_days_skip_the_carter_day_of_mourning_on_the_sec_calendar() -> None:
    monday = at(NEW_YORK, 2025, 1, 6, 10, 0)  # Tue 1, Wed 2, Thu 9 closed, Fri 3, Mon 4
    assert local_due(monday, business(4, "us-sec")) == at(NEW_YORK, 2025, 1, 13, 23, 59, 59)
    assert local_due(monday, business(4, "us-federal")) == at(NEW_YORK, 2025, 1, 10, 23, 59, 59)


@pytest.mark.parametrize("count_start_day", [False, True])
def test_a_start_on_saturday_makes_monday_day_one(count_start_day: bool) -> None:
    saturday = at(NEW_YORK, 2026, 3, 7, 10, 0)
    clock = business(1, count_start_day=count_start_day)
    assert local_due(saturday, clock) == at(NEW_YORK, 2026, 3, 9, 23, 59, 59)
    assert local_due(saturday, business(4, count_start_day=count_start_day)) == at(
        NEW_YORK, 2026, 3, 12, 23, 59, 59
    )


@pytest.mark.parametrize("count_start_day", [False, True])
def test_a_start_on_a_holiday_makes_the_next_business_day_day_one(count_start_day: bool) -> None:
    thanksgiving = at(NEW_YORK, 2025, 11, 27, 10, 0)
    clock = business(1, count_start_day=count_start_day)
    assert local_due(thanksgiving, clock) == at(NEW_YORK, 2025, 11, 28, 23, 59, 59)


def test_business_days_count_start_day_on_a_business_day() -> None:
    monday = at(NEW_YORK, 2026, 3, 9, 10, 0)
    assert local_due(monday, business(1, count_start_day=True)) == at(NEW_YORK, 2026, 3, 9, 23, 59, 59)
    assert local_due(monday, business(1)) == at(NEW_YORK, 2026, 3, 10, 23, 59, 59)


def test_business_days_cutoff() -> None:
    monday = at(NEW_YORK, 2026, 3, 9, 10, 0)
    clock = business(2, cutoff=time(17, 30))
    assert local_due(monday, clock) == at(NEW_YORK, 2026, 3, 11, 17, 30)


def test_business_days_are_counted_in_the_regime_zone() -> None:
    # Friday 23:30 in New York is Saturday 01:30 in São Paulo
    start = at(NEW_YORK, 2026, 3, 6, 23, 30)
    sao_paulo = ZoneInfo("America/Sao_Paulo")
    assert local_due(start, business(1, "weekdays"), NEW_YORK) == at(NEW_YORK, 2026, 3, 9, 23, 59, 59)
    # counting the start day: Friday in New York, but Saturday (closed) in São Paulo, so Monday there
    assert local_due(start, business(1, "weekdays", count_start_day=True), sao_paulo) == at(
        sao_paulo, 2026, 3, 9, 23, 59, 59
    )
    assert local_due(start, business(1, "weekdays", count_start_day=True), NEW_YORK) == at(
        NEW_YORK, 2026, 3, 6, 23, 59, 59
    )


# ── months ────────────────────────────────────────────────────────────────────────────────────────


def test_months_end_with_the_day_of_the_same_date_across_dst() -> None:
    start = at(BERLIN, 2026, 2, 15, 9, 30)  # CET
    result = due(start, Clock(months=2), BERLIN)  # CEST
    assert result.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 4, 15, 23, 59, 59)
    assert result == utc(2026, 4, 15, 21, 59, 59)


def test_months_clip_to_the_end_of_a_shorter_month() -> None:
    result = due(at(BERLIN, 2026, 1, 31, 9, 30), Clock(months=1), BERLIN)
    assert result.astimezone(BERLIN) == at(BERLIN, 2026, 2, 28, 23, 59, 59)


def test_months_clip_to_february_29_in_a_leap_year() -> None:
    result = due(at(BERLIN, 2028, 1, 31, 9, 30), Clock(months=1), BERLIN)
    assert result.astimezone(BERLIN) == at(BERLIN, 2028, 2, 29, 23, 59, 59)


def test_months_cross_the_year() -> None:
    result = due(at(BERLIN, 2026, 11, 30, 9, 30), Clock(months=3), BERLIN)
    assert result.astimezone(BERLIN) == at(BERLIN, 2027, 2, 28, 23, 59, 59)


def test_a_later_start_at_the_end_of_january_is_never_due_earlier() -> None:
    # same hour, clipped day: 30 Jan 23:00 and 31 Jan 10:00 would be due 28 Feb 23:00 and 10:00
    first = due(at(BERLIN, 2026, 1, 30, 23, 0), Clock(months=1), BERLIN)
    second = due(at(BERLIN, 2026, 1, 31, 10, 0), Clock(months=1), BERLIN)
    assert first == second == at(BERLIN, 2026, 2, 28, 23, 59, 59)


def test_add_months_keeps_the_zone_and_time() -> None:
    moment = at(BERLIN, 2026, 8, 31, 23, 0)
    assert add_months(moment, 1) == at(BERLIN, 2026, 9, 30, 23, 0)
    assert add_months(moment, 18) == at(BERLIN, 2028, 2, 29, 23, 0)
    assert add_months(moment, 12) == at(BERLIN, 2027, 8, 31, 23, 0)


# ── _localize directly ────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("zone", "wall", "expected"),
    [
        (BERLIN, datetime(2026, 3, 29, 2, 30), utc(2026, 3, 29, 1, 0)),  # gap: its end, 03:00 CEST
        (BERLIN, datetime(2026, 10, 25, 2, 30), utc(2026, 10, 25, 0, 30)),  # fold: first, CEST
        (NEW_YORK, datetime(2026, 3, 8, 2, 15), utc(2026, 3, 8, 7, 0)),  # gap: its end, 03:00 EDT
        (LORD_HOWE, datetime(2026, 10, 4, 2, 15), utc(2026, 10, 3, 15, 30)),  # a 30-minute gap: 02:30
        (NEW_YORK, datetime(2026, 11, 1, 1, 15), utc(2026, 11, 1, 5, 15)),  # fold: first, EDT
        (BERLIN, datetime(2026, 3, 29, 3, 0), utc(2026, 3, 29, 1, 0)),  # just after the gap
        (BERLIN, datetime(2026, 7, 1, 12, 0), utc(2026, 7, 1, 10, 0)),  # ordinary
    ],
)
def test_localize(zone: ZoneInfo, wall: datetime, expected: datetime) -> None:
    assert _localize(wall, zone) == expected


def test_calendar_day_cutoff_in_the_spring_gap_is_the_end_of_the_gap() -> None:
    start = at(BERLIN, 2026, 3, 28, 10, 0)
    result = due(start, Clock(calendar_days=1, cutoff=time(2, 30)), BERLIN)
    assert result.astimezone(BERLIN) == at(BERLIN, 2026, 3, 29, 3, 0)


def test_a_start_after_the_cutoff_of_a_day_that_counts_makes_the_next_day_day_1() -> None:
    start = at(BERLIN, 2026, 3, 2, 18, 0)
    result = due(start, Clock(calendar_days=1, count_start_day=True, cutoff=time(17, 0)), BERLIN)
    assert result.astimezone(BERLIN) == at(BERLIN, 2026, 3, 3, 17, 0)


# ── asap ──────────────────────────────────────────────────────────────────────────────────────────


def test_asap_is_watched_against_its_target() -> None:
    start = at(BERLIN, 2026, 3, 2, 10, 0)
    assert due(start, Clock(asap="without undue delay", target="72h"), BERLIN) == utc(2026, 3, 5, 9, 0)
    assert due(start, Clock(asap="without undue delay", target="7d"), BERLIN) == utc(2026, 3, 9, 9, 0)


# ── refusals ──────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "clock",
    [
        Clock(hours=72),
        Clock(calendar_days=3),
        Clock(business_days=4, calendar="us-sec"),
        Clock(months=1),
        Clock(asap="without undue delay", target="72h"),
    ],
    ids=["hours", "calendar-days", "business-days", "months", "asap"],
)
def test_naive_start_is_refused(clock: Clock) -> None:
    with pytest.raises(ValueError, match="naive start time 2026-03-02T10:00:00 refused"):
        due(datetime(2026, 3, 2, 10, 0), clock, BERLIN)


def test_a_tzinfo_without_offset_is_refused() -> None:
    class NoOffset(tzinfo):
        def utcoffset(self, dt: datetime | None) -> timedelta | None:
            return None

        def dst(self, dt: datetime | None) -> timedelta | None:
            return None

        def tzname(self, dt: datetime | None) -> str | None:
            return None

    with pytest.raises(ValueError, match="naive start time"):
        due(datetime(2026, 3, 2, 10, 0, tzinfo=NoOffset()), Clock(hours=1), BERLIN)


# ── earliest ──────────────────────────────────────────────────────────────────────────────────────


def test_earliest_takes_the_earliest_live_deadline() -> None:
    start = utc(2026, 3, 2, 10)
    primary = utc(2026, 3, 5, 10)
    assert earliest(start, primary, [utc(2026, 3, 3, 10), utc(2026, 3, 4, 10)]) == utc(2026, 3, 3, 10)
    assert earliest(start, primary, [utc(2026, 3, 6, 10)]) == primary
    assert earliest(start, primary, []) == primary


def test_earliest_ignores_caps_already_past_at_the_start() -> None:
    start = utc(2026, 3, 2, 10)
    primary = utc(2026, 3, 2, 14)
    assert earliest(start, primary, [utc(2026, 3, 2, 9), utc(2026, 3, 1, 10)]) == primary
    assert earliest(start, primary, [utc(2026, 3, 2, 9), utc(2026, 3, 2, 12)]) == utc(2026, 3, 2, 12)


def test_earliest_keeps_a_cap_due_exactly_at_the_start() -> None:
    start = utc(2026, 3, 2, 10)
    assert earliest(start, utc(2026, 3, 2, 14), [start]) == start


# ── Clock validation ──────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hours": 72, "calendar_days": 3}, r"exactly one of .*got \['hours', 'calendar_days'\]"),
        ({}, r"exactly one of .*got \[\]"),
        ({"business_days": 4}, "business_days needs a calendar"),
        ({"hours": 72, "calendar": "us-sec"}, "only business_days takes one"),
        ({"asap": "without undue delay"}, "asap needs a target"),
        ({"hours": 72, "target": "72h"}, "asap needs a target"),
        ({"hours": 72, "cutoff": "17:00"}, "count_start_day and cutoff apply to calendar_days"),
        ({"months": 1, "count_start_day": True}, "count_start_day and cutoff apply to calendar_days"),
        ({"hours": 0}, "greater than 0"),
        ({"calendar_days": -1}, "greater than 0"),
        ({"hours": 72, "typo": 1}, "Extra inputs are not permitted"),
    ],
)
def test_clock_validation(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Clock.model_validate(fields)


def test_clock_describe() -> None:
    assert Clock(hours=72).describe() == "72 h"
    assert Clock(calendar_days=30).describe() == "30 calendar days"
    assert Clock(business_days=4, calendar="us-sec").describe() == "4 business days (us-sec)"
    assert Clock(months=1).describe() == "1 month"
    assert Clock(months=2).describe() == "2 months"
    assert Clock(asap="without undue delay", target="7d").describe() == "without undue delay (target 7 d)"
