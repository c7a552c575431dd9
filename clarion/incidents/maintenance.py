"""Scheduled maintenance: the steps a window takes, and the update that tells each one.

A maintenance is declared with its window (``maintenance.starts_at`` / ``ends_at`` in the facts).
Its playbook's :class:`~clarion.playbook.MaintenancePolicy` says what follows, each step a
published update that every channel carries:

* a **reminder** this long before the start (the playbook's ``reminders``, e.g. one day);
* **started** at the window's start (``announce_start``);
* **completed** at its end, or first **verifying** at the end and **completed** ``verify_for`` later.

The flows schedule one Prefect run per step (:func:`plan`) when an update of a maintenance is
published; a run names the window it was planned for (:func:`window_key`), so when a correction
moves the window the old runs find it changed and do nothing (:func:`still_due`), while the new
update schedules the new ones. Each step's update is the last one's facts with the step's wording as
the apology (cause, fix and prevention stay as announced), the step's status, and the next step as
its promise. Its ``as_of`` is the planned moment, so a retried run drafts the same content and the
store keeps one update.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from clarion.errors import InputError, Problem
from clarion.facts import Facts, Window
from clarion.kinds import IncidentStatus, UpdateKind
from clarion.playbook import MaintenancePolicy


class Step(StrEnum):
    REMINDER = "reminder"
    STARTED = "started"
    VERIFYING = "verifying"
    COMPLETED = "completed"


STATUS = {
    Step.REMINDER: IncidentStatus.IDENTIFIED,
    Step.STARTED: IncidentStatus.IDENTIFIED,
    Step.VERIFYING: IncidentStatus.MONITORING,
    Step.COMPLETED: IncidentStatus.RESOLVED,
}
"""The public status each step's update carries (the page shows the maintenance's own statuses)."""


@dataclass(frozen=True)
class Planned:
    step: Step
    at: datetime
    lead: timedelta | None = None
    """How long before the start a reminder goes out."""

    @property
    def key(self) -> str:
        """Names the step within its window: ``reminder-1440m``, ``started``, ``completed``."""
        if self.lead is None:
            return self.step.value
        return f"{self.step.value}-{int(self.lead.total_seconds() // 60)}m"


def window_key(window: Window) -> str:
    """The window as the runs planned for it name it; a moved window has another key."""
    return f"{window.starts_at:%Y%m%dT%H%M%SZ}-{window.ends_at:%Y%m%dT%H%M%SZ}"


def plan(policy: MaintenancePolicy, window: Window) -> list[Planned]:
    """Every step of ``window``, in time order."""
    steps = [Planned(Step.REMINDER, window.starts_at - lead, lead) for lead in sorted(set(policy.reminders))]
    if policy.announce_start:
        steps.append(Planned(Step.STARTED, window.starts_at))
    if policy.verify_for:
        steps.append(Planned(Step.VERIFYING, window.ends_at))
        steps.append(Planned(Step.COMPLETED, window.ends_at + policy.verify_for))
    else:
        steps.append(Planned(Step.COMPLETED, window.ends_at))
    return sorted(steps, key=lambda p: p.at)


def ahead(policy: MaintenancePolicy, window: Window, after: datetime) -> list[Planned]:
    """The steps still to come after ``after``."""
    return [p for p in plan(policy, window) if p.at > after]


def still_due(facts: Facts, *, resolved: bool, key: str) -> bool:
    """Whether a run planned for window ``key`` should still publish: the maintenance is not over and
    its window (as last published) is the one the run was planned for."""
    return not resolved and facts.maintenance is not None and window_key(facts.maintenance) == key


def step_facts(
    previous: Facts,
    *,
    policy: MaintenancePolicy,
    planned: Planned,
    phrases: Mapping[str, Mapping[str, str]],
    when: Callable[[datetime, str], str],
) -> Facts:
    """The update of ``planned``: the previous facts, the step's wording as the apology, its status,
    and the next step as the promise. ``phrases[locale]`` holds the step's ``text`` and ``short``;
    ``when(moment, locale)`` writes a time as the locale shows it."""
    window = previous.maintenance
    if window is None:
        raise InputError([Problem("maintenance", None, "maintenance", "the update carries no window")])
    data: dict[str, Any] = json.loads(previous.model_dump_json())
    data.pop("next_update_by", None)
    data["as_of"] = planned.at.isoformat()
    data["status"] = STATUS[planned.step].value
    if planned.step is not Step.REMINDER:
        data["started_at"] = window.starts_at.isoformat()
    following = ahead(policy, window, planned.at)
    if following:
        data["next_update_by"] = following[0].at.isoformat()
    for locale, told in data["story"].items():
        wording = phrases.get(locale)
        if wording is None:
            raise InputError(
                [
                    Problem(
                        "templates", None, f"_locale/{locale}.yaml", f"no maintenance.{planned.step} wording"
                    )
                ]
            )
        values = {
            "title": told.get("title") or previous.title,
            "starts": when(window.starts_at, locale),
            "ends": when(window.ends_at, locale),
        }
        told["apology"] = {
            "text": wording["text"].format(**values),
            "short": wording["short"].format(**values),
        }
    return Facts.model_validate(data)


def kind_of(step: Step) -> UpdateKind:
    return UpdateKind.RESOLUTION if step is Step.COMPLETED else UpdateKind.UPDATE
