"""Whom a survey asks, on which channel, once; the reminder only to those who did not answer."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion.audiences.signing import secret_key
from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery, Subscriber, SubscriberState, Survey
from clarion.outbox.notices import NoticeRenderer
from clarion.playbook import Playbook, load_playbook
from clarion.settings import Settings
from clarion.surveys import invites, notices
from clarion.surveys.links import make_token, open_link, token_hash
from tests.clarion.surveys.invite_world import NOW, InviteWorld, resolved_incident
from tests.helpers import PLAYBOOKS

ACCEPTED, DELIVERED, BOUNCED = DeliveryState.ACCEPTED, DeliveryState.DELIVERED, DeliveryState.BOUNCED


@pytest.fixture
def outage() -> Playbook:
    playbook = load_playbook(PLAYBOOKS / "outage.yaml")
    survey = playbook.survey.model_copy(update={"channels": [Channel.EMAIL, Channel.SMS]})
    return playbook.model_copy(update={"survey": survey, "locales": ["en", "de"]})


@pytest.fixture
def render(settings: Settings) -> NoticeRenderer:
    return notices.renderer(settings, secret_key(settings))


def _open(world: InviteWorld, playbook: Playbook, settings: Settings, render: NoticeRenderer) -> Survey:
    return invites.open_survey(
        engine=world.engine,
        incident=world.incident,
        playbook=playbook,
        resolution=1,
        key=secret_key(settings),
        check=render,
        now=NOW,
    )


def test_everyone_reached_is_invited_once_on_the_first_channel_that_reached_them(
    engine: sa.Engine, outage: Playbook, settings: Settings, render: NoticeRenderer
) -> None:
    world = resolved_incident(engine)
    world.person("ada", email="ada@acme.example", reached={Channel.EMAIL: DELIVERED})
    world.person("bo", email="bo@acme.example", phone="+4915112345678", reached={Channel.SMS: ACCEPTED})
    world.person("cy", email="cy@acme.example", reached={Channel.EMAIL: BOUNCED})  # reached nobody
    world.person("di", email="di@acme.example")  # never messaged
    world.person("ed", email="ed@acme.example", locale="de", reached={Channel.EMAIL: ACCEPTED})
    world.withdraw("ed", Channel.EMAIL)  # unsubscribed, and no other way to reach them
    world.person(
        "fay",
        email="fay@acme.example",
        phone="+4915112345679",
        locale="de",
        reached={Channel.EMAIL: ACCEPTED},
    )
    world.withdraw("fay", Channel.EMAIL)  # unsubscribed from email: asked by SMS instead

    survey = _open(world, outage, settings, render)

    invited = world.invites()
    assert {name: (i.channel, i.locale) for name, i in invited.items()} == {
        "ada": (Channel.EMAIL, "en"),
        "bo": (Channel.SMS, "en"),
        "fay": (Channel.SMS, "de"),
    }
    assert survey.invited == 3
    assert survey.closes_at == NOW + outage.survey.expires_after
    sent = world.notices(notices.INVITE)
    assert sorted(n.address for n in sent) == ["+4915112345678", "+4915112345679", "ada@acme.example"]
    # a second run (a retry, a run started twice) invites nobody again
    again = _open(world, outage, settings, render)
    assert again.invited == 3 and len(world.notices(notices.INVITE)) == 3
    with Session(engine) as session:
        assert len(list(session.exec(select(Delivery).where(col(Delivery.notice_id).is_not(None))))) == 3


def test_the_link_in_the_invitation_opens_its_invitation_and_only_its_hash_is_stored(
    engine: sa.Engine, outage: Playbook, settings: Settings, render: NoticeRenderer
) -> None:
    world = resolved_incident(engine)
    world.person("ada", email="ada@acme.example", reached={Channel.EMAIL: DELIVERED})
    _open(world, outage, settings, render)
    (notice,) = world.notices(notices.INVITE)
    from clarion.outbox.notices import data_of

    content = render(data_of(notice))
    token = content.text.split("/survey/")[1].split()[0]
    invite = world.invites()["ada"]
    assert invite.token_hash == token_hash(token) and token not in str(notice.params)
    with Session(engine) as session:
        assert open_link(session=session, key=secret_key(settings), token=token, now=NOW).id == invite.id
    assert content.subject is not None and world.incident.reference in content.subject


def test_an_ended_subscription_is_not_asked(
    engine: sa.Engine, outage: Playbook, settings: Settings, render: NoticeRenderer
) -> None:
    world = resolved_incident(engine)
    with Session(engine) as session:
        gone = Subscriber(
            channel=Channel.EMAIL,
            address="gone@acme.example",
            address_key="k1",
            state=SubscriberState.UNSUBSCRIBED,
        )
        kept = Subscriber(
            channel=Channel.EMAIL,
            address="kept@acme.example",
            address_key="k2",
            state=SubscriberState.CONFIRMED,
        )
        session.add_all([gone, kept])
        session.commit()
        ids = (gone.id, kept.id)
    world.person(f"subscriber:{ids[0]}", email="gone@acme.example", reached={Channel.EMAIL: DELIVERED})
    world.person(f"subscriber:{ids[1]}", email="kept@acme.example", reached={Channel.EMAIL: DELIVERED})
    _open(world, outage, settings, render)
    assert list(world.invites()) == [f"subscriber:{ids[1]}"]


def test_the_reminder_goes_once_and_only_to_those_who_did_not_answer(
    engine: sa.Engine, outage: Playbook, settings: Settings, render: NoticeRenderer
) -> None:
    world = resolved_incident(engine)
    for name in ("ada", "bo", "cy"):
        world.person(name, email=f"{name}@acme.example", reached={Channel.EMAIL: DELIVERED})
    _open(world, outage, settings, render)
    answered = world.invites()["bo"]
    with Session(engine) as session:
        answered = session.merge(answered)
        answered.responded_at = NOW + timedelta(hours=1)
        session.commit()
    world.withdraw("cy", Channel.EMAIL)  # unsubscribed after the invitation: no reminder

    later = NOW + timedelta(days=3)
    assert invites.remind(engine=engine, incident=world.incident, check=render, now=later) == 1
    assert [n.address for n in world.notices(notices.REMINDER)] == ["ada@acme.example"]
    assert invites.remind(engine=engine, incident=world.incident, check=render, now=later) == 0
    assert len(world.notices(notices.REMINDER)) == 1


def test_a_token_for_another_expiry_or_invitation_does_not_open(
    engine: sa.Engine, outage: Playbook, settings: Settings, render: NoticeRenderer
) -> None:
    from clarion.surveys.links import Reason, SurveyRefused

    world = resolved_incident(engine)
    world.person("ada", email="ada@acme.example", reached={Channel.EMAIL: DELIVERED})
    _open(world, outage, settings, render)
    invite = world.invites()["ada"]
    key = secret_key(settings)
    assert invite.id is not None
    other = make_token(
        key, invite.id, expires_at=invite.expires_at + timedelta(days=1)
    )  # genuine, not stored
    with Session(engine) as session:
        for token in (
            other,
            make_token(key, invite.id + 1, expires_at=invite.expires_at),
            "v2.1.2.x",
            "x" * 500,
        ):
            with pytest.raises(SurveyRefused) as refused:
                open_link(session=session, key=key, token=token, now=NOW)
            assert refused.value.reason is Reason.FORGED and refused.value.status_code == 404
        genuine = make_token(key, invite.id, expires_at=invite.expires_at)
        with pytest.raises(SurveyRefused) as refused:
            open_link(session=session, key=key, token=genuine, now=invite.expires_at)
        assert refused.value.reason is Reason.EXPIRED and refused.value.status_code == 410


def test_two_runs_at_once_invite_each_person_once(
    engine: sa.Engine, outage: Playbook, settings: Settings, render: NoticeRenderer
) -> None:
    """Two workers running the same survey (a retry that overlaps, a run started twice by hand)."""
    import threading

    world = resolved_incident(engine)
    for n in range(40):
        world.person(f"p{n}", email=f"p{n}@acme.example", reached={Channel.EMAIL: DELIVERED})
    barrier, errors = threading.Barrier(2), []

    def run() -> None:
        barrier.wait()
        try:
            _open(world, outage, settings, render)
        except Exception as exc:  # pragma: no cover - what the test would report
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(world.invites()) == 40 and len(world.notices(notices.INVITE)) == 40
    with Session(engine) as session:
        (survey,) = session.exec(select(Survey)).all()
        assert survey.invited == 40
