"""What a regulatory regime is, as data: stages, clocks, start events, required content.

One YAML file per regime in ``clarion/regimes/data/regimes/`` (shipped with the package, versioned by
its ``version`` field), validated by these models with errors that name file, line and field. A stage's
clock says how long (``hours``, ``calendar_days``, ``business_days`` on a named holiday calendar,
``months``, or ``asap`` with an internal target) and from what (``starts``: an incident event, or the
submission of an earlier stage). ``caps`` are further limits of the same stage, each from its own
start; the earliest applies.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, HttpUrl, field_validator, model_validator

from clarion.kinds import check_time_zone
from clarion.strict import Duration, Slug, Strict


class Event(StrEnum):
    """What starts a clock. Awareness is the incident's ``aware_at``; the others are recorded on the
    incident when they happen (``clarion deadline-event``), except those that default to awareness."""

    AWARENESS = "awareness"
    DISCOVERY = "discovery"
    DETERMINATION = "determination"
    REASONABLE_BELIEF = "reasonable-belief"
    CLASSIFIED_MAJOR = "classified-major"
    MATERIALITY_DETERMINED = "materiality-determined"
    RANSOM_PAYMENT = "ransom-payment"
    INCIDENT_HANDLED = "incident-handled"
    CORRECTIVE_MEASURE_AVAILABLE = "corrective-measure-available"
    CALENDAR_YEAR_END = "calendar-year-end"

    @property
    def defaults_to_awareness(self) -> bool:
        """Events a declared breach implies: the clock runs from awareness until a later time is
        recorded (the conservative reading: the earlier start gives the earlier deadline)."""
        return self in _IMPLIED_BY_AWARENESS


_IMPLIED_BY_AWARENESS = frozenset({Event.DISCOVERY, Event.DETERMINATION, Event.REASONABLE_BELIEF})


class Start(Strict):
    """Exactly one of: an incident ``event``, or the submission of the stage named in ``after``."""

    event: Event | None = None
    after: Slug | None = Field(
        default=None, description="A stage of the same regime: runs from its submission."
    )
    latest: bool = Field(
        default=False,
        description="With ``after``: from the latest resubmission of that stage, not the first.",
    )

    @model_validator(mode="after")
    def _one(self) -> Start:
        if (self.event is None) == (self.after is None):
            raise ValueError("give exactly one of event or after")
        if self.latest and self.after is None:
            raise ValueError("latest only applies to after")
        return self

    def describe(self) -> str:
        if self.after is not None:
            return f"{'latest ' if self.latest else ''}submission of {self.after}"
        assert self.event is not None
        return self.event.value


class Clock(Strict):
    """How long a stage runs: exactly one of the length keys."""

    hours: float | None = Field(default=None, gt=0)
    calendar_days: int | None = Field(default=None, gt=0)
    business_days: int | None = Field(default=None, gt=0)
    months: int | None = Field(default=None, gt=0)
    asap: str | None = Field(default=None, description='The law\'s words, e.g. "without undue delay".')
    calendar: Slug | None = Field(
        default=None, description="Holiday calendar of business_days (calendars.yaml)."
    )
    target: Duration | None = Field(
        default=None, description="asap only: our own target, so 'without undue delay' is watched too."
    )
    count_start_day: bool = Field(
        default=False, description="Day counts: the start day is day 1 (default: the day after is)."
    )
    cutoff: time | None = Field(
        default=None, description="Day counts: due at this local time of the last day (default 23:59:59)."
    )

    @model_validator(mode="after")
    def _one_length(self) -> Clock:
        given = [k for k in ("hours", "calendar_days", "business_days", "months", "asap") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of hours, calendar_days, business_days, months, asap (got {given})"
            )
        if (self.business_days is None) != (self.calendar is None):
            raise ValueError("business_days needs a calendar, and only business_days takes one")
        if (self.asap is None) != (self.target is None):
            raise ValueError("asap needs a target (our own deadline for 'without undue delay')")
        if (self.count_start_day or self.cutoff) and not (self.calendar_days or self.business_days):
            raise ValueError("count_start_day and cutoff apply to calendar_days and business_days only")
        return self

    def describe(self) -> str:
        if self.hours is not None:
            return f"{self.hours:g} h"
        if self.calendar_days is not None:
            return f"{self.calendar_days} calendar days"
        if self.business_days is not None:
            return f"{self.business_days} business days ({self.calendar})"
        if self.months is not None:
            return f"{self.months} month{'s' if self.months > 1 else ''}"
        return f"{self.asap} (target {_span(self.target)})"


def _span(span: timedelta | None) -> str:
    if span is None:
        return "-"
    hours = span.total_seconds() / 3600
    return f"{hours / 24:g} d" if hours >= 48 and hours % 24 == 0 else f"{hours:g} h"


class Cap(Strict):
    clock: Clock
    starts: Start
    note: str | None = None


class NoticeField(Strict):
    """One thing the notice must say, and where the incident's facts hold it (dotted paths)."""

    key: Slug
    label: str
    facts: list[str] = Field(default_factory=list, description='Fact paths, e.g. "breach.nature".')
    required: bool = True
    hint: str | None = Field(default=None, description="What to write when the facts do not hold it.")


