"""Fan-out: one message per address and channel in an update, however many ids or audiences share it.

The data-breach playbook and example facts, sent to the example audience (c1001…c1006) plus rows
that share its addresses; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion.audiences import consent
from clarion.audiences.audience import RecipientRow
from clarion.audiences.sources import Source
from clarion.facts import load_facts
from clarion.kinds import Channel, DeliveryState, UpdateState
from clarion.models import Delivery, Recipient, Rendition
from clarion.outbox.fanout import AudiencePlan, FanOutCount, enqueue_audience
from clarion.playbook import Playbook, load_playbook
from clarion.settings import Settings
from clarion.updates.publish import Staged, draft_update, enqueue_update
from tests.helpers import EXAMPLES, PLAYBOOKS, ROOT, load_raw, write_yaml

AUDIENCE = "affected-customers"
EXAMPLE_CSV = ROOT / "examples" / "audiences" / "affected-customers.csv"
BERLIN = "Europe/Berlin"


@pytest.fixture
def breach() -> Playbook:
    return load_playbook(PLAYBOOKS / "data-breach.yaml")


def audience_with(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "audience.csv"
    shutil.copyfile(EXAMPLE_CSV, path)
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(f"{row}\n" for row in rows)
    return path


def approved(engine: sa.Engine, breach: Playbook, settings: Settings, path: Path) -> int:
    facts = load_facts(EXAMPLES / "data-breach.yaml", breach)
    sources = {AUDIENCE: Source(csv=path)}
    made = draft_update(
        engine=engine,
        playbook=breach,
        facts=facts,
        settings=settings,
        sources=sources,
        state=UpdateState.APPROVED,
    )
    return made.update_id


def stage(engine: sa.Engine, breach: Playbook, settings: Settings, path: Path) -> Staged:
    update_id = approved(engine, breach, settings, path)
    return enqueue_update(
        engine=engine,
        playbook=breach,
        update_id=update_id,
        settings=settings,
        sources={AUDIENCE: Source(csv=path)},
    )


def plan_for(engine: sa.Engine, breach: Playbook, update_id: int, audience: str = AUDIENCE) -> AudiencePlan:
    with Session(engine) as session:
        renditions = {
            (r.channel, r.locale, r.time_zone): r.id
            for r in session.exec(select(Rendition).where(Rendition.update_id == update_id))
            if r.id is not None
        }
    return AudiencePlan(
        update_id=update_id,
        audience=audience,
        channels=[Channel.EMAIL, Channel.SMS],
        renditions=renditions,
        locales=breach.locales,
        default_time_zone=BERLIN,
    )


def sent_to(engine: sa.Engine, update_id: int) -> Counter[tuple[str, str, str]]:
    """(channel, recipient id, state) of every personal message of the update."""
    with Session(engine) as session:
        rows = session.exec(
            select(Delivery.channel, Recipient.external_id, Delivery.state)
            .join(Recipient, col(Recipient.id) == Delivery.recipient_id)
            .where(Delivery.update_id == update_id)
        ).all()
    return Counter((str(channel), external_id, str(state)) for channel, external_id, state in rows)


def counts(count: FanOutCount) -> tuple[int, int, int, int, int]:
    return count.recipients, count.planned, count.merged, count.already_staged, count.suppressed


def test_one_message_per_address_per_channel_in_an_update(
    engine: sa.Engine, breach: Playbook, settings: Settings, tmp_path: Path
) -> None:
    path = audience_with(
        tmp_path,
        "c1007,Ana.Silva@EXAMPLE.com,+49 151 12345671,de,Europe/Berlin",  # c1001's email and phone
        "c1008,BEN.OKAFOR@example.com,,en,Europe/London",  # c1002's email
    )

    staged = stage(engine, breach, settings, path)

    fan_out = staged.audiences[AUDIENCE]
    assert counts(fan_out) == (8, 10, 3, 0, 0)
    assert fan_out.per_channel == {Channel.EMAIL: 5, Channel.SMS: 5}
    people = {who for _, who, _ in sent_to(engine, staged.update_id)}
    assert people == {"c1001", "c1002", "c1003", "c1004", "c1005", "c1006"}  # the first of each address


def test_shared_addresses_collapse_across_audiences_of_an_update(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    raw = load_raw(PLAYBOOKS / "data-breach.yaml")
    raw["audiences"]["partners"] = {"description": "Resellers' contacts.", "channels": ["email", "sms"]}
    two = load_playbook(write_yaml(tmp_path / "playbooks" / "data-breach.yaml", raw))
    partners = tmp_path / "partners.csv"
    partners.write_text(
        "id,email,phone,locale\n"
        "p1,ana.silva@example.com,,de\n"  # c1001's email, under another id
        "c1002,ben.okafor@example.com,+447911123456,en\n"  # c1002, in both audiences
        "p2,new@example.com,,en\n",
        encoding="utf-8",
    )
    sources = {AUDIENCE: Source(csv=EXAMPLE_CSV), "partners": Source(csv=partners)}
    facts = load_facts(EXAMPLES / "data-breach.yaml", two)
    made = draft_update(
        engine=engine,
        playbook=two,
        facts=facts,
        settings=settings,
        sources=sources,
        state=UpdateState.APPROVED,
    )

    staged = enqueue_update(
        engine=engine, playbook=two, update_id=made.update_id, settings=settings, sources=sources
    )

    assert counts(staged.audiences[AUDIENCE]) == (6, 10, 0, 0, 0)
    assert counts(staged.audiences["partners"]) == (3, 1, 3, 0, 0)
    assert staged.audiences["partners"].per_channel == {Channel.EMAIL: 1}
    assert sent_to(engine, made.update_id)[("email", "p2", "pending")] == 1
    assert sum(sent_to(engine, made.update_id).values()) == 11


def test_shared_addresses_collapse_across_chunks(
    engine: sa.Engine, breach: Playbook, settings: Settings
) -> None:
    update_id = approved(engine, breach, settings, EXAMPLE_CSV)
    rows = [
        RecipientRow("p1", email="new@example.com", locale="en"),
        RecipientRow("p2", email="NEW@example.com", phone="+447911123456", locale="en"),
        RecipientRow("p3", phone="+447911123456", locale="en"),
    ]

    count = enqueue_audience(engine=engine, plan=plan_for(engine, breach, update_id), rows=rows, chunk=1)

    assert counts(count) == (3, 2, 2, 0, 0)
    assert sent_to(engine, update_id) == Counter({("email", "p1", "pending"): 1, ("sms", "p2", "pending"): 1})


def test_a_rerun_of_the_same_staging_merges_nothing_and_adds_nothing(
    engine: sa.Engine, breach: Playbook, settings: Settings, tmp_path: Path
) -> None:
    path = audience_with(tmp_path, "c1007,ana.silva@example.com,,de,Europe/Berlin")
    staged = stage(engine, breach, settings, path)
    before = sent_to(engine, staged.update_id)
    plan = plan_for(engine, breach, staged.update_id)

    for chunk in (2_000, 1):  # the repeat in the same chunk as its first, and in a chunk of its own
        again = enqueue_audience(engine=engine, plan=plan, rows=Source(csv=path).rows(), chunk=chunk)

        assert counts(again) == (7, 10, 0, 11, 0)  # 10 messages of its own, c1007 merged before
        assert again.per_channel == {Channel.EMAIL: 5, Channel.SMS: 5}
        assert sent_to(engine, staged.update_id) == before


def test_a_suppressed_twin_does_not_hold_back_the_address(
    engine: sa.Engine, breach: Playbook, settings: Settings, tmp_path: Path
) -> None:
    path = audience_with(tmp_path, "c1007,,+4915112345671,en,")  # c1001's phone, under another id
    update_id = approved(engine, breach, settings, path)
    with Session(engine) as session:  # c1001, known from an earlier incident, replied STOP
        recipient = Recipient(external_id="c1001", phone_e164="+4915112345671")
        session.add(recipient)
        session.commit()
        assert recipient.id is not None
        consent.withdraw(
            session=session,
            recipient_id=recipient.id,
            channel=Channel.SMS,
            source="sms-stop",
            at=datetime(2026, 11, 1, tzinfo=UTC),
        )
        session.commit()

    staged = enqueue_update(
        engine=engine,
        playbook=breach,
        update_id=update_id,
        settings=settings,
        sources={AUDIENCE: Source(csv=path)},
    )

    assert counts(staged.audiences[AUDIENCE]) == (7, 11, 0, 0, 1)
    sms = {who: state for channel, who, state in sent_to(engine, update_id) if channel == "sms"}
    assert sms["c1001"] == DeliveryState.SUPPRESSED.value
    assert sms["c1007"] == DeliveryState.PENDING.value


def test_the_address_key_is_set_on_rows_to_send_only(
    engine: sa.Engine, breach: Playbook, settings: Settings
) -> None:
    staged = stage(engine, breach, settings, EXAMPLE_CSV)

    with Session(engine) as session:
        keys = session.exec(
            select(Delivery.channel, Delivery.address_key).where(Delivery.update_id == staged.update_id)
        ).all()

    personal = [key for channel, key in keys if channel in (Channel.EMAIL, Channel.SMS)]
    broadcast = [key for channel, key in keys if channel not in (Channel.EMAIL, Channel.SMS)]
    assert len(personal) == 10 and all(key is not None and len(key) == 32 for key in personal)
    assert len(set(personal)) == 10
    assert broadcast and all(key is None for key in broadcast)
