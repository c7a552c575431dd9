"""Quiet hours: personal messages that can wait are held to the recipient's local morning.

A playbook may say ``quiet_hours: {from: "21:00", until: "08:00"}``. An update's email and SMS
(messages to one person; never the banner, the status page or a social post) in the **routine** and
**important** cadence tiers are then staged with their due time (``next_attempt_at``) at the end of
the window in the recipient's own time zone, and the ledger keeps why: ``held_until`` (the morning,
in UTC) and ``hold_reason`` ("quiet hours 21:00–08:00 Europe/Berlin, routine update"), which
``clarion outbox work`` reports while it waits and the evidence pack lists. **Urgent** updates, and
messages to an audience the playbook marks ``mandatory`` (legally required or life-safety), go at
once. A recipient without a time zone is in the playbook's public time zone.

Times are wall-clock times read with :mod:`zoneinfo`: 08:00 in Berlin the morning after a change to
or from summer time is 08:00 on the clock, whatever that is in UTC. A window end that does not exist
on some day (it falls in the hour skipped when clocks go forward) is read, as PEP 495 reads such a
time, with the offset in force before the change: an hour later on the clock, on the quiet side.
A window end that occurs twice (the hour repeated when clocks go back) is its first occurrence.

A held message is staged once, like any other: whichever worker runs when the morning comes sends it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from clarion.kinds import CadenceTier, IncidentStatus
from clarion.strict import Strict

if TYPE_CHECKING:
    from clarion.playbook import Playbook

HELD_TIERS = frozenset({CadenceTier.ROUTINE, CadenceTier.IMPORTANT})
"""Tiers whose personal messages wait for the morning; urgent ones never do."""

_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def _clock_time(value: Any) -> time:
    """ "21:00" as a time of day; a clear error for anything else (YAML reads 21:00 unquoted as 1260)."""
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError('write the time in quotes, as "HH:MM": YAML reads an unquoted 21:00 as a number')
    if not isinstance(value, str) or not _CLOCK.fullmatch(value):
        raise ValueError(f'{value!r} is not a time of day as "HH:MM" (00:00 to 23:59)')
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


ClockTime = Annotated[time, BeforeValidator(_clock_time)]


class QuietHours(Strict):
    """When personal messages of routine and important updates wait (recipient's local time)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: ClockTime = Field(alias="from", description='Quiet from this local time ("21:00").')
    until: ClockTime = Field(description='Until this local time ("08:00"): held messages go then.')

    @model_validator(mode="after")
    def _a_window(self) -> QuietHours:
        if self.start == self.until:
            raise ValueError("from and until are the same time: the window would be empty")
        return self

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.until:%H:%M}"


@dataclass(frozen=True, slots=True)
class Hold:
    """Why a message waits, and until when (UTC)."""

    until: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class QuietPlan:
    """The quiet hours one audience's messages of one update keep (see :func:`plan_for`)."""

    window: QuietHours
    tier: CadenceTier

    def hold(self, now: datetime, zone: str) -> Hold | None:
        """The hold of a message staged at ``now`` for someone in ``zone``; None when it may go."""
        until = release_at(self.window, now, zone)
        if until is None:
            return None
        return Hold(until, f"quiet hours {self.window} {zone}, {self.tier.value} update")


def plan_for(
    playbook: Playbook, *, severity: object, status: IncidentStatus, mandatory: str | None
) -> QuietPlan | None:
    """The quiet hours an update's personal messages keep, or None when they go at once: the playbook
    has none, the update is urgent (or its severity unknown to the playbook: we do not delay what we
    cannot place), or the messages are legally required or life-safety (``mandatory``)."""
    window = playbook.quiet_hours
    policy = playbook.severities.get(str(severity))
    if window is None or policy is None or mandatory:
        return None
    tier = policy.tier_for(status)
    return QuietPlan(window, tier) if tier in HELD_TIERS else None


def release_at(window: QuietHours, now: datetime, zone: str) -> datetime | None:
    """When a message staged at ``now`` (aware) may go to someone in ``zone``: the end of the
    window in UTC when ``now`` falls inside it there, else None."""
    tz = _zone(zone)
    local = now.astimezone(tz)
    wall = local.time().replace(tzinfo=None)
    start, end = window.start, window.until
    if start < end:  # the window lies within one day ("01:00"–"06:00")
        if not start <= wall < end:
            return None
        day = local.date()
    else:  # it spans midnight ("21:00"–"08:00")
        if end <= wall < start:
            return None
        day = local.date() + timedelta(days=1) if wall >= start else local.date()
    return datetime.combine(day, end, tzinfo=tz).astimezone(UTC)


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def hold_columns(plan: QuietPlan | None, now: datetime, zone: str) -> dict[str, object]:
    """The outbox columns of a hold: the due time, ``held_until`` and ``hold_reason`` (no hold: due
    ``now``, both None). Every staged personal row carries these keys."""
    hold = plan.hold(now, zone) if plan is not None else None
    if hold is None:
        return {"next_attempt_at": now, "held_until": None, "hold_reason": None}
    return {"next_attempt_at": hold.until, "held_until": hold.until, "hold_reason": hold.reason}
