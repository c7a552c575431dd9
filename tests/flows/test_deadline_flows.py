"""Regulatory clocks watched by Prefect runs: thresholds, events, escalation, the countdown artifact.

Incidents are opened in the store with an awareness time in the past (as if declared then), then the
flows run as the scheduled runs would. Events are caught by Prefect's asserting events worker, so
what an automation would see is checked, not just the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactCollectionFilter,
    ArtifactCollectionFilterKey,
    FlowRunFilter,
    FlowRunFilterTags,
)
from prefect.events.clients import AssertingEventsClient
from prefect.events.worker import EventsWorker
from sqlmodel import Session, col, select

from channels.delivery import run_worker
from channels.sandbox.runner import SandboxHandle
from clarion import store
from clarion.compliance import deadlines
from clarion.incidents.lifecycle import open_incident
from clarion.kinds import DeadlineState, IncidentStatus
from clarion.models import AuditEvent, Deadline, Incident, Notice
from clarion.playbook import load_playbook
from clarion.settings import get_settings
from flows.deadlines import deadline_check, watch_deadlines
from flows.incident import declare_incident
from tests.flows.conftest import start
from tests.flows.test_incident_flows import declaration
from tests.helpers import ROOT

ESCALATED_TO = {
    "ic@example.com",
    "legal-on-call@example.com",
    "dpo@example.com",
    "general-counsel@example.com",
    "deputy-dpo@example.com",
}


def declared_ago(hours: float, reference: str, *, jurisdictions: tuple[str, ...] = ()) -> str:
    """A data-breach incident whose awareness was ``hours`` ago (its clocks started then). Each test
    names its own reference: the Prefect server, and the runs scheduled on it, outlive a test."""
    book = load_playbook(ROOT / "playbooks" / "data-breach.yaml")
    with Session(store.get_engine(), expire_on_commit=False) as session:
        incident = open_incident(
            session=session,
            playbook=book,
            reference=reference,
            title="Customer contact details exposed",
            severity="sev1",
            status=IncidentStatus.INVESTIGATING,
            aware_at=datetime.now(UTC) - timedelta(hours=hours),
            started_at=None,
            commander="ic@example.com",
            jurisdictions=jurisdictions,
        )
        session.commit()
    return incident.reference


def row(reference: str, regime: str = "gdpr-art33", stage: str = "initial") -> Deadline:
    with Session(store.get_engine()) as session:
        incident = session.exec(select(Incident).where(Incident.reference == reference)).one()
        return deadlines.find(session, incident, regime, stage)


def audit(reference: str) -> list[tuple[str, str]]:
    with Session(store.get_engine()) as session:
        entries = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.subject).startswith(reference))
            .order_by(col(AuditEvent.id))
        )
        return [(e.action, e.subject.removeprefix(reference + "/")) for e in entries]


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A function returning the clarion events emitted so far (name, payload), oldest first.

    Every emitter in the process gets one events worker whose client keeps what it is sent (as
    Prefect's own ``asserting_events_worker`` fixture does), so nothing reaches the server.
    """
    worker = EventsWorker.instance(AssertingEventsClient)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)

    def emitted() -> list[tuple[str, dict[str, Any]]]:
        worker.wait_until_empty()
        client = worker._client
        assert isinstance(client, AssertingEventsClient)
        return [(e.event, dict(e.payload)) for e in client.events if e.event.startswith("clarion.deadline.")]

    yield emitted
    worker.drain()


def responder_notices(reference: str) -> list[tuple[str, str]]:
    """(channel, address) of every deadline notice to the people inside about ``reference``."""
    with Session(store.get_engine()) as session:
        rows = session.exec(
            select(Notice).where(
                Notice.kind == "responder-deadline", col(Notice.about).startswith(reference + "/")
            )
        )
        return [(n.channel.value, n.address) for n in rows]


def scheduled_checks(reference: str) -> dict[str, datetime]:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[reference])))
    return {
        r.name.removeprefix(f"{reference} · "): r.expected_start_time
        for r in runs
        if r.state_type is not None and r.state_type.value == "SCHEDULED" and "%" in r.name
    }


