"""A resolved incident whose messages reached some recipients and not others: what invitations read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion import store
from clarion.audiences import consent
from clarion.kinds import Channel, DeliveryState, IncidentStatus, UpdateState
from clarion.models import Delivery, Incident, IncidentCreate, Notice, Recipient, SurveyInvite, UpdateCreate

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@dataclass
class InviteWorld:
    engine: sa.Engine
    incident: Incident
    people: dict[str, int] = field(default_factory=dict)
    """external id → recipient id."""

    def person(
        self,
        name: str,
        *,
        email: str | None = None,
        phone: str | None = None,
        locale: str = "en",
        reached: dict[Channel, DeliveryState] | None = None,
    ) -> int:
        """A recipient, and the deliveries of update 1 that went (or did not go) to them."""
        with Session(self.engine, expire_on_commit=False) as session:
            recipient = Recipient(external_id=name, email=email, phone_e164=phone, locale=locale)
            session.add(recipient)
            session.flush()
            assert recipient.id is not None
            update_id = session.exec(
                sa.text(
                    "SELECT id FROM incident_update WHERE incident_id = :i ORDER BY number LIMIT 1"
                ).bindparams(i=self.incident.id)
            ).scalar_one()
            for channel, state in (reached or {}).items():
                session.add(
                    Delivery(
                        update_id=update_id,
                        recipient_id=recipient.id,
                        channel=channel,
                        idempotency_key=f"u{update_id}.{channel.value}.{recipient.id}",
                        state=state,
                    )
                )
            session.commit()
            self.people[name] = recipient.id
            return recipient.id

    def withdraw(self, name: str, channel: Channel) -> None:
        with Session(self.engine) as session:
            consent.withdraw(
                session=session, recipient_id=self.people[name], channel=channel, source="unsubscribe", at=NOW
            )
            session.commit()

    def invites(self) -> dict[str, SurveyInvite]:
        ids = {v: k for k, v in self.people.items()}
        with Session(self.engine, expire_on_commit=False) as session:
            rows = session.exec(select(SurveyInvite).where(SurveyInvite.incident_id == self.incident.id))
            return {ids[r.recipient_id]: r for r in rows}

    def notices(self, kind: str) -> list[Notice]:
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.exec(select(Notice).where(Notice.kind == kind).order_by(col(Notice.id))))


def resolved_incident(engine: sa.Engine, *, playbook: str = "outage") -> InviteWorld:
    """An incident of ``playbook`` with one published update that resolved it."""
    with Session(engine, expire_on_commit=False) as session:
        incident = store.create_incident(
            session=session,
            incident_in=IncidentCreate(
                playbook=playbook,
                severity="major",
                title="Checkout was failing",
                aware_at=NOW - timedelta(days=3),
            ),
        )
        update = store.add_update(
            session=session,
            incident=incident,
            update_in=UpdateCreate(
                status=IncidentStatus.RESOLVED,
                apology={"en": {"text": "Checkout failed. We are sorry.", "short": "Checkout failed."}},
                facts={"contact": {"email": "help@acme.example"}},
                next_update_by=NOW,
            ),
        )
        update.state, update.published_at = UpdateState.PUBLISHED, NOW - timedelta(days=2)
        incident.status, incident.resolved_at = IncidentStatus.RESOLVED, NOW - timedelta(days=2)
        session.add_all([update, incident])
        session.commit()
    return InviteWorld(engine, incident)
