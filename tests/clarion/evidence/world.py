"""An incident with everything an evidence pack holds, built with the domain's own functions.

INC-0042 (the data-breach example) is declared with its GDPR clocks; its first update waits for
legal and the DPO, who approve it; it goes to 12 customers by email and SMS (and the banner and
social broadcasts); a worker sends the personal messages through fake senders; providers report
deliveries, a bounce whose detail quotes the address, and SMS progress; the authority's notice is
submitted and the data subjects' stage overridden; a responder is told; a commitment is stored.
INC-0043 is declared in between and a customer's consent withdrawn, so the log interleaves entries
of other subjects with INC-0042's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from clarion import audit
from clarion.audiences import consent
from clarion.audiences.sources import Source
from clarion.compliance import deadlines
from clarion.facts import Facts, load_facts
from clarion.incidents import approvals
from clarion.incidents.lifecycle import open_incident
from clarion.kinds import (
    ApprovalDecision,
    Channel,
    CommitmentState,
    DeliveryState,
    IncidentStatus,
    UpdateState,
)
from clarion.models import Commitment, Delivery, Incident, Recipient, Update, utcnow
from clarion.outbox.events import Change, apply_changes
from clarion.outbox.worker import Worker, WorkerConfig
from clarion.playbook import Playbook, load_playbook
from clarion.responders.notices import APPROVAL, Telling, tell
from clarion.responders.people import people_of
from clarion.settings import Settings
from clarion.updates.publish import draft_update, enqueue_update
from tests.clarion.outbox.conftest import FakeSender
from tests.helpers import EXAMPLES, PLAYBOOKS

REFERENCE = "INC-0042"
OTHER = "INC-0043"
CUSTOMERS = 12
FAST = {"backoff_base": 0.001, "backoff_cap": 0.01, "idle_poll": 0.01, "in_flight": timedelta(0)}


@dataclass(frozen=True)
class World:
    incident_id: int
    update_id: int
    recipients_csv: Path
    personal: frozenset[str]
    """Every address, number and external id of the store's recipients and notices."""


def build(engine: sa.Engine, settings: Settings, folder: Path, *, customers: int = CUSTOMERS) -> World:
    playbook = load_playbook(PLAYBOOKS / "data-breach.yaml")
    facts = load_facts(EXAMPLES / "data-breach.yaml", playbook)
    csv_path = _recipients(folder / "affected.csv", customers)
    sources = {"affected-customers": Source(csv=csv_path)}
    with Session(engine, expire_on_commit=False) as session:
        incident = _declare(session, playbook, facts, REFERENCE)
        session.commit()
    draft = draft_update(
        engine=engine,
        playbook=playbook,
        facts=facts,
        settings=settings,
        sources=sources,
        state=UpdateState.PENDING_APPROVAL,
        commander="commander@acme.example",
    )
    with Session(engine, expire_on_commit=False) as session:
        outage = load_playbook(PLAYBOOKS / "outage.yaml")
        open_incident(
            session=session,
            playbook=outage,
            reference=OTHER,
            title="Checkout is failing",
            severity="sev1",
            status=IncidentStatus.INVESTIGATING,
            aware_at=facts.aware_at,
            started_at=None,
            commander="commander@acme.example",
        )
        session.commit()
    _approve(engine, playbook, incident, draft.update_id)
    enqueue_update(
        engine=engine, playbook=playbook, update_id=draft.update_id, settings=settings, sources=sources
    )
    senders = {c: FakeSender(c) for c in (Channel.EMAIL, Channel.SMS)}
    Worker(engine, senders, WorkerConfig(name="w", threads=1, **FAST)).run()  # type: ignore[arg-type]
    people = people_of(playbook, PLAYBOOKS / "data-breach.yaml")
    assert people is not None
    tell(  # staged after the worker ran: it stays pending, as a notice not sent yet does
        engine=engine,
        people=people,
        reference=REFERENCE,
        telling=Telling(APPROVAL, "update-1", ["legal-on-call@example.com"], {"update": 1}),
    )
    _provider_events(engine)
    _withdraw_one(engine)
    _clocks(engine, incident)
    _commitment(engine, incident)
    assert incident.id is not None
    return World(incident.id, draft.update_id, csv_path, _personal(engine))


