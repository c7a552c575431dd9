"""A scheduled maintenance on a Prefect test server: declared with its window, its steps become
scheduled runs, and a step's run publishes the step's update on every channel, or nothing when moot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from channels.sandbox.runner import SandboxHandle
from clarion import store
from clarion.kinds import UpdateKind, UpdateState
from clarion.settings import get_settings
from flows.incident import declare_incident
from flows.maintenance import maintenance_step
from flows.models import Declaration
from tests.flows.conftest import facts_file, start
from tests.flows.test_incident_flows import scheduled, updates
from tests.helpers import customers

OWNER = "platform-lead@example.com"


def seed_scope() -> None:
    """The maintenance playbook's audience query joins customers to the window's scope."""
    with store.get_engine().begin() as connection:
        connection.execute(
            sa.text(
                "create table customers (external_id text, email text, locale text, time_zone text,"
                " account_id int, role text)"
            )
        )
        connection.execute(sa.text("create table maintenance_scope (account_id int)"))
        connection.execute(
            sa.text(
                "insert into customers values ('c1', 'ops@one.example', 'en', 'Europe/Paris', 1, 'owner'),"
                " ('c2', 'admin@two.example', 'en', 'UTC', 2, 'admin')"
            )
        )
        connection.execute(sa.text("insert into maintenance_scope values (1), (2)"))


def test_a_maintenance_schedules_its_steps_and_a_step_publishes_its_update(
    sandbox: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_scope()
    site = tmp_path / "site"
    monkeypatch.setenv("CLARION_STATUSPAGE_EXPORT_DIR", str(site))
    get_settings.cache_clear()
    starts = (datetime.now(UTC) + timedelta(days=1, hours=1)).replace(microsecond=0)
    data = yaml.safe_load(facts_file("scheduled-maintenance").read_text(encoding="utf-8"))
    for key in ("as_of", "reference", "next_update_by"):
        data.pop(key, None)
    data["maintenance"] = {
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(minutes=90)).isoformat(),
    }
    running = start(
        lambda: declare_incident(
            Declaration(playbook="scheduled-maintenance", facts=data, commander="ic@example.com")
        )
    )
    running.answer(running.wait_paused(), role="change-owner", approver=OWNER, approved=True)
    assert running.join()["state"] == "published"
    sent = len(customers(sandbox.inbox("email")))
    assert sent == 2

    runs = {name: run for name, run in scheduled("INC-0001").items() if "maintenance" in name}
    assert sorted(runs) == [
        "INC-0001 · maintenance completed",
        "INC-0001 · maintenance reminder-1440m",
        "INC-0001 · maintenance started",
    ]
    reminder = runs["INC-0001 · maintenance reminder-1440m"]
    assert reminder.state_type.value == "SCHEDULED"
    assert abs((reminder.expected_start_time - (starts - timedelta(days=1))).total_seconds()) < 2

    # a run planned for another window (a correction moved it) publishes nothing
    assert (
        maintenance_step("INC-0001", "started", "20260101T000000Z-20260101T010000Z", "started") == "skipped"
    )
    assert len(updates("INC-0001")) == 1

    # the reminder's run publishes the reminder, with no approval (the playbook asks for none)
    params = reminder.parameters
    assert maintenance_step(**params).startswith("published update 2")
    one, two = updates("INC-0001")
    assert (two.kind, two.state, two.next_update_by) == (UpdateKind.UPDATE, UpdateState.PUBLISHED, starts)
    assert "A reminder" in two.apology["en"]["text"]
    assert two.cause == one.cause
    assert len(customers(sandbox.inbox("email"))) == sent + 2
    # every publication rewrote the static copy of the status page
    page = (site / "incidents" / "INC-0001" / "index.html").read_text(encoding="utf-8")
    assert "A reminder" in page and "Planned upgrade" in page
    assert (site / "api" / "v2" / "scheduled-maintenances" / "upcoming.json").is_file()
    # the same run again (a retry) publishes nothing new
    maintenance_step(**params)
    assert len(updates("INC-0001")) == 2 and len(customers(sandbox.inbox("email"))) == sent + 2
