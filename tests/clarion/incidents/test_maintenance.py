"""Scheduled maintenance: the steps of a window and the update each one publishes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clarion.facts import Facts, Window, load_facts
from clarion.incidents.maintenance import Step, ahead, kind_of, plan, step_facts, still_due, window_key
from clarion.kinds import IncidentStatus, UpdateKind
from clarion.playbook import MaintenancePolicy, load_playbook
from clarion.settings import get_settings
from clarion.updates.render import Renderer
from tests.helpers import ROOT

PLAYBOOK = ROOT / "playbooks" / "scheduled-maintenance.yaml"
FACTS = ROOT / "examples" / "facts" / "scheduled-maintenance.yaml"
START = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
END = datetime(2026, 11, 29, 3, 30, tzinfo=UTC)


def announced() -> Facts:
    return load_facts(FACTS, load_playbook(PLAYBOOK))


def test_the_default_plan_reminds_a_day_ahead_starts_and_completes_at_the_end() -> None:
    steps = plan(MaintenancePolicy(), Window(starts_at=START, ends_at=END))
    assert [(p.key, p.at) for p in steps] == [
        ("reminder-1440m", START - timedelta(days=1)),
        ("started", START),
        ("completed", END),
    ]


def test_verify_for_adds_a_verifying_step_before_completion() -> None:
    policy = MaintenancePolicy(reminders=[], announce_start=False, verify_for=timedelta(minutes=30))
    steps = plan(policy, Window(starts_at=START, ends_at=END))
    assert [(p.step, p.at) for p in steps] == [
        (Step.VERIFYING, END),
        (Step.COMPLETED, END + timedelta(minutes=30)),
    ]
    assert [p.step for p in ahead(policy, Window(starts_at=START, ends_at=END), END)] == [Step.COMPLETED]


def test_a_moved_window_makes_the_old_runs_moot() -> None:
    facts = announced()
    assert facts.maintenance is not None
    key = window_key(facts.maintenance)
    assert still_due(facts, resolved=False, key=key)
    assert not still_due(facts, resolved=True, key=key)
    moved = facts.model_copy(
        update={"maintenance": Window(starts_at=START + timedelta(days=7), ends_at=END + timedelta(days=7))}
    )
    assert not still_due(moved, resolved=False, key=key)


@pytest.mark.parametrize(
    ("step", "status", "promise"),
    [
        (Step.REMINDER, IncidentStatus.IDENTIFIED, START),
        (Step.STARTED, IncidentStatus.IDENTIFIED, END),
        (Step.COMPLETED, IncidentStatus.RESOLVED, None),
    ],
)
def test_each_step_tells_its_wording_status_and_next_promise(
    step: Step, status: IncidentStatus, promise: datetime | None
) -> None:
    playbook = load_playbook(PLAYBOOK)
    policy = playbook.maintenance_policy
    assert policy is not None
    renderer = Renderer(playbook, get_settings().templates_dir, sms_max_segments=3)
    previous = announced()
    planned = next(p for p in plan(policy, previous.maintenance) if p.step is step)  # type: ignore[arg-type]
    facts = step_facts(
        previous,
        policy=policy,
        planned=planned,
        phrases={loc: renderer.locale_text(loc).maintenance[step.value] for loc in playbook.locales},
        when=lambda moment, locale: renderer.locale_text(locale).when(moment, "UTC", locale),
    )
    assert (facts.status, facts.next_update_by, facts.as_of) == (status, promise, planned.at)
    apology = facts.story["en"].apology.text or ""
    assert "Sun 29 Nov, 02:00" in apology or step is not Step.REMINDER
    assert "03:30" in apology or step is Step.COMPLETED
    assert facts.story["en"].cause == previous.story["en"].cause  # the rest stays as announced
    assert kind_of(step) is (UpdateKind.RESOLUTION if step is Step.COMPLETED else UpdateKind.UPDATE)


def test_maintenance_steps_belong_to_maintenance_playbooks_only() -> None:
    assert load_playbook(ROOT / "playbooks" / "outage.yaml").maintenance_policy is None
    assert load_playbook(PLAYBOOK).maintenance_policy == MaintenancePolicy()