def test_71_hours_after_awareness_the_gdpr_notice_is_at_risk(sandbox: SandboxHandle, events: Any) -> None:
    reference = declared_ago(71, "INC-0103")

    watch_deadlines(reference)

    assert row(reference).state is DeadlineState.AT_RISK
    assert row(reference).last_threshold == 90
    at_risk = [
        p for name, p in events() if name == "clarion.deadline.at-risk" and p["regime"] == "gdpr-art33"
    ]
    assert len(at_risk) == 1  # the highest threshold passed, once: not 50, 75 and 90 at the same moment
    assert at_risk[0]["threshold"] == 90
    assert at_risk[0]["stage"] == "initial"
    assert set(at_risk[0]["notify"]) == {"ic@example.com", "legal-on-call@example.com", "dpo@example.com"}
    assert ("deadline.at-risk", "gdpr-art33/initial") in audit(reference)
    # what is left ahead is the deadline itself
    assert set(scheduled_checks(reference)) == {
        "gdpr-art33/initial · 100%",
        "gdpr-art34/data-subjects · 100%",
    }


def test_73_hours_after_awareness_the_gdpr_notice_is_missed_and_escalated(
    sandbox: SandboxHandle, events: Any
) -> None:
    reference = declared_ago(73, "INC-0104")

    watch_deadlines(reference)

    assert row(reference).state is DeadlineState.MISSED
    missed = [p for name, p in events() if name == "clarion.deadline.missed" and p["regime"] == "gdpr-art33"]
    assert len(missed) == 1
    assert missed[0]["escalated"] is True
    assert set(missed[0]["notify"]) == ESCALATED_TO  # the approvers' backups too
    actions = audit(reference)
    assert ("deadline.missed", "gdpr-art33/initial") in actions
    assert ("deadline.escalated", "gdpr-art33/initial") in actions
    assert scheduled_checks(reference) == {}  # nothing ahead: every clock ran out

    # a check that runs again (a late timer) tells nobody twice
    assert deadline_check(reference, "gdpr-art33", "initial") == "nothing"
    assert len([n for n, _ in events() if n == "clarion.deadline.missed"]) == 2  # art33 and art34, once each

    # the people inside are told, not only the event bus: every reachable one on their internal
    # channels and by email, and by SMS where they have a number (a missed deadline is urgent); the
    # commander of this test, who is not
    # in the people file, is named in the run's log instead
    told = responder_notices(reference)
    per_clock = {
        ("email", "legal-on-call@example.com"),
        ("email", "dpo@example.com"),
        ("email", "general-counsel@example.com"),
        ("email", "deputy-dpo@example.com"),
        ("sms", "+14155550101"),
        ("sms", "+14155550102"),
        ("sms", "+14155550103"),
        ("teams", "legal-room"),
        ("webhook", "privacy-desk"),
    }
    assert sorted(told) == sorted([*per_clock, *per_clock])  # gdpr-art33 and gdpr-art34, once each
    run_worker(get_settings(), store.get_engine(), name="test-deadline-notices")
    subjects = {r.subject for r in sandbox.inbox("email") if r.address == "dpo@example.com"}
    assert any(s and s.startswith(f"[{reference}] MISSED: gdpr-art33/initial") for s in subjects), subjects


def test_a_fresh_clock_gets_a_check_at_each_threshold_ahead(sandbox: SandboxHandle, events: Any) -> None:
    reference = declared_ago(10, "INC-0105")

    watch_deadlines(reference)
    watch_deadlines(reference)  # idempotent: the same runs, not twice as many

    checks = scheduled_checks(reference)
    assert sorted(k for k in checks if k.startswith("gdpr-art33")) == [
        "gdpr-art33/initial · 100%",
        "gdpr-art33/initial · 50%",
        "gdpr-art33/initial · 75%",
        "gdpr-art33/initial · 90%",
    ]
    clock = row(reference)
    assert checks["gdpr-art33/initial · 50%"] == clock.starts_at + timedelta(hours=36)
    assert checks["gdpr-art33/initial · 100%"] == clock.due_at
    assert events() == []  # 10 h of 72: nothing to tell yet
    # a check that runs early (its clock was moved, say) finds nothing to tell
    assert deadline_check(reference, "gdpr-art33", "initial") == "nothing"


