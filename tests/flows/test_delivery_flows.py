"""A publish that fails part-way, a declaration that cannot draft, a first update that was rejected.

Issue 12 saw the production set-up end a publish Failed with 11 messages pending, no cadence timer
and nothing to retry them; an incident whose first update could not be drafted stayed a dead end.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from channels.sandbox.runner import SandboxHandle
from clarion import store
from clarion.errors import InputError
from clarion.kinds import Channel, DeliveryState, UpdateKind, UpdateState
from clarion.models import AuditEvent, Incident, Update
from clarion.outbox.counts import state_counts
from flows import delivery
from flows.delivery import DeliveryIncomplete, retry_delivery
from flows.incident import declare_incident, post_update
from flows.models import UpdateRequest
from tests.flows.conftest import start
from tests.flows.test_incident_flows import DPO, LEGAL, declaration, scheduled
from tests.helpers import customers

COMMS = "comms-on-call@example.com"


def _actions(reference: str) -> list[str]:
    with Session(store.get_engine()) as s:
        return list(s.exec(select(AuditEvent.action).where(col(AuditEvent.subject).startswith(reference))))


def test_a_publish_that_fails_part_way_is_seen_and_a_retry_completes(
    sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SMS task fails (as Alembic's KeyError did in a task): the other channels go, the cadence
    is set, the failure is audited and a retry run is scheduled; the retry sends the rest, once."""
    real = delivery.run_worker

    def sms_breaks(*args: Any, **kwargs: Any) -> Any:
        if Channel.SMS in kwargs.get("channels", ()):
            raise KeyError("script")
        return real(*args, **kwargs)

    monkeypatch.setattr(delivery, "run_worker", sms_breaks)
    running = start(lambda: declare_incident(declaration("outage", reference="INC-0901")))
    running.answer(running.wait_paused(), role="comms-lead", approver=COMMS, approved=True)
    with pytest.raises(DeliveryIncomplete, match="not fully sent"):
        running.join()

    counts = state_counts(store.get_engine())
    assert counts[(Channel.SMS, DeliveryState.PENDING)] > 0
    assert counts[(Channel.EMAIL, DeliveryState.ACCEPTED)] > 0
    assert "update.delivery-incomplete" in _actions("INC-0901")
    timers = scheduled("INC-0901")
    assert "INC-0901 · update 1 · retry delivery 2" in timers
    assert {"INC-0901 · update 1 · reminder", "INC-0901 · update 1 · lapse"} <= set(timers)

    monkeypatch.setattr(delivery, "run_worker", real)
    retry_delivery("INC-0901", 1, 2)

    counts = state_counts(store.get_engine())
    assert {state for (_, state) in counts} <= {DeliveryState.ACCEPTED, DeliveryState.SUPPRESSED}
    duplicates = sandbox.stats()["duplicates"]
    assert {"email", "sms", "mastodon", "bluesky"} <= set(duplicates) and set(duplicates.values()) == {0}


def test_a_declaration_whose_audience_cannot_be_read_leaves_no_incident(sandbox: SandboxHandle) -> None:
    with store.get_engine().begin() as connection:
        connection.execute(sa.text("DROP TABLE affected_customers"))

    with pytest.raises(InputError, match="the query failed"):
        declare_incident(declaration("data-breach", reference="INC-0902"))

    with Session(store.get_engine()) as s:
        assert s.exec(select(Incident)).all() == []


def test_a_rejected_first_update_can_be_posted_again_from_the_declaration(sandbox: SandboxHandle) -> None:
    running = start(lambda: declare_incident(declaration("data-breach", reference="INC-0903")))
    running.answer(running.wait_paused(), role="legal", approver=LEGAL, approved=False, reason="wrong window")
    assert running.join()["state"] == UpdateState.REJECTED.value

    again = start(lambda: post_update(UpdateRequest(reference="INC-0903")))
    again.answer(again.wait_paused(), role="legal", approver=LEGAL, approved=True)
    again.answer(again.wait_paused(), role="dpo", approver=DPO, approved=True)
    assert again.join()["state"] == UpdateState.PUBLISHED.value

    with Session(store.get_engine()) as s:
        rows = s.exec(select(Update.number, Update.kind, Update.state).order_by(col(Update.number))).all()
    assert [tuple(r) for r in rows] == [
        (1, UpdateKind.INITIAL, UpdateState.REJECTED),
        (2, UpdateKind.INITIAL, UpdateState.PUBLISHED),
    ]
    assert len(customers(sandbox.inbox("email"))) == 5
