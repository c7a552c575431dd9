"""What surveys keep about people: the retention purge, and a person's access and erasure requests."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion import store
from clarion.errors import InputError
from clarion.kinds import Channel, DeliveryState
from clarion.models import (
    AuditEvent,
    Delivery,
    Notice,
    Survey,
    SurveyFollowup,
    SurveyInvite,
    SurveyResponse,
)
from clarion.surveys.privacy import ERASED, export_recipient, forget_recipient, purge_expired
from tests.clarion.surveys.answer_world import T0, SurveyRows, resolved_incident

RETENTION = {"outage": timedelta(days=30), "data-breach": timedelta(days=180)}
NOW = T0 + timedelta(days=62)


def retention_for(playbook: str) -> timedelta:
    return RETENTION[playbook]


def response(engine: sa.Engine, response_id: int) -> SurveyResponse:
    with Session(engine) as session:
        found = session.get(SurveyResponse, response_id)
        assert found is not None
        return found


def audits(engine: sa.Engine, action: str) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(
            session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id)))
        )


# ── retention ────────────────────────────────────────────────────────────────────────────────────


def test_the_purge_keeps_each_playbooks_retention_and_runs_once(engine: sa.Engine) -> None:
    outage = SurveyRows(engine, resolved_incident(engine))  # opened T0 + 2 d: 30 days end at T0 + 32 d
    breach = SurveyRows(engine, resolved_incident(engine, playbook="data-breach"))
    old = outage.answer(
        "ada",
        informed=2,
        trust=1,
        text="I doubt you, call me",
        tags=["doubt"],
        polarity="negative",
        quote=True,
    )
    outage.followup("ada", closed_note="Called Ada at home.")
    young = outage.answer(
        "bob", informed=5, trust=5, text="Fine", polarity="positive", after=timedelta(days=31)
    )
    outage.followup("bob", closed_note="Bob is happy.")
    kept = breach.answer("cy", informed=3, trust=3, text="Worried", tags=["doubt"], polarity="negative")

    with store.session_scope(engine) as session:
        assert purge_expired(session=session, now=NOW, retention_for=retention_for) == 1

    purged = response(engine, old)
    assert (purged.free_text, purged.cues, purged.quote_allowed, purged.purged_at) == (None, [], False, NOW)
    assert (purged.informed_score, purged.trust_score, purged.tags, purged.polarity) == (
        2,
        1,
        ["doubt"],
        "negative",
    )
    for untouched in (young, kept):  # 30 days not over for bob; 180 for the breach
        assert response(engine, untouched).free_text is not None
        assert response(engine, untouched).purged_at is None
    with Session(engine) as session:
        notes = {f.response_id: f.note for f in session.exec(select(SurveyFollowup))}
    assert notes == {old: None, young: "Bob is happy."}

    with store.session_scope(engine) as session:  # again, later: nothing more to purge
        assert purge_expired(session=session, now=NOW + timedelta(hours=1), retention_for=retention_for) == 0
    assert response(engine, old).purged_at == NOW
    entries = audits(engine, "survey.purged")
    assert [e.details for e in entries] == [{"answers": 1, "notes": 1}, {"answers": 0, "notes": 0}]


def test_a_follow_up_closed_after_the_purge_loses_its_note_at_the_next(engine: sa.Engine) -> None:
    rows = SurveyRows(engine, resolved_incident(engine))
    rows.answer("ada", informed=1, trust=1, text="Call me", contact=True)
    followup = rows.followup("ada")
    with store.session_scope(engine) as session:
        purge_expired(session=session, now=NOW, retention_for=retention_for)
        row = session.get(SurveyFollowup, followup)
        assert row is not None
        row.closed_at, row.note = NOW, "Called her back."
        session.add(row)
    with store.session_scope(engine) as session:
        purge_expired(session=session, now=NOW + timedelta(days=1), retention_for=retention_for)
    with Session(engine) as session:
        kept = session.get(SurveyFollowup, followup)
        assert kept is not None and kept.note is None


# ── access and erasure ───────────────────────────────────────────────────────────────────────────


@pytest.fixture
def two_people(engine: sa.Engine) -> tuple[SurveyRows, SurveyRows]:
    """Ada asked twice (answered once, with a follow-up); Bob asked once and answered."""
    first = SurveyRows(engine, resolved_incident(engine, title="Checkout"))
    second = SurveyRows(engine, resolved_incident(engine, title="Login"))
    first.open_survey(invited=2)
    second.open_survey(invited=1)
    first.ask("ada", email="ada@example.com")
    first.answer(
        "ada",
        informed=2,
        trust=2,
        nps=4,
        text="Please call me",
        tags=["doubt"],
        polarity="negative",
        contact=True,
    )
    first.followup("ada", closed_note="Called.")
    second.ask("ada", channel=Channel.SMS, phone="+447700900123")
    first.ask("bob", email="bob@example.com")
    first.answer("bob", informed=5, trust=5, text="Bob's secret words", polarity="positive")
    return first, second


def test_export_holds_everything_of_one_person_and_nothing_of_another(
    engine: sa.Engine, two_people: tuple[SurveyRows, SurveyRows]
) -> None:
    first, second = two_people
    with Session(engine) as session:
        data = export_recipient(session=session, external_id="ada")
    assert json.loads(json.dumps(data)) == data
    assert data["recipient"]["external_id"] == "ada"
    assert [(i["incident"], i["channel"]) for i in data["invitations"]] == [
        (first.incident.reference, "email"),
        (second.incident.reference, "sms"),
    ]
    assert data["invitations"][0]["responded_at"] == (first.opened_at + timedelta(hours=1)).isoformat()
    assert data["invitations"][1]["responded_at"] is None
    (answer,) = data["answers"]
    assert answer | {"cues": None} == {
        "incident": first.incident.reference,
        "informed": 2,
        "trust": 2,
        "nps": 4,
        "text": "Please call me",
        "signals": ["doubt"],
        "polarity": "negative",
        "cues": None,
        "wants_contact": True,
        "contact_channel": "phone",
        "quote_allowed": False,
        "locale": "en",
        "created_at": (first.opened_at + timedelta(hours=1)).isoformat(),
        "text_purged_at": None,
    }
    assert answer["cues"][0]["tag"] == "doubt"
    (followup,) = data["followups"]
    assert (followup["incident"], followup["note"], followup["closed_by"]) == (
        first.incident.reference,
        "Called.",
        "sam@acme.example",
    )
    assert [(n["kind"], n["channel"], n["address"], n["delivery"]) for n in data["notices"]] == [
        ("survey-invite", "email", "ada@example.com", "pending"),
        ("survey-invite", "sms", "+447700900123", "pending"),
    ]
    assert "bob" not in json.dumps(data).lower() and "secret" not in json.dumps(data)


def test_forget_deletes_and_scrubs_and_keeps_the_ledger(
    engine: sa.Engine, two_people: tuple[SurveyRows, SurveyRows]
) -> None:
    first, _second = two_people
    ada_invites = [first.invites["ada"], _second.invites["ada"]]
    with store.session_scope(engine) as session:  # the first invitation went out and failed once
        notice = session.exec(select(Notice).where(Notice.about == f"survey-invite:{ada_invites[0]}")).one()
        sent = session.exec(select(Delivery).where(Delivery.notice_id == notice.id)).one()
        sent.state, sent.error_detail = DeliveryState.DELIVERED, "550 ada@example.com: mailbox full"
        session.add(sent)

    with store.session_scope(engine) as session:
        counts = forget_recipient(session=session, external_id="ada", now=NOW, by="dpo@acme.example")
    assert counts == {"followups": 1, "answers": 1, "invitations": 2, "notices": 2, "suppressed": 1}

    with Session(engine) as session:
        assert session.exec(select(SurveyInvite.id).where(col(SurveyInvite.id).in_(ada_invites))).all() == []
        assert len(session.exec(select(SurveyResponse)).all()) == 1  # bob's
        assert session.exec(select(SurveyFollowup)).all() == []
        notices = session.exec(select(Notice).order_by(col(Notice.id))).all()
        scrubbed = [n for n in notices if n.about in {f"survey-invite:{i}" for i in ada_invites}]
        assert [(n.address, n.params) for n in scrubbed] == [(ERASED, {}), (ERASED, {})]
        assert [n.address for n in notices if n not in scrubbed] == ["bob@example.com"]
        states = {
            d.notice_id: (d.state, d.error_code, d.error_detail)
            for d in session.exec(
                select(Delivery).where(col(Delivery.notice_id).in_([n.id for n in scrubbed]))
            )
        }
        assert sorted(states.values()) == [
            (DeliveryState.DELIVERED, None, None),
            (DeliveryState.SUPPRESSED, ERASED, None),
        ]
        survey = session.exec(select(Survey).where(Survey.incident_id == first.incident.id)).one()
        assert survey.invited == 2  # history

    (entry,) = audits(engine, "survey.recipient-erased")
    assert entry.actor == "dpo@acme.example" and entry.subject.startswith("recipient:")
    assert entry.details == counts
    assert "ada" not in json.dumps([entry.subject, entry.details])
    with Session(engine) as session:
        after = export_recipient(session=session, external_id="ada")
        assert (after["invitations"], after["answers"], after["followups"], after["notices"]) == (
            [],
            [],
            [],
            [],
        )
        assert (
            export_recipient(session=session, external_id="bob")["answers"][0]["text"] == "Bob's secret words"
        )


def test_an_unknown_person_is_refused(engine: sa.Engine) -> None:
    with Session(engine) as session:
        with pytest.raises(InputError, match="no recipient 'nobody'"):
            export_recipient(session=session, external_id="nobody")
        with pytest.raises(InputError, match="no recipient 'nobody'"):
            forget_recipient(session=session, external_id="nobody", now=NOW)
