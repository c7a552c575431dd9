"""End to end on a Prefect test server: declare → approve → publish to every channel → update →
lapse → holding statement → resolve, checked in the provider sandbox, the ledger and the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactCollectionFilter,
    ArtifactCollectionFilterKey,
    FlowRunFilter,
    FlowRunFilterTags,
)
from prefect.settings import PREFECT_API_URL
from sqlmodel import Session, col, select

from channels.sandbox.runner import SandboxHandle
from clarion import store
from clarion.incidents.lifecycle import Phase
from clarion.kinds import ApprovalDecision, Channel, DeadlineState, DeliveryState, UpdateKind, UpdateState
from clarion.models import Approval, AuditEvent, Banner, Deadline, Delivery, Incident, Update
from clarion.outbox.counts import state_counts
from flows.cadence import cadence_check, draft_holding
from flows.incident import declare_incident, post_update, resolve_incident
from flows.models import Declaration, UpdateRequest
from flows.publish import publish_update
from tests.flows.conftest import facts_file, start
from tests.helpers import customers

LEGAL = "legal-on-call@example.com"
DPO = "dpo@example.com"


def declaration(playbook: str, **changes: Any) -> Declaration:
    data = yaml.safe_load(facts_file(playbook).read_text(encoding="utf-8"))
    for key in ("as_of", "aware_at", "reference", "started_at", "next_update_by"):
        data.pop(key, None)
    data.update(changes)
    return Declaration(playbook=playbook, facts=data, commander="ic@example.com")


def session() -> Session:
    return Session(store.get_engine(), expire_on_commit=False)


def updates(reference: str) -> list[Update]:
    with session() as s:
        incident = s.exec(select(Incident).where(Incident.reference == reference)).one()
        return list(
            s.exec(select(Update).where(Update.incident_id == incident.id).order_by(col(Update.number)))
        )


def audit_actions(reference: str) -> list[str]:
    with session() as s:
        entries = s.exec(select(AuditEvent).where(col(AuditEvent.subject).startswith(reference)))
        return [e.action for e in entries]


def scheduled(reference: str) -> dict[str, Any]:
    """The incident's runs by name, the newest of each name: the Prefect test server lives for the
    session, and an earlier test's incident of the same reference may have left runs of that name."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[reference])))
    return {r.name: r for r in sorted(runs, key=lambda r: r.created or r.expected_start_time)}


def approve_breach(sandbox: SandboxHandle) -> dict[str, Any]:
    """Declare the example data breach and answer both approvals as the playbook's approvers."""
    running = start(lambda: declare_incident(declaration("data-breach")))
    paused = running.wait_paused()
    assert paused.name.endswith("· update 1 · publish")
    running.answer(paused, role="legal", approver=LEGAL, approved=True)
    running.answer(running.wait_paused(), role="dpo", approver=DPO, approved=True)
    return running.join()


