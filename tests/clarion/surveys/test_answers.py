"""An answer is read whole or refused whole, recorded once, and one that asks for a person is followed up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from clarion.audiences.signing import secret_key
from clarion.errors import InputError
from clarion.kinds import Channel, DeliveryState
from clarion.models import AuditEvent, Notice, SurveyFollowup, SurveyResponse
from clarion.playbook import SurveyPolicy, load_playbook
from clarion.settings import Settings
from clarion.surveys import invites, notices
from clarion.surveys.answers import MAX_TEXT, Answer, read_answer, record_answer
from clarion.surveys.followups import close_followup, followups, open_followup, support_addresses
from clarion.surveys.links import Reason, SurveyRefused
from tests.clarion.surveys.invite_world import NOW, resolved_incident
from tests.helpers import PLAYBOOKS

POLICY = SurveyPolicy(enabled=True)


class _Word(StrEnum):
    RELIEF = "relief"
    POSITIVE = "positive"


@dataclass(frozen=True)
class _Tagged:
    signals: tuple[_Word, ...] = (_Word.RELIEF,)
    polarity: _Word = _Word.POSITIVE
    contact: bool = False
    cues: list[dict[str, object]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"cues": self.cues}


class _Tagger:
    def __init__(self, contact: bool = False) -> None:
        self.contact = contact

    def tag(self, text: str, locale: str) -> _Tagged:
        cues = [{"tag": "contact", "cue": "call me"}] if self.contact else []
        return _Tagged(contact=self.contact, cues=cues)


def _form(**fields: str) -> dict[str, list[str]]:
    return {name: [value] for name, value in fields.items()}


def test_a_complete_answer_is_read() -> None:
    answer = read_answer(
        _form(
            informed="4",
            trust="5",
            text=" Thanks\r\nfor telling us ",
            contact="yes",
            contact_channel="phone",
            quote="yes",
        ),
        POLICY,
    )
    assert answer == Answer(4, 5, None, "Thanks\nfor telling us", True, "phone", True)


@pytest.mark.parametrize(
    ("fields", "wrong"),
    [
        (_form(trust="3"), {"informed"}),
        (_form(informed="0", trust="6"), {"informed", "trust"}),
        (_form(informed="abc", trust="3"), {"informed"}),
        (_form(informed="3", trust="3", nps="7"), {"nps"}),  # the playbook asks no NPS
        (_form(informed="3", trust="3", text="x" * (MAX_TEXT + 1)), {"text"}),
        (_form(informed="3", trust="3", text="hello \x1b[2J"), {"text"}),
        (_form(informed="3", trust="3", text="evil \u202e txet"), {"text"}),
        (_form(informed="3", trust="3", contact="yes", contact_channel="pigeon"), {"contact_channel"}),
    ],
)
def test_a_wrong_field_refuses_the_whole_answer_naming_each_field(
    fields: dict[str, list[str]], wrong: set[str]
) -> None:
    with pytest.raises(SurveyRefused) as refused:
        read_answer(fields, POLICY)
    assert refused.value.reason is Reason.INVALID and refused.value.status_code == 422
    assert {p.field for p in refused.value.problems} == wrong


def test_an_answer_is_recorded_once_and_a_request_for_a_person_is_followed_up(
    engine: sa.Engine, settings: Settings
) -> None:
    world = resolved_incident(engine)
    world.person("ada", email="ada@acme.example", reached={Channel.EMAIL: DeliveryState.DELIVERED})
    playbook = load_playbook(PLAYBOOKS / "outage.yaml")
    key = secret_key(settings)
    render = notices.renderer(settings, key)
    invites.open_survey(
        engine=engine,
        incident=world.incident,
        playbook=playbook,
        resolution=1,
        key=key,
        check=render,
        now=NOW,
    )
    invite = world.invites()["ada"]
    answer = Answer(informed=4, trust=3, text="Please call me back, I am relieved though.")
    with Session(engine, expire_on_commit=False) as session:
        response = record_answer(
            session=session,
            invite=invite,
            answer=answer,
            tagger=_Tagger(contact=True),
            now=NOW + timedelta(hours=1),
        )
        support = support_addresses(playbook.survey, "help@acme.example")
        followup = open_followup(
            session=session,
            incident=world.incident,
            invite=invite,
            response=response,
            support=support,
            check=render,
            now=NOW + timedelta(hours=1),
        )
        session.commit()
    assert response.wants_contact and response.tags == ["relief"] and response.polarity == "positive"
    assert followup is not None and followup.reason == "text: call me"
    (told,) = world.notices(notices.FOLLOWUP)
    assert told.address == "help@acme.example" and "ada" not in str(told.params)
    with Session(engine) as session, pytest.raises(SurveyRefused) as again:
        record_answer(
            session=session, invite=invite, answer=answer, tagger=_Tagger(), now=NOW + timedelta(hours=2)
        )
    assert again.value.reason is Reason.ANSWERED
    with Session(engine) as session:
        assert len(list(session.exec(select(SurveyResponse)))) == 1
        (listed,) = followups(session=session, only_open=True)
        assert (listed.address, listed.channel, listed.text) == ("ada@acme.example", "email", answer.text)
        close_followup(
            session=session, followup_id=listed.id, note="Called back, all good.", by="sam", now=NOW
        )
        session.commit()
        assert followups(session=session, only_open=True) == []
        with pytest.raises(InputError, match="closed already"):
            close_followup(session=session, followup_id=listed.id, note="again", by="sam", now=NOW)
        actions = [e.action for e in session.exec(select(AuditEvent))]
        assert "survey.answered" in actions and "survey.followup-closed" in actions
        details = " ".join(str(e.details) for e in session.exec(select(AuditEvent)))
        assert "ada@acme.example" not in details and "call me" not in details.replace("text", "")


def test_an_answer_after_the_survey_closed_is_refused(engine: sa.Engine, settings: Settings) -> None:
    world = resolved_incident(engine)
    world.person("ada", email="ada@acme.example", reached={Channel.EMAIL: DeliveryState.DELIVERED})
    key = secret_key(settings)
    invites.open_survey(
        engine=engine,
        incident=world.incident,
        playbook=load_playbook(PLAYBOOKS / "outage.yaml"),
        resolution=1,
        key=key,
        check=notices.renderer(settings, key),
        now=NOW,
    )
    invite = world.invites()["ada"]
    with Session(engine) as session, pytest.raises(SurveyRefused) as refused:
        record_answer(
            session=session, invite=invite, answer=Answer(3, 3), tagger=_Tagger(), now=invite.expires_at
        )
    assert refused.value.reason is Reason.EXPIRED
    with Session(engine) as session:
        assert (
            session.exec(select(SurveyFollowup)).first() is None
            and session.exec(select(Notice).where(Notice.kind == notices.FOLLOWUP)).first() is None
        )


def test_an_answer_in_another_language_than_its_invitation_is_tagged_in_its_own() -> None:
    from clarion.surveys.answers import tag_answer
    from clarion.surveys.signals import LexiconTagger

    tagger = LexiconTagger()
    english = tag_answer(tagger, "Thank you, I feel reassured.", "de")  # a German invitation
    german = tag_answer(tagger, "Danke, ich bin erleichtert.", "en-GB")
    assert "appreciation" in {s.value for s in english.signals} and english.polarity.value == "positive"
    assert {s.value for s in german.signals} == {"relief", "appreciation"}
    assert tag_answer(tagger, "42", "de").cues == ()  # nothing anywhere: the invitation's language's answer
