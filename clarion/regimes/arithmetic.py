"""When a clock runs out: pure functions of an aware start time and a :class:`Clock`.

Hours run straight through (weekends, holidays and daylight-saving changes count as the hours they
are: 72 h across the autumn change end at a different wall-clock hour). Day counts are counted in the
regime's time zone: the day of the start event is day 0 unless the clock counts it, and the deadline
is the end of the last day (23:59:59 local) or the clock's cut-off time on it; a start after the
cut-off of a day that counts as day 1 makes the next day day 1, so a deadline is never before its
start. Business days skip the weekend and the holidays of the clock's named calendar; a start on a
closed day therefore makes the next business day day 1 (as the SEC's General Instruction B.1 has it).
Months end with the last hour of the day of the same date (the last day of a shorter month), as
Regulation 1182/71 Art. 3(2)(c) counts EU periods: a later start never gives an earlier deadline,
which keeping the hour and clipping the day would. ``asap`` clocks are watched against their target.

Nothing here reads the machine's local time zone: the result depends on the instant and the regime.
"""

from __future__ import annotations

import calendar as month_calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from clarion.regimes.calendars import business_calendar
from clarion.regimes.schema import Clock

END_OF_DAY = time(23, 59, 59)


def _check(start: datetime) -> None:
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(f"naive start time {start.isoformat()} refused: give it a time zone")


def add_months(moment: datetime, months: int) -> datetime:
    """Same wall-clock time ``months`` later in ``moment``'s zone, the day clipped to the month's end."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, month_calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def due(start: datetime, clock: Clock, zone: ZoneInfo) -> datetime:
    """When ``clock`` started at ``start`` runs out, in UTC. ``zone`` is where days are counted."""
    _check(start)
    start = start.astimezone(UTC)
    if clock.hours is not None:
        return start + timedelta(hours=clock.hours)
    if clock.asap is not None:
        assert clock.target is not None
        return start + clock.target
    local = start.astimezone(zone)
    if clock.months is not None:
        last = add_months(local.replace(tzinfo=None), clock.months).date()
        return _localize(datetime.combine(last, END_OF_DAY), zone)
    end = clock.cutoff or END_OF_DAY
    result = _localize(datetime.combine(_last_day(local.date(), clock, clock.count_start_day), end), zone)
    if result < start:  # the start day was to count, but its cut-off had passed
        result = _localize(datetime.combine(_last_day(local.date(), clock, False), end), zone)
    return result


def _last_day(start: date, clock: Clock, count_start_day: bool) -> date:
    if clock.calendar_days is not None:
        return start + timedelta(days=clock.calendar_days - 1 if count_start_day else clock.calendar_days)
    assert clock.business_days is not None and clock.calendar is not None
    return business_calendar(clock.calendar).add(start, clock.business_days, count_start_day=count_start_day)


def _localize(wall: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall time in ``zone`` as an instant. One the autumn change repeats takes its first
    (earlier) occurrence; one the spring change skips becomes the end of the gap, the first instant
    whose wall time is not before it (whatever the size of the change)."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return min(first, second) if second.astimezone(zone).replace(tzinfo=None) == wall else first
    # in a gap: the two readings straddle the change; find it to the minute (changes fall on minutes)
    low, high = sorted((first, second))
    while high - low > timedelta(minutes=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high.replace(second=0, microsecond=0) if high.second or high.microsecond else high


def earliest(start: datetime, primary: datetime, caps: list[datetime]) -> datetime:
    """The earliest of the stage's own deadline and its caps; a cap already past when the stage
    starts no longer binds it (DORA: classified major after 24 h, the 4 h run from classification)."""
    live = [cap for cap in caps if cap >= start]
    return min([primary, *live])