def test_declare_pauses_for_approval_and_publishes_on_every_channel(sandbox: SandboxHandle) -> None:
    running = start(lambda: declare_incident(declaration("data-breach")))
    paused = running.wait_paused()
    assert paused.name == "INC-0001 · update 1 · publish"
    assert customers(sandbox.inbox()) == []  # nothing public leaves before the approvals
    # but the approvers are asked, each on their own channels, with the command that answers
    asked = {r.address: r for r in sandbox.inbox("email") if "Approval needed" in (r.subject or "")}
    assert set(asked) == {LEGAL, DPO}
    assert f"clarion approve INC-0001 --as legal --by {LEGAL}" in (asked[LEGAL].text or "")
    # the defaults of the form are the safe choice: a bare "Resume" approves nothing
    running.answer(paused, role="legal")
    # someone who is not a legal approver cannot approve for legal
    running.answer(running.wait_paused(), role="legal", approver="intern@example.com", approved=True)
    assert customers(sandbox.inbox()) == []
    running.answer(running.wait_paused(), role="legal", approver=LEGAL, approved=True)
    running.answer(
        running.wait_paused(), role="dpo", approver="Deputy-DPO@example.com", approved=True
    )  # backup
    result = running.join()

    assert result["state"] == "published"
    received = {c: len(customers(sandbox.inbox(c))) for c in ("email", "sms", "mastodon", "bluesky")}
    # the breach's story does not fit one Bluesky post: a thread per locale, the first post and a
    # reply for each part it points to (cause, fix, prevention)
    assert received == {"email": 5, "sms": 5, "mastodon": 2, "bluesky": 2 * 4}
    bodies = " ".join(str(r.as_json()) for r in sandbox.inbox("email"))
    assert "INC-0001" in bodies
    [update] = updates("INC-0001")
    counts = state_counts(store.get_engine(), update_id=update.id)
    assert counts == {
        (Channel.EMAIL, DeliveryState.ACCEPTED): 5,
        (Channel.SMS, DeliveryState.ACCEPTED): 5,
        (Channel.MASTODON, DeliveryState.ACCEPTED): 2,
        (Channel.BLUESKY, DeliveryState.ACCEPTED): 2,
        (Channel.BANNER, DeliveryState.ACCEPTED): 4,
    }
    with session() as s:
        assert len(s.exec(select(Banner)).all()) == 4  # two audiences × two locales
        decisions = [
            (a.role, a.approver, a.decision) for a in s.exec(select(Approval).order_by(col(Approval.id)))
        ]
    assert decisions == [
        ("legal", LEGAL, ApprovalDecision.APPROVED),
        ("dpo", "Deputy-DPO@example.com", ApprovalDecision.APPROVED),
    ]
    [update] = updates("INC-0001")
    assert (update.kind, update.state) == (UpdateKind.INITIAL, UpdateState.PUBLISHED)
    actions = audit_actions("INC-0001")
    assert actions[:6] == [
        "incident.declared",
        "deadline.started",  # GDPR Art. 33: 72 h to the supervisory authority
        "deadline.started",  # Art. 34: the people affected, without undue delay
        "approval.requested",
        "approval.approved",
        "approval.approved",
    ]
    assert "update.published" in actions
    # the first update to the people affected is GDPR Art. 34's communication; Art. 33's notice to
    # the supervisory authority is still owed
    with session() as s:
        clocks = {(d.regime, d.stage): d for d in s.exec(select(Deadline))}
    assert clocks["gdpr-art34", "data-subjects"].state is DeadlineState.MET
    assert clocks["gdpr-art34", "data-subjects"].submission_reference == "INC-0001 update 1"
    assert clocks["gdpr-art33", "initial"].state is DeadlineState.OPEN

    # the cadence timers are scheduled runs at the promise (less the reminder lead, plus the grace)
    runs = scheduled("INC-0001")
    reminder, lapse = runs["INC-0001 · update 1 · reminder"], runs["INC-0001 · update 1 · lapse"]
    assert reminder.state_type.value == lapse.state_type.value == "SCHEDULED"
    promise = update.next_update_by
    assert promise - update.created_at == pytest.approx(timedelta(hours=1), abs=timedelta(seconds=30))  # sev1
    assert reminder.expected_start_time == pytest.approx(
        promise - timedelta(minutes=15), abs=timedelta(seconds=1)
    )
    assert lapse.expected_start_time == pytest.approx(
        promise + timedelta(minutes=10), abs=timedelta(seconds=1)
    )
    # the escalations were cancelled once both roles had answered
    escalations = [r for name, r in runs.items() if "escalate" in name]
    assert {r.state_type.value for r in escalations} == {"CANCELLED"}


def test_a_rejection_sends_nothing(sandbox: SandboxHandle) -> None:
    running = start(lambda: declare_incident(declaration("data-breach")))
    paused = running.wait_paused()
    running.answer(paused, role="legal", approver=LEGAL, approved=False)  # no reason: not yet a rejection
    running.answer(running.wait_paused(), role="legal", approver=LEGAL, reason="Names the wrong time window")
    result = running.join()

    assert result["state"] == "rejected"
    assert customers(sandbox.inbox()) == []
    [update] = updates("INC-0001")
    assert update.state is UpdateState.REJECTED
    with session() as s:
        assert s.exec(select(Delivery).where(col(Delivery.update_id).is_not(None))).all() == []
        [approval] = s.exec(select(Approval)).all()
    assert (approval.decision, approval.reason) == (ApprovalDecision.REJECTED, "Names the wrong time window")
    assert "approval.rejected" in audit_actions("INC-0001")