def _recipients(path: Path, n: int) -> Path:
    """Customers whose ids, addresses and numbers are unlike anything else in a pack."""
    rows = ["id,email,phone,locale,time_zone"]
    rows += [
        f"crm-{i:05d},person.{i}@customers.example,+4915112{i:06d},{'de' if i % 3 == 0 else 'en'},"
        f"{'America/New_York' if i % 2 else ''}"
        for i in range(n)
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _declare(session: Session, playbook: Playbook, facts: Facts, reference: str) -> Incident:
    return open_incident(
        session=session,
        playbook=playbook,
        reference=reference,
        title=facts.title,
        severity=facts.severity,
        status=facts.status,
        aware_at=facts.aware_at,
        started_at=facts.started_at,
        commander="commander@acme.example",
    )


def _approve(engine: sa.Engine, playbook: Playbook, incident: Incident, update_id: int) -> None:
    with Session(engine, expire_on_commit=False) as session:
        update = session.get(Update, update_id)
        assert update is not None
        for step in approvals.required_steps(playbook, update.kind):
            approvals.record_decision(
                session=session,
                incident=incident,
                update=update,
                role=step.role,
                approver=step.approvers[0],
                decision=ApprovalDecision.APPROVED,
            )
        update.state = UpdateState.APPROVED
        session.add(update)
        session.commit()


def _provider_events(engine: sa.Engine) -> None:
    with Session(engine) as session:
        rows = session.exec(
            select(Delivery.id, Delivery.channel, Recipient.email)
            .join(Recipient, Recipient.id == Delivery.recipient_id)  # type: ignore[arg-type]
            .where(Delivery.state == DeliveryState.ACCEPTED)
            .order_by(Delivery.id)  # type: ignore[arg-type]
        ).all()
        at = utcnow()
        email = [(i, address) for i, channel, address in rows if channel is Channel.EMAIL]
        sms = [i for i, channel, _ in rows if channel is Channel.SMS]
        changes = [
            Change((f"processed-{i}",), str(i), DeliveryState.ACCEPTED, "processed", at, copy=f"copy-{i}")
            for i, _ in email
        ]
        changes += [
            Change((f"delivered-{i}",), str(i), DeliveryState.DELIVERED, "delivered", at, copy=f"copy-{i}")
            for i, _ in email[1:]
        ]
        first, address = email[0]
        changes.append(
            Change(
                (f"bounce-{first}",),
                str(first),
                DeliveryState.BOUNCED,
                "bounce",
                at,
                error_code="550",
                error_detail=f"550 5.1.1 <{address}>: mailbox does not exist",
                copy=f"copy-{first}",
            )
        )
        apply_changes(
            session=session, provider="sendgrid", channel=Channel.EMAIL, changes=changes, by_provider_id=False
        )
        apply_changes(
            session=session,
            provider="twilio",
            channel=Channel.SMS,
            changes=[Change((f"sms-{i}",), str(i), DeliveryState.DELIVERED, "delivered", at) for i in sms],
            by_provider_id=False,
        )
        session.commit()


def _withdraw_one(engine: sa.Engine) -> None:
    """Another subject's entry (``recipient:N``) in the middle of the incident's."""
    with Session(engine) as session:
        recipient = session.exec(select(Recipient).order_by(Recipient.id)).first()  # type: ignore[arg-type]
        assert recipient is not None and recipient.id is not None
        consent.withdraw(
            session=session,
            recipient_id=recipient.id,
            channel=Channel.SMS,
            source="sms-stop",
            at=utcnow(),
            actor="twilio",
        )
        audit.append(session=session, actor="clarion", action="update.note", subject=f"{OTHER}/update-1")
        session.commit()


def _clocks(engine: sa.Engine, incident: Incident) -> None:
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(Incident, incident.id)
        assert row is not None
        deadlines.record_submission(
            session=session,
            incident=row,
            regime_id="gdpr-art33",
            stage_id="initial",
            at=row.aware_at + timedelta(hours=20),
            by="dpo@example.com",
            reference="SA-2026-123",
        )
        deadlines.override(
            session=session,
            incident=row,
            regime_id="gdpr-art34",
            stage_id="data-subjects",
            due_at=row.aware_at + timedelta(days=5),
            reason="extension agreed with the authority",
            actor="dpo@example.com",
        )
        session.commit()


def _commitment(engine: sa.Engine, incident: Incident) -> None:
    assert incident.id is not None
    with Session(engine) as session:
        session.add(
            Commitment(
                incident_id=incident.id,
                key="C1",
                texts={"en": "We will require a login on every export."},
                owner="platform-lead@acme.example",
                due_on=(incident.aware_at + timedelta(days=30)).date(),
                state=CommitmentState.PLANNED,
            )
        )
        session.commit()


def _personal(engine: sa.Engine) -> frozenset[str]:
    with engine.connect() as connection:
        recipients = connection.execute(sa.text("SELECT external_id, email, phone_e164 FROM recipient")).all()
        notices = connection.execute(sa.text("SELECT address FROM notice")).all()
    values = {value for row in recipients for value in row if value}
    return frozenset(values | {row[0] for row in notices})