def test_a_submission_ends_the_watch_and_a_moved_clock_is_watched_afresh(
    sandbox: SandboxHandle, events: Any
) -> None:
    reference = declared_ago(40, "INC-0106")  # 55 % of 72 h
    watch_deadlines(reference)
    assert [p["threshold"] for n, p in events() if p["regime"] == "gdpr-art33"] == [50]

    # the authority's extension is recorded: the clock is due in 2 h, so 95 % has passed
    with Session(store.get_engine(), expire_on_commit=False) as session:
        incident = session.exec(select(Incident).where(Incident.reference == reference)).one()
        deadlines.override(
            session=session,
            incident=incident,
            regime_id="gdpr-art33",
            stage_id="initial",
            due_at=datetime.now(UTC) + timedelta(hours=2),
            reason="test: moved nearer",
            actor="dpo@example.com",
        )
        session.commit()
    assert deadline_check(reference, "gdpr-art33", "initial") == DeadlineState.AT_RISK.value
    assert [p["threshold"] for n, p in events() if p["regime"] == "gdpr-art33"] == [50, 90]

    with Session(store.get_engine(), expire_on_commit=False) as session:
        incident = session.exec(select(Incident).where(Incident.reference == reference)).one()
        deadlines.record_submission(
            session=session,
            incident=incident,
            regime_id="gdpr-art33",
            stage_id="initial",
            at=datetime.now(UTC),
            by="dpo@example.com",
            reference="SA-2026-0042",
        )
        session.commit()
    assert deadline_check(reference, "gdpr-art33", "initial") == "nothing"
    assert row(reference).state is DeadlineState.MET
    assert row(reference, stage="supplement").state is DeadlineState.OPEN  # the chained stage started


def test_the_countdown_artifact_shows_every_clock(sandbox: SandboxHandle) -> None:
    reference = declared_ago(5, "INC-0107", jurisdictions=("BR",))

    watch_deadlines(reference)

    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=[f"{reference.lower()}-deadlines"])
            )
        )
    markdown = str(artifact[0].data)
    assert "gdpr-art33" in markdown
    assert "lgpd" in markdown
    assert "pending" in markdown  # the supplement waits for the initial notice
    assert "BRT" in markdown or "-03" in markdown  # LGPD's due time in São Paulo


def test_declaring_starts_and_watches_the_playbooks_clocks(sandbox: SandboxHandle, events: Any) -> None:
    aware = (datetime.now(UTC) - timedelta(hours=73)).isoformat()
    running = start(lambda: declare_incident(declaration("data-breach", aware_at=aware)))
    paused = running.wait_paused()  # the first update waits for legal and the DPO
    reference = paused.name.split(" ")[0]

    assert row(reference).state is DeadlineState.MISSED  # escalated before anything was drafted
    assert ("clarion.deadline.missed", "gdpr-art33") in [(n, p["regime"]) for n, p in events()]

    running.answer(paused, role="legal", approver="legal-on-call@example.com", approved=False, reason="test")
    assert running.join()["state"] == "rejected"


def test_a_watcher_that_fails_does_not_hold_up_the_first_update(
    sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(ctx: Any) -> int:
        raise RuntimeError("the Prefect server went away")

    monkeypatch.setattr("flows.incident.watch", broken)
    running = start(lambda: declare_incident(declaration("data-breach")))
    paused = running.wait_paused()  # drafted and waiting for approval all the same
    reference = paused.name.split(" ")[0]

    assert row(reference).state is DeadlineState.OPEN  # the clocks started; only the watch failed
    assert f"{reference}: the regulatory clocks started but are not watched" in caplog.text
    running.answer(paused, role="legal", approver="legal-on-call@example.com", approved=False, reason="test")
    assert running.join()["state"] == "rejected"