def test_an_edit_needs_every_role_again(sandbox: SandboxHandle) -> None:
    running = start(lambda: declare_incident(declaration("data-breach")))
    running.answer(running.wait_paused(), role="legal", approver=LEGAL, approved=True)
    new_cause = "A configuration change removed the login requirement; our review missed it."
    running.answer(
        running.wait_paused(),
        role="dpo",
        approver=DPO,
        story={"en": {"cause": {"text": new_cause}}},
        reason="clearer",
    )
    paused = running.wait_paused()  # legal must look at the edited text
    running.answer(paused, role="legal", approver=LEGAL, approved=True)
    result = running.join()

    assert result["state"] == "published"
    [update] = updates("INC-0001")
    assert update.cause is not None and update.cause["en"]["text"] == new_cause
    assert any(new_cause in str(r.as_json()) for r in sandbox.inbox("email"))


def test_an_edit_that_does_not_fit_is_refused_and_the_approval_keeps_waiting(sandbox: SandboxHandle) -> None:
    running = start(lambda: declare_incident(declaration("data-breach")))
    paused = running.wait_paused()
    too_long = "We are sorry. " * 50  # beyond three SMS segments, within what a short form may hold
    running.answer(
        paused, role="legal", approver=LEGAL, story={"en": {"apology": {"text": too_long, "short": too_long}}}
    )
    running.answer(running.wait_paused(), role="legal", approver=LEGAL, approved=True)  # still waiting
    running.answer(running.wait_paused(), role="dpo", approver=DPO, approved=True)
    result = running.join()

    assert result["state"] == "published"
    [update] = updates("INC-0001")
    assert update.apology["en"]["text"] != too_long
    with session() as s:
        decisions = [a.decision for a in s.exec(select(Approval).order_by(col(Approval.id)))]
    assert decisions == [
        ApprovalDecision.APPROVED,
        ApprovalDecision.APPROVED,
    ]  # the refused edit left no trace


def test_update_lapse_holding_statement_and_resolution(sandbox: SandboxHandle) -> None:
    approve_breach(sandbox)
    sent_before = len(customers(sandbox.inbox("email")))

    # the reminder before the promise lapses: recorded, told to the commander, nothing public sent
    assert cadence_check("INC-0001", 1, Phase.REMINDER) == "remind"
    assert "cadence.reminder" in audit_actions("INC-0001")
    assert len(customers(sandbox.inbox("email"))) == sent_before
    reminded = [r for r in sandbox.inbox("email") if "The next update is promised" in (r.subject or "")]
    assert [r.address for r in reminded] == ["commander@acme.example"] or reminded == []

    # the promise lapses: a holding statement goes out on every channel, without approval
    assert cadence_check("INC-0001", 1, Phase.LAPSE) == "hold"
    one, holding = updates("INC-0001")
    assert (holding.kind, holding.state) == (UpdateKind.HOLDING, UpdateState.PUBLISHED)
    assert holding.next_update_by > one.next_update_by

    def holding(text: str) -> bool:
        return "no new information since" in text or "keine neuen" in text

    # told apart by their words, not their place: a message of update 1 a slow provider left for a
    # retry may arrive after sent_before was counted (the notices' immediate send flushes it)
    holding_mails = [r for r in customers(sandbox.inbox("email")) if holding(str(r.as_json()))]
    assert len(holding_mails) == 5 and len(customers(sandbox.inbox("email"))) >= sent_before + 5
    assert len(sandbox.inbox("mastodon")) == 4
    # the holding statement superseded update 1's timers
    runs = scheduled("INC-0001")
    assert runs["INC-0001 · update 2 · lapse"].state_type.value == "SCHEDULED"
    assert cadence_check("INC-0001", 1, Phase.LAPSE) == "nothing"

    # a real update: status monitoring, needs approval again
    running = start(
        lambda: post_update(
            UpdateRequest(
                reference="INC-0001",
                status="monitoring",
                story={"en": {"fix": {"text": "We closed access and rotated every credential."}}},
            )
        )
    )
    running.answer(running.wait_paused(), role="legal", approver=LEGAL, approved=True)
    running.answer(running.wait_paused(), role="dpo", approver=DPO, approved=True)
    assert running.join()["state"] == "published"

    running = start(lambda: resolve_incident(UpdateRequest(reference="INC-0001")))
    running.answer(running.wait_paused(), role="legal", approver=LEGAL, approved=True)
    running.answer(running.wait_paused(), role="dpo", approver=DPO, approved=True)
    assert running.join()["state"] == "published"

    kinds = [(u.number, u.kind, u.status.value) for u in updates("INC-0001")]
    assert kinds == [
        (1, UpdateKind.INITIAL, "identified"),
        (2, UpdateKind.HOLDING, "identified"),
        (3, UpdateKind.UPDATE, "monitoring"),
        (4, UpdateKind.RESOLUTION, "resolved"),
    ]
    with session() as s:
        incident = s.exec(select(Incident)).one()
        assert incident.resolved_at is not None
        assert s.exec(select(Banner).where(col(Banner.cleared_at).is_(None))).all() == []
    # the resolution published the post-incident report, as its figures stood then
    with get_client(sync_client=True) as client:
        artifacts = client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=["inc-0001-report"])
            )
        )
    report = str(artifacts[0].data)
    assert report.startswith("# INC-0001 post-incident report: ")
    assert "- **Promises kept**: 3 of 3 (100 %)" in report  # the holding statement kept update 1's


