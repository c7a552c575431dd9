"""An incident's clock: the wall clock, or the wall clock sped up for a demo.

With ``time_scale`` s (``CLARION_TIME_SCALE``), the incident's time runs s times faster than the
wall clock from the moment it was declared: ``incident_now = declared + (wall_now - declared) × s``.
Messages promise times on the incident's clock; timers are scheduled at the wall-clock moment that
corresponds (:meth:`IncidentClock.wall`). Every process derives the same mapping from the stored
declaration time, so a runner restarted mid-incident agrees with the one before it. s = 1 is the
identity: production never bends time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from clarion.models import utcnow


@dataclass(frozen=True)
class IncidentClock:
    anchor: datetime
    """When the incident was declared (wall clock, aware)."""
    scale: float = 1.0
    wall_now: Callable[[], datetime] = field(default=utcnow, compare=False)

    def __post_init__(self) -> None:
        if self.anchor.tzinfo is None:
            raise ValueError("the clock's anchor must be timezone-aware")
        if self.scale < 1:
            raise ValueError(f"time_scale must be at least 1, not {self.scale}")

    def now(self) -> datetime:
        """The incident's present."""
        return self.anchor + (self.wall_now() - self.anchor) * self.scale

    def wall(self, moment: datetime) -> datetime:
        """The wall-clock time at which the incident's clock shows ``moment``."""
        return self.anchor + (moment - self.anchor) / self.scale

    def wall_duration(self, span: timedelta) -> timedelta:
        """How long ``span`` of incident time takes on the wall clock."""
        return span / self.scale
