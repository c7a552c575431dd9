from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clarion.incidents.cadence import next_update_due, tier_for
from clarion.kinds import CadenceTier, IncidentStatus
from clarion.playbook import load_playbook
from tests.helpers import PLAYBOOKS

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_tiers_are_hourly_daily_weekly() -> None:
    assert CadenceTier.URGENT.interval == timedelta(hours=1)
    assert CadenceTier.IMPORTANT.interval == timedelta(days=1)
    assert CadenceTier.ROUTINE.interval == timedelta(weeks=1)


@pytest.mark.parametrize(
    ("severity", "status", "due"),
    [
        ("sev1", IncidentStatus.INVESTIGATING, NOW + timedelta(hours=1)),
        ("sev1", IncidentStatus.MONITORING, NOW + timedelta(days=1)),
        ("sev1", IncidentStatus.RESOLVED, NOW + timedelta(weeks=1)),
        ("sev2", IncidentStatus.IDENTIFIED, NOW + timedelta(days=1)),
    ],
)
def test_next_update_follows_severity_and_status(
    severity: str, status: IncidentStatus, due: datetime
) -> None:
    playbook = load_playbook(PLAYBOOKS / "data-breach.yaml")
    assert next_update_due(playbook, severity, status, NOW) == due
    assert tier_for(playbook, severity, status).interval == due - NOW


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_update_due(
            load_playbook(PLAYBOOKS / "data-breach.yaml"),
            "sev1",
            IncidentStatus.RESOLVED,
            NOW.replace(tzinfo=None),
        )
