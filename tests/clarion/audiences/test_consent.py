"""Consent: withdrawn and granted per recipient and channel, upserted, audited only when it changes."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion import audit, store
from clarion.audiences import consent
from clarion.kinds import Channel, ConsentState
from clarion.models import AuditEvent, ChannelConsent, RecipientCreate

AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def add_recipient(session: Session, **consents: ConsentState) -> int:
    recipient = store.add_recipient(
        session=session,
        recipient_in=RecipientCreate(external_id="c1", email="ada@example.com", phone_e164="+4915112345678"),
        consents={Channel(name): state for name, state in consents.items()},
    )
    assert recipient.id is not None
    return recipient.id


def rows(session: Session, recipient_id: int) -> list[ChannelConsent]:
    return list(session.exec(select(ChannelConsent).where(ChannelConsent.recipient_id == recipient_id)))


def audit_entries(session: Session) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).order_by(col(AuditEvent.id))))


def test_withdraw_updates_the_existing_row_and_audits_without_personal_data(sqlite_engine: sa.Engine) -> None:
    with store.session_scope(sqlite_engine) as session:
        rid = add_recipient(session, email=ConsentState.GRANTED)
        assert not consent.has_withdrawn(session=session, recipient_id=rid, channel=Channel.EMAIL)
        changed = consent.withdraw(
            session=session, recipient_id=rid, channel=Channel.EMAIL, source="unsubscribe", at=AT
        )
    assert changed
    with store.session_scope(sqlite_engine) as session:
        assert consent.has_withdrawn(session=session, recipient_id=rid, channel=Channel.EMAIL)
        [row] = rows(session, rid)
        assert (row.state, row.source, row.changed_at) == (ConsentState.WITHDRAWN, "unsubscribe", AT)
        [entry] = audit_entries(session)
        assert (entry.actor, entry.action, entry.subject) == (
            "recipient",
            "consent.withdrawn",
            f"recipient:{rid}",
        )
        assert entry.details == {"channel": "email", "source": "unsubscribe"}
        assert "ada@example.com" not in str(entry.details) and "+49" not in str(entry.details)
        assert audit.verify(session=session).entries == 1


def test_withdraw_creates_the_row_when_never_asked(sqlite_engine: sa.Engine) -> None:
    with store.session_scope(sqlite_engine) as session:
        rid = add_recipient(session)
        consent.withdraw(
            session=session, recipient_id=rid, channel=Channel.SMS, source="sms-stop", at=AT, actor="twilio"
        )
        [row] = rows(session, rid)
        assert (row.channel, row.state, row.source) == (Channel.SMS, ConsentState.WITHDRAWN, "sms-stop")
        assert audit_entries(session)[0].actor == "twilio"
        assert not consent.has_withdrawn(session=session, recipient_id=rid, channel=Channel.EMAIL)


def test_withdrawing_twice_is_idempotent(sqlite_engine: sa.Engine) -> None:
    with store.session_scope(sqlite_engine) as session:
        rid = add_recipient(session, email=ConsentState.GRANTED)
        first = consent.withdraw(session=session, recipient_id=rid, channel=Channel.EMAIL, source="a", at=AT)
        second = consent.withdraw(session=session, recipient_id=rid, channel=Channel.EMAIL, source="b", at=AT)
        assert (first, second) == (True, False)
        assert len(rows(session, rid)) == 1
        assert rows(session, rid)[0].source == "a"
        assert len(audit_entries(session)) == 1


def test_grant_after_withdraw_restores_consent_and_is_audited(sqlite_engine: sa.Engine) -> None:
    with store.session_scope(sqlite_engine) as session:
        rid = add_recipient(session, sms=ConsentState.GRANTED)
        consent.withdraw(session=session, recipient_id=rid, channel=Channel.SMS, source="sms-stop", at=AT)
        assert consent.grant(
            session=session, recipient_id=rid, channel=Channel.SMS, source="sms-start", at=AT
        )
        assert not consent.grant(
            session=session, recipient_id=rid, channel=Channel.SMS, source="again", at=AT
        )
        assert not consent.has_withdrawn(session=session, recipient_id=rid, channel=Channel.SMS)
        assert [e.action for e in audit_entries(session)] == ["consent.withdrawn", "consent.granted"]
        assert store.consents_of(
            session=session, recipient=store.get_recipient(session=session, external_id="c1")
        ) == {Channel.SMS: ConsentState.GRANTED}
