"""Durations people write in playbooks and regimes (``30m``, ``2h``, ``3d``, ``1w``), with bounds.

A duration is checked before a :class:`~datetime.timedelta` is built from it, so ``999999999d``
is refused with the bound instead of overflowing, and every field that takes one says how long it
may be: no duration is longer than ten years, and the playbook's fields narrow that (an approval
timeout of 0 minutes would escalate at once; a survey sent in a hundred years is never sent).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from clarion.files.text import quoted

_DURATION = re.compile(r"^\s*(\d+)\s*(m|min|h|d|w)\s*$", re.ASCII)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_MINUTES = {"m": 1, "min": 1, "h": 60, "d": 24 * 60, "w": 7 * 24 * 60}
MAX_DURATION = timedelta(days=10 * 365)
"""No duration in a playbook or a regime is longer (ten years): a typo of 999999999d is refused."""


def parse_duration(value: Any) -> Any:
    """``"90m"``, ``"2h"``, ``"3d"``, ``"1w"`` → timedelta. Other values go on to pydantic.

    The number is checked before a timedelta is built, so a huge one is refused with the bound
    instead of overflowing.
    """
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{quoted(value, limit=40)} is not a duration such as 30m, 2h, 3d or 1w")
        digits, unit = match.groups()
        if len(digits.lstrip("0")) > 9 or int(digits) * _MINUTES[unit] > MAX_DURATION // timedelta(minutes=1):
            raise ValueError(f"{quoted(value, limit=40)} is longer than {say_duration(MAX_DURATION)}")
        return timedelta(**{_UNITS[unit]: int(digits)})
    return value


def say_duration(span: timedelta) -> str:
    """``5 minutes``, ``1 day``, ``10 years``: a duration as a person reads it."""
    if span < timedelta(0):
        return "a negative duration"
    seconds = int(span.total_seconds())
    for size, unit in ((365 * 86400, "year"), (86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "0" if seconds == 0 else f"{span.total_seconds():g} seconds"


def _between(low: timedelta, high: timedelta) -> AfterValidator:
    """Refuse a duration outside [low, high], saying the bound."""
    bounds = f" (it must be between {say_duration(low)} and {say_duration(high)})" if low else ""

    def check(value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("a duration cannot be negative")
        if value < low:
            raise ValueError(f"{say_duration(value)} is shorter than {say_duration(low)}{bounds}")
        if value > high:
            raise ValueError(f"{say_duration(value)} is longer than {say_duration(high)}{bounds}")
        return value

    return AfterValidator(check)


Duration = Annotated[timedelta, BeforeValidator(parse_duration), _between(timedelta(0), MAX_DURATION)]
"""A duration written ``30m``, ``2h``, ``3d`` or ``1w``, from 0 to ten years; the fields below narrow it."""

ApprovalTimeout = Annotated[Duration, _between(timedelta(minutes=5), timedelta(days=7))]
HoldingGrace = Annotated[Duration, _between(timedelta(0), timedelta(days=1))]
AcknowledgementPromise = Annotated[Duration, _between(timedelta(minutes=5), timedelta(days=1))]
SurveyDelay = Annotated[Duration, _between(timedelta(0), timedelta(days=90))]
SurveyExpiry = Annotated[Duration, _between(timedelta(days=1), timedelta(days=365))]
SurveyReminder = Annotated[Duration, _between(timedelta(hours=1), timedelta(days=60))]
SurveyRetention = Annotated[Duration, _between(timedelta(days=1), timedelta(days=3 * 365))]
MaintenanceLead = Annotated[Duration, _between(timedelta(minutes=5), timedelta(days=30))]
VerifyFor = Annotated[Duration, _between(timedelta(0), timedelta(days=1))]
CommitmentLead = Annotated[Duration, _between(timedelta(hours=1), timedelta(days=90))]
FallbackAfter = Annotated[Duration, _between(timedelta(minutes=5), timedelta(days=7))]
