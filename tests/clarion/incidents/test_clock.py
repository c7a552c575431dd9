"""The incident's clock: the wall clock in production, the wall clock sped up for a demo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from clarion.incidents.clock import IncidentClock

DECLARED = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def clock_at(wall: datetime, *, scale: float = 1.0, anchor: datetime = DECLARED) -> IncidentClock:
    return IncidentClock(anchor, scale, wall_now=lambda: wall)


# ── scale 1: production never bends time ──────────────────────────────────────────────────────────


def test_at_scale_one_the_incident_clock_is_the_wall_clock() -> None:
    wall = DECLARED + timedelta(hours=3, minutes=17, seconds=4)
    clock = clock_at(wall)

    assert clock.now() == wall
    assert clock.wall(DECLARED + timedelta(hours=5)) == DECLARED + timedelta(hours=5)
    assert clock.wall_duration(timedelta(minutes=90)) == timedelta(minutes=90)


def test_the_default_scale_is_one_and_reads_the_real_wall_clock() -> None:
    clock = IncidentClock(DECLARED)
    before = datetime.now(UTC)

    now = clock.now()

    assert clock.scale == 1.0
    assert before <= now <= datetime.now(UTC)
    assert now.utcoffset() == timedelta(0)


# ── scale 360: an hour of incident time in ten wall-clock seconds ─────────────────────────────────


def test_at_scale_360_ten_wall_seconds_are_an_incident_hour() -> None:
    clock = clock_at(DECLARED + timedelta(seconds=10), scale=360)

    assert clock.now() == DECLARED + timedelta(hours=1)


def test_at_scale_360_a_promise_maps_back_to_its_wall_clock_moment() -> None:
    clock = clock_at(DECLARED + timedelta(seconds=10), scale=360)

    assert clock.wall(DECLARED + timedelta(hours=2)) == DECLARED + timedelta(seconds=20)
    assert clock.wall(DECLARED + timedelta(days=1)) == DECLARED + timedelta(minutes=4)
    assert clock.wall_duration(timedelta(hours=1)) == timedelta(seconds=10)
    assert clock.wall_duration(timedelta(minutes=15)) == timedelta(seconds=2.5)


def test_now_and_wall_are_inverses_at_scale_360() -> None:
    wall = DECLARED + timedelta(minutes=7, seconds=33, microseconds=120)
    clock = clock_at(wall, scale=360)

    assert clock.wall(clock.now()) == wall
    moment = DECLARED + timedelta(hours=13)
    assert clock_at(clock.wall(moment), scale=360).now() == moment


def test_a_round_trip_loses_at_most_the_scale_in_microseconds() -> None:
    """wall() rounds to a microsecond, which the scale magnifies on the way back."""
    moment = DECLARED + timedelta(hours=13, minutes=5)  # 47 100 s / 360 is not a whole microsecond
    wall = clock_at(DECLARED, scale=360).wall(moment)

    assert wall == DECLARED + timedelta(seconds=130, microseconds=833333)
    assert abs(clock_at(wall, scale=360).now() - moment) <= timedelta(microseconds=360)


def test_the_anchor_is_the_same_moment_on_both_clocks() -> None:
    clock = clock_at(DECLARED, scale=360)

    assert clock.now() == DECLARED
    assert clock.wall(DECLARED) == DECLARED


def test_a_restarted_process_derives_the_same_mapping_from_the_anchor() -> None:
    """Two clocks built from the same stored declaration time agree (they compare equal too)."""
    wall = DECLARED + timedelta(seconds=45)
    first, second = clock_at(wall, scale=360), clock_at(wall, scale=360)

    assert first == second
    assert first.now() == second.now() == DECLARED + timedelta(hours=4, minutes=30)


def test_an_anchor_in_another_zone_is_the_same_instant() -> None:
    berlin = DECLARED.astimezone(timezone(timedelta(hours=1)))
    clock = clock_at(DECLARED + timedelta(seconds=10), scale=360, anchor=berlin)

    assert clock.now() == DECLARED + timedelta(hours=1)


# ── refused ───────────────────────────────────────────────────────────────────────────────────────


def test_a_naive_anchor_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^the clock's anchor must be timezone-aware$"):
        IncidentClock(DECLARED.replace(tzinfo=None))


@pytest.mark.parametrize("scale", [0.5, 0, -1])
def test_a_scale_below_one_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match=rf"^time_scale must be at least 1, not {scale}$"):
        IncidentClock(DECLARED, scale)
