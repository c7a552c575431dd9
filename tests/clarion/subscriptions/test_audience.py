"""Confirmed subscribers as a playbook's audience: an update reaches those who chose a component it
touches (or every component), and nobody else."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from clarion import store
from clarion.audiences.sources import playbook_sources
from clarion.facts import Facts, load_facts
from clarion.kinds import Channel
from clarion.models import Delivery, Notice, Recipient, utcnow
from clarion.outbox.notices import NoticeRenderer
from clarion.playbook import Playbook, load_playbook
from clarion.settings import Settings
from clarion.subscriptions.audience import subscriber_rows, subscriber_summary, wants
from clarion.subscriptions.choices import Request
from clarion.subscriptions.manage import unsubscribe
from clarion.subscriptions.requests import Confirmed, confirm, request_subscription
from clarion.updates.publish import stage_update
from tests.clarion.subscriptions.conftest import CLIENT
from tests.helpers import EXAMPLES, PLAYBOOKS, load_raw, write_yaml


def subscribe(
    engine: sa.Engine, key: bytes, render: NoticeRenderer, request: Request, *, confirmed: bool = True
) -> int:
    with store.session_scope(engine) as session:
        asked = request_subscription(
            session=session,
            key=key,
            request=request,
            client=f"{CLIENT}-{request.address}",
            now=utcnow(),
            render=render,
        )
    if not confirmed:
        return 0
    with store.session_scope(engine) as session:
        done: Confirmed = confirm(
            session=session, key=key, confirmation_id=asked.confirmation_id, now=utcnow(), render=render
        )
    return done.subscriber_id


@pytest.mark.parametrize(
    ("chosen", "touched", "hears"),
    [
        ((), ("api",), True),
        (("api",), ("api", "dashboard"), True),
        (("api",), ("builds",), False),
        (("api",), (), True),
        ((), (), True),
    ],
)
def test_who_wants_what(chosen: tuple[str, ...], touched: tuple[str, ...], hears: bool) -> None:
    assert wants(chosen, touched) is hears


def test_rows_are_the_confirmed_subscribers_who_want_the_update(
    engine: sa.Engine, key: bytes, render: NoticeRenderer
) -> None:
    a = subscribe(engine, key, render, Request(Channel.EMAIL, "a@example.com", ("api",), "en"))
    b = subscribe(engine, key, render, Request(Channel.EMAIL, "b@example.com", ("builds",), "de"))
    everything = subscribe(engine, key, render, Request(Channel.SMS, "+4915112345678", (), "en"))
    subscribe(engine, key, render, Request(Channel.EMAIL, "pending@example.com", (), "en"), confirmed=False)
    gone = subscribe(engine, key, render, Request(Channel.EMAIL, "gone@example.com", (), "en"))
    with store.session_scope(engine) as session:
        unsubscribe(session=session, subscriber_id=gone, generation=1, now=utcnow())

    def reached(touched: list[str], channels: tuple[Channel, ...] = (Channel.EMAIL, Channel.SMS)) -> set[str]:
        return {r.external_id for r in subscriber_rows(engine, channels=channels, components=touched)}

    assert reached(["api"]) == {f"subscriber:{a}", f"subscriber:{everything}"}
    assert reached(["builds"]) == {f"subscriber:{b}", f"subscriber:{everything}"}
    assert reached([]) == {f"subscriber:{a}", f"subscriber:{b}", f"subscriber:{everything}"}
    assert reached(["api"], (Channel.EMAIL,)) == {f"subscriber:{a}"}
    rows = {
        r.external_id: r
        for r in subscriber_rows(engine, channels=[Channel.EMAIL, Channel.SMS], components=[])
    }
    assert (rows[f"subscriber:{b}"].email, rows[f"subscriber:{b}"].locale) == ("b@example.com", "de")
    assert (rows[f"subscriber:{everything}"].phone, rows[f"subscriber:{everything}"].email) == (
        "+4915112345678",
        None,
    )
    summary = subscriber_summary(engine, channels=[Channel.EMAIL], components=["api"])
    assert summary.rows == 1
    assert summary.variants == {("en", None), ("de", None)}  # every language the form offers


@pytest.fixture
def subscribers_playbook(tmp_path: Path) -> tuple[Playbook, Path]:
    """The outage playbook (in English only: a German subscriber reads it too) with one audience:
    the status page's subscribers, by email and SMS."""
    data = load_raw(PLAYBOOKS / "outage.yaml")
    data["audiences"] = {
        "subscribers": {
            "description": "People who subscribed on the status page.",
            "channels": ["email", "sms"],
            "source": {"subscribers": {"channels": ["email", "sms"]}},
        }
    }
    path = write_yaml(tmp_path / "playbooks" / "outage.yaml", data)
    return load_playbook(path), path


def facts_touching(playbook: Playbook, components: list[str], reference: str, tmp_path: Path) -> Facts:
    data = load_raw(EXAMPLES / "outage.yaml")
    data["impact"]["components"] = components
    data["reference"] = reference
    data.pop("recipient", None)
    return load_facts(write_yaml(tmp_path / f"{reference}.yaml", data), playbook)


def test_an_update_touching_a_component_reaches_its_subscribers_and_not_the_others(
    sqlite_engine: sa.Engine,
    key: bytes,
    render: NoticeRenderer,
    settings: Settings,
    subscribers_playbook: tuple[Playbook, Path],
    tmp_path: Path,
) -> None:
    engine = sqlite_engine
    settings = settings.model_copy(update={"database_url": str(engine.url)})
    playbook, path = subscribers_playbook
    a = subscribe(engine, key, render, Request(Channel.EMAIL, "a@example.com", ("api",), "en"))
    b = subscribe(engine, key, render, Request(Channel.EMAIL, "b@example.com", ("builds",), "de"))
    sources = playbook_sources(playbook, path, settings)

    staged = stage_update(
        engine=engine,
        playbook=playbook,
        facts=facts_touching(playbook, ["api"], "INC-0101", tmp_path),
        settings=settings,
        sources=sources,
    )

    with Session(engine) as session:
        sent = session.exec(
            select(Recipient.external_id, Delivery.channel)
            .join(Delivery, Delivery.recipient_id == Recipient.id)  # type: ignore[arg-type]
            .where(Delivery.update_id == staged.update_id)
        ).all()
    assert sent == [(f"subscriber:{a}", Channel.EMAIL)]
    assert staged.audiences["subscribers"].planned == 1

    other = stage_update(
        engine=engine,
        playbook=playbook,
        facts=facts_touching(playbook, ["builds"], "INC-0102", tmp_path),
        settings=settings,
        sources=sources,
    )
    with Session(engine) as session:
        sent = session.exec(
            select(Recipient.external_id)
            .join(Delivery, Delivery.recipient_id == Recipient.id)  # type: ignore[arg-type]
            .where(Delivery.update_id == other.update_id)
        ).all()
        notices = session.exec(select(Notice)).all()
    assert sent == [f"subscriber:{b}"]
    assert len(notices) == 4  # two confirmations, two welcomes: the updates went out as updates
