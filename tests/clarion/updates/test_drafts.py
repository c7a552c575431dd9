"""One update per content, "new" only on purpose, an incident's own playbook, a first update again.

Issue 12: staging the same facts twice sent every recipient two emails and two SMS and posted twice;
facts of one playbook joined an incident of another; an incident whose first update failed was a
dead end.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from clarion.audiences.sources import Source
from clarion.errors import InputError
from clarion.facts import Facts, load_facts
from clarion.incidents.lifecycle import first_facts, open_incident
from clarion.kinds import Channel
from clarion.models import Delivery, Incident, Update, utcnow
from clarion.outbox.worker import Worker, WorkerConfig
from clarion.playbook import Playbook, load_playbook
from clarion.settings import Settings
from clarion.updates.publish import stage_update
from tests.clarion.outbox.conftest import FakeSender
from tests.helpers import EXAMPLES, PLAYBOOKS, ROOT

AUDIENCE = {"affected-customers": Source(csv=ROOT / "examples" / "audiences" / "affected-customers.csv")}


def _stage(
    engine: sa.Engine,
    playbook: Playbook,
    facts: Facts,
    settings: Settings,
    *,
    new_update: bool = False,
    source: str = "facts",
) -> int:
    sources = AUDIENCE if "affected-customers" in playbook.audiences else {}
    staged = stage_update(
        engine=engine,
        playbook=playbook,
        facts=facts,
        settings=settings,
        sources=sources,
        new_update=new_update,
        source=source,
    )
    return staged.update_id


def _rows(engine: sa.Engine) -> int:
    with Session(engine) as session:
        return len(session.exec(select(Delivery)).all())


def test_staging_the_same_facts_twice_is_one_update_sent_once(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings
) -> None:
    first = _stage(sqlite_engine, breach, facts, settings)
    rows = _rows(sqlite_engine)
    again = _stage(sqlite_engine, breach, facts, settings)

    assert again == first and _rows(sqlite_engine) == rows
    senders = {c: FakeSender(c) for c in (Channel.EMAIL, Channel.SMS, Channel.MASTODON, Channel.BLUESKY)}
    config = WorkerConfig(name="w", threads=1, idle_poll=0.01, in_flight=timedelta(0))
    Worker(sqlite_engine, senders, config).run()
    sent = Counter(n for sender in senders.values() for n in sender.sent.values())
    assert set(sent) == {1}  # every message once
    assert sum(sent.values()) == 14  # 5 emails, 5 SMS, 2 toots, 2 Bluesky posts


def test_different_facts_for_an_incident_need_a_new_update_said_on_purpose(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings
) -> None:
    _stage(sqlite_engine, breach, facts, settings)
    rows = _rows(sqlite_engine)
    later = facts.model_copy(update={"as_of": facts.as_of + timedelta(hours=1)})

    with pytest.raises(InputError) as refused:
        _stage(sqlite_engine, breach, later, settings, source="update-2.yaml")
    assert str(refused.value) == (
        "update-2.yaml: reference: INC-0042 already has update 1 (published) with other facts; "
        "to publish these as update 2, say so with --new-update"
    )
    assert _rows(sqlite_engine) == rows

    second = _stage(sqlite_engine, breach, later, settings, new_update=True)
    with Session(sqlite_engine) as session:
        numbers = [u.number for u in session.exec(select(Update).where(Update.id == second))]
    assert numbers == [2] and _rows(sqlite_engine) > rows


def test_facts_of_one_playbook_never_join_an_incident_of_another(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings
) -> None:
    _stage(sqlite_engine, breach, facts, settings)
    outage = load_playbook(PLAYBOOKS / "outage.yaml")
    outage_facts = load_facts(EXAMPLES / "outage.yaml", outage).model_copy(
        update={"reference": facts.reference}
    )
    rows = _rows(sqlite_engine)

    with pytest.raises(InputError) as refused:
        _stage(sqlite_engine, outage, outage_facts, settings, new_update=True, source="outage.yaml")

    assert "INC-0042 is an incident of playbook data-breach; facts of playbook outage" in str(refused.value)
    assert _rows(sqlite_engine) == rows


def test_a_first_update_can_be_drafted_again_from_the_declaration(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts
) -> None:
    declared = facts.model_dump(mode="json", exclude={"reference", "as_of"})
    with Session(sqlite_engine, expire_on_commit=False) as session:
        incident = open_incident(
            session=session,
            playbook=breach,
            reference=None,
            title=facts.title,
            severity=facts.severity,
            status=facts.status,
            aware_at=facts.aware_at,
            started_at=facts.started_at,
            commander=None,
            declared_facts=declared,
        )
        session.commit()
    with Session(sqlite_engine) as session:
        stored = session.exec(select(Incident)).one()

    again = first_facts(stored, as_of=utcnow())

    assert again.reference == incident.reference and again.story == facts.story
    assert again.breach == facts.breach