class Stage(Strict):
    id: Slug
    name: str
    recipient: str
    clock: Clock
    starts: Start
    caps: list[Cap] = Field(default_factory=list)
    condition: str | None = Field(default=None, description="When the stage applies; waive it otherwise.")
    content: list[NoticeField] = Field(default_factory=list, description="What the notice must hold.")
    late_reasons: bool = Field(
        default=False, description="A late notice must give the reasons for the delay."
    )
    met_by_update: bool = Field(
        default=False,
        description="The incident's first published update is this notice (a communication to the people "
        "affected): publishing it records the submission.",
    )
    note: str | None = None


class Verification(StrEnum):
    VERIFIED = "verified"
    PARTIALLY_VERIFIED = "partially-verified"
    UNVERIFIED = "unverified"


class Regime(Strict):
    id: Slug
    version: int = Field(ge=1, description="Bumped whenever a clock or a required field changes.")
    name: str
    jurisdiction: str = Field(pattern=r"^[A-Z]{2}(-[A-Z]{2})?$|^EU$|^INTL$")
    citation: str
    source_url: HttpUrl
    time_zone: str = Field(description="Where day counts are counted: the law's or the regulator's zone.")
    applies_to: list[Slug] = Field(
        min_length=1, description="Playbook kinds a declared jurisdiction adds it to."
    )
    enabled: bool = True
    disabled_reason: str | None = None
    threshold: str | None = None
    verification: Verification
    notes: str | None = None
    stages: list[Stage] = Field(min_length=1)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_time_zone(value)

    @model_validator(mode="after")
    def _consistent(self) -> Regime:
        ids = [s.id for s in self.stages]
        if len(set(ids)) != len(ids):
            raise ValueError(f"stage ids repeat: {ids}")
        for index, stage in enumerate(self.stages):
            for start in (stage.starts, *(c.starts for c in stage.caps)):
                if start.after is not None and start.after not in ids[:index]:
                    raise ValueError(f"stage {stage.id} starts after {start.after!r}, not an earlier stage")
        if not self.enabled and not self.disabled_reason:
            raise ValueError("a disabled regime says why (disabled_reason)")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def stage(self, stage_id: str) -> Stage:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(f"{self.id} has no stage {stage_id!r} (it has {', '.join(s.id for s in self.stages)})")


Weekday = Annotated[int, Field(ge=0, le=6, description="0 is Monday")]


class HolidayCalendar(Strict):
    """A named business-day calendar: a ``holidays`` country (and subdivision, categories), plus
    closures the package does not know, each with its reason."""

    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="None: weekends only.")
    subdiv: str | None = None
    categories: list[str] = Field(default_factory=lambda: ["public"])
    weekend: list[Weekday] = Field(default_factory=lambda: [5, 6])
    closed: dict[date, str] = Field(default_factory=dict, description="ISO date: reason.")
    description: str


class Calendars(Strict):
    calendars: dict[Slug, HolidayCalendar]
