"""The first word at declaration (issue 17, item 1): the acknowledgement goes out before any approval,
on the status page and the banner only; the short declare form says just that, and the first full
update follows with its approval."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from sqlmodel import Session, col, select

from channels.sandbox.runner import SandboxHandle
from clarion import store
from clarion.errors import InputError, PlaybookError
from clarion.kinds import Channel, UpdateKind, UpdateState
from clarion.models import AuditEvent, Banner, Delivery, Incident, Update
from flows.incident import declare_incident, declare_incident_short, post_update
from flows.models import Declaration, ShortDeclaration, UpdateRequest
from tests.flows.conftest import facts_file, start
from tests.helpers import customers

COMMS = "comms-on-call@example.com"


def _updates() -> list[Update]:
    with Session(store.get_engine()) as session:
        return list(session.exec(select(Update).order_by(col(Update.number))))


def _channels(update_id: int | None) -> set[Channel]:
    with Session(store.get_engine()) as session:
        return {d.channel for d in session.exec(select(Delivery).where(Delivery.update_id == update_id))}


def test_declare_acknowledges_before_the_approval_and_publishes_after_it(sandbox: SandboxHandle) -> None:
    data: dict[str, Any] = yaml.safe_load(facts_file("degraded-performance").read_text(encoding="utf-8"))
    for key in ("as_of", "aware_at", "reference", "started_at", "next_update_by"):
        data.pop(key, None)
    data["status"] = "investigating"  # the urgent tier: no recipient's quiet hours hold it
    running = start(lambda: declare_incident(Declaration(playbook="degraded-performance", facts=data)))
    paused = running.wait_paused()

    assert paused.name == "INC-0001 · update 2 · publish"
    [ack, first] = _updates()
    assert (ack.kind, ack.state) == (UpdateKind.ACKNOWLEDGEMENT, UpdateState.PUBLISHED)
    assert first.state is UpdateState.PENDING_APPROVAL
    assert _channels(ack.id) == {Channel.BANNER}
    assert customers(sandbox.inbox("email")) == []  # nobody in person before the approval
    with Session(store.get_engine()) as session:
        [banner] = session.exec(select(Banner))
    assert banner.text.startswith("INC-0001 · Investigating: We know about")

    running.answer(paused, role="comms-lead", approver=COMMS, approved=True)
    result = running.join()

    assert result["state"] == "published"
    [ack, first] = _updates()
    assert (first.kind, first.state) == (UpdateKind.INITIAL, UpdateState.PUBLISHED)
    assert customers(sandbox.inbox("email"))  # the story, approved, reached the affected customers


WHAT = "p99 latency of the public API is 8 s since 10:05; the on-call is on it"


def test_the_short_form_acknowledges_and_the_first_update_brings_the_story(sandbox: SandboxHandle) -> None:
    result = declare_incident_short(
        ShortDeclaration(
            playbook="degraded-performance",
            severity="sev1",
            title="Slow API in eu-west",
            what_happened=WHAT,
            components=["api"],
            commander="ic@example.com",
        )
    )

    assert result["state"] == "published"
    [ack] = _updates()
    assert ack.kind is UpdateKind.ACKNOWLEDGEMENT
    assert ack.facts["story"]["en"]["apology"]["text"].startswith(
        'We are aware of a problem: "Slow API in eu-west" (affecting api).'
    )
    assert "8 s" not in str(ack.facts)  # what happened is for the people inside
    with Session(store.get_engine()) as session:
        [noted] = session.exec(select(AuditEvent).where(AuditEvent.action == "incident.short-form"))
    assert noted.details == {
        "what_happened": "p99 latency of the public API is 8 s since 10:05; the on-call is on it"
    }
    assert customers(sandbox.inbox("email")) == []

    story = {
        "en": {
            "apology": {
                "text": "Since 10:05 UTC the API has been slow for customers in eu-west. We are sorry."
            },
            "cause": {"text": "A database node is overloaded."},
            "fix": {"text": "We are moving traffic to a healthy node."},
        }
    }
    running = start(lambda: post_update(UpdateRequest(reference="INC-0001", story=story)))
    paused = running.wait_paused()  # the first full update needs the comms lead
    running.answer(paused, role="comms-lead", approver=COMMS, approved=True)
    running.join()

    [_, first] = _updates()
    assert (first.kind, first.state) == (UpdateKind.INITIAL, UpdateState.PUBLISHED)
    assert first.facts["story"]["en"]["cause"]["text"] == "A database node is overloaded."


@pytest.mark.parametrize(
    ("playbook", "severity", "error", "message"),
    [
        ("data-breach", "sev1", PlaybookError, r"the short declare form needs acknowledgement\.short_form"),
        ("degraded-performance", "sev3", InputError, r"severity: 'sev3' is not one of sev1, sev2"),
    ],
)
def test_a_short_form_that_cannot_be_declared_opens_nothing(
    sandbox: SandboxHandle, playbook: str, severity: str, error: type[Exception], message: str
) -> None:
    short = ShortDeclaration(
        playbook=playbook, severity=severity, title="Slow API", what_happened="slow", components=[]
    )
    with pytest.raises(error, match=message):
        declare_incident_short(short)
    with Session(store.get_engine()) as session:
        assert session.exec(select(Incident)).all() == []
