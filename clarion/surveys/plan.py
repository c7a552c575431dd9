"""When a survey is asked, reminded and closed, and when a scheduled run of it has become moot.

Pure rules the flows call (:mod:`flows.surveys`): a resolving update schedules the survey at the
playbook's delay after the resolution, on the incident's clock; a run finds it moot when the incident
is open again (a later update that is not resolved: the scheduled run is cancelled too, this catches
one that escaped), when the playbook asks no survey, or when the survey has closed already.
"""

from __future__ import annotations

from datetime import datetime

from clarion.facts import Facts
from clarion.kinds import IncidentStatus
from clarion.models import Survey
from clarion.playbook import Playbook


def ask_at(playbook: Playbook, resolution: Facts) -> datetime | None:
    """When the survey of an incident resolved with ``resolution`` is sent (incident time), or None."""
    if not playbook.survey.enabled or resolution.status is not IncidentStatus.RESOLVED:
        return None
    return resolution.as_of + playbook.survey.delay


def moot(
    playbook: Playbook, latest: IncidentStatus | None, survey: Survey | None, now: datetime
) -> str | None:
    """Why a survey run has nothing to do now (``now`` wall-clock), or None when it should go ahead."""
    if not playbook.survey.enabled:
        return "the playbook asks no survey"
    if latest is not IncidentStatus.RESOLVED:
        return "the incident is not resolved (it was reopened)"
    if survey is not None and survey.closes_at <= now:
        return "its survey has closed"
    return None