def test_holding_statements_stop_at_the_playbook_limit(sandbox: SandboxHandle) -> None:
    approve_breach(sandbox)
    for number in (1, 2, 3):  # max_consecutive: 3
        assert cadence_check("INC-0001", number, Phase.LAPSE) == "hold"
    assert cadence_check("INC-0001", 4, Phase.LAPSE) == "escalate"
    assert audit_actions("INC-0001").count("cadence.lapsed") == 4


def test_a_holding_statement_published_without_its_base_is_still_refused_when_stale(
    sandbox: SandboxHandle,
) -> None:
    """A publish run started again for a pending approval (:mod:`flows.recovery`) is not told which
    update's promise the holding statement keeps; an update that went out after the holding statement
    was drafted still stops it."""
    approve_breach(sandbox)
    number = draft_holding.fn("INC-0001", 1)
    one = updates("INC-0001")[0]
    with session() as s:
        drafted = s.exec(select(Update).where(Update.number == number)).one()
        assert one.published_at is not None
        drafted.created_at = one.published_at - timedelta(minutes=1)  # drafted before update 1 went out
        s.add(drafted)
        s.commit()
    sent = len(customers(sandbox.inbox("email")))

    assert publish_update("INC-0001", number)["state"] == "rejected"
    assert updates("INC-0001")[1].state is UpdateState.REJECTED
    assert "update.superseded" in audit_actions("INC-0001")
    assert len(customers(sandbox.inbox("email"))) == sent


def test_deployment_schema_is_typed_and_bad_parameters_are_refused(prefect_server: None) -> None:
    api = PREFECT_API_URL.value()
    deployment = httpx.get(f"{api}/deployments/name/declare-incident/declare an incident").json()
    schema = deployment["parameter_openapi_schema"]
    assert schema["required"] == ["declaration"]
    definitions = schema["definitions"]
    declaration_form = definitions["Declaration"]["properties"]
    assert "data-breach" in declaration_form["playbook"]["enum"]
    facts_form = definitions["IncidentFacts"]["properties"]
    assert {"sev1", "sev2"} <= set(facts_form["severity"]["enum"])
    assert definitions["IncidentStatus"]["enum"] == ["investigating", "identified", "monitoring", "resolved"]
    assert facts_form["as_of"]["description"].startswith("When this update is published")
    assert deployment["enforce_parameter_schema"] is True

    bad = {"declaration": {"playbook": "no-such-playbook", "facts": {}}}
    answer = httpx.post(f"{api}/deployments/{deployment['id']}/create_flow_run", json={"parameters": bad})
    assert answer.status_code == 409
    assert "Validation failed" in answer.json()["detail"]
