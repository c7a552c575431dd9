"""Cadence: how often we promise to speak, and when the next update is due.

urgent = hourly, important = daily, routine = weekly. A playbook maps each severity to a tier and
may step it down as the incident moves on (hourly while investigating, daily while monitoring, …).
"""

from __future__ import annotations

from datetime import datetime

from clarion.kinds import CadenceTier, IncidentStatus
from clarion.playbook import Playbook


def tier_for(playbook: Playbook, severity: str, status: IncidentStatus) -> CadenceTier:
    """The cadence tier for an incident of ``severity`` in ``status`` under ``playbook``."""
    return playbook.severities[severity].tier_for(status)


def next_update_due(playbook: Playbook, severity: str, status: IncidentStatus, as_of: datetime) -> datetime:
    """When the next update is promised, counted from ``as_of`` (an aware datetime)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    return as_of + tier_for(playbook, severity, status).interval
