"""Commitments: stored with the update that names them, never due in the past at creation, shipped or
dropped once with an audit entry, listed as overdue after their day, and told as "you asked, we built it"
within every channel's limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from clarion.commitments import changes
from clarion.commitments.followup import built_facts
from clarion.commitments.tracking import Phase, checks, due_moment, listed, telling_due
from clarion.errors import FactsError, InputError
from clarion.facts import Facts, load_facts
from clarion.kinds import CommitmentState, UpdateKind, UpdateState
from clarion.models import AuditEvent, Commitment, Incident, Update
from clarion.playbook import load_playbook
from clarion.settings import Settings
from clarion.updates.compose import compose
from clarion.updates.consistency import preflight
from clarion.updates.drafts import store_update
from clarion.updates.render import Renderer
from tests.helpers import EXAMPLES, PLAYBOOKS, TEMPLATES, load_raw, shipped_playbooks, write_yaml

BREACH = load_playbook(PLAYBOOKS / "data-breach.yaml")
AS_OF = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PROMISES: list[dict[str, Any]] = [
    {
        "id": "C1",
        "owner": "platform-lead@acme.example",
        "due": "2026-12-20",
        "text": {
            "en": "Every change to storage permissions gets a second reviewer.",
            "de": "Jede Änderung an Speicherrechten bekommt eine zweite Prüfung.",
        },
    },
    {
        "id": "C2",
        "owner": "security-oncall@example.com",
        "due": "2026-11-30",
        "text": {"en": "Alarms on every public bucket.", "de": "Alarme für jeden öffentlichen Speicher."},
    },
]


def facts_with(promises: list[dict[str, Any]], tmp_path: Any = None) -> Facts:
    data = load_raw(EXAMPLES / "data-breach.yaml")
    data["commitments"] = promises
    return Facts.model_validate(data)


def _store(engine: sa.Engine, facts: Facts) -> None:
    store_update(
        engine,
        BREACH,
        facts,
        UpdateKind.INITIAL,
        AS_OF + timedelta(hours=1),
        state=UpdateState.DRAFT,
        commander="ic",
    )


def _rows(engine: sa.Engine) -> dict[str, Commitment]:
    with Session(engine) as session:
        return {row.key: row for row in session.exec(select(Commitment))}


def _actions(engine: sa.Engine) -> list[str]:
    with Session(engine) as session:
        return [e.action for e in session.exec(select(AuditEvent)) if e.action.startswith("commitment.")]


def test_commitments_are_stored_with_the_update_that_names_them(memory_engine: sa.Engine) -> None:
    _store(memory_engine, facts_with(PROMISES))
    rows = _rows(memory_engine)
    assert set(rows) == {"C1", "C2"}
    assert rows["C1"].due_on == date(2026, 12, 20) and rows["C1"].state is CommitmentState.PLANNED
    assert rows["C2"].texts["de"].startswith("Alarme")
    assert _actions(memory_engine) == ["commitment.created", "commitment.created"]


def test_a_new_commitment_due_before_its_update_is_refused_and_nothing_is_stored(
    memory_engine: sa.Engine,
) -> None:
    late = [{**PROMISES[0], "due": "2026-11-01"}]
    with pytest.raises(InputError) as caught:
        _store(memory_engine, facts_with(late))
    assert "commitments.0.due: 2026-11-01 is before 2026-11-23" in str(caught.value)
    with Session(memory_engine) as session:
        assert session.exec(select(Incident)).all() == [] and session.exec(select(Update)).all() == []
    assert _rows(memory_engine) == {}


def test_a_malformed_owner_or_a_missing_locale_is_named_at_its_line(tmp_path: Any) -> None:
    data = load_raw(EXAMPLES / "data-breach.yaml")
    data["commitments"] = [{**PROMISES[0], "owner": "Bob Smith"}]
    with pytest.raises(FactsError) as caught:
        load_facts(write_yaml(tmp_path / "facts.yaml", data), BREACH)
    assert "facts.yaml:83: commitments[0].owner" in str(
        caught.value
    ) and "'Bob Smith' is not an email address" in str(caught.value)
    data["commitments"] = [{**PROMISES[0], "text": {"en": "Only English."}}]
    with pytest.raises(FactsError) as caught:
        load_facts(write_yaml(tmp_path / "facts.yaml", data), BREACH)
    assert "commitments.0.text: no text in de for C1" in str(caught.value)
    data["commitments"] = [PROMISES[0], PROMISES[0]]
    with pytest.raises(FactsError) as caught:
        load_facts(write_yaml(tmp_path / "facts.yaml", data), BREACH)
    assert "commitment C1 is listed twice" in str(caught.value)


def test_ship_drop_and_start_are_recorded_once_and_final_states_stay(memory_engine: sa.Engine) -> None:
    _store(memory_engine, facts_with(PROMISES))
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    with Session(memory_engine) as session:
        with pytest.raises(InputError, match=r"INC-0042 has no commitment C9 \(it has: C1, C2\)"):
            changes.ship(
                session=session, reference="INC-0042", key="C9", note="x", asked=False, actor="a", now=now
            )
        with pytest.raises(InputError, match="there is no incident INC-0999"):
            changes.ship(
                session=session, reference="INC-0999", key="C1", note="x", asked=False, actor="a", now=now
            )
        with pytest.raises(InputError, match="--note"):
            changes.ship(
                session=session, reference="INC-0042", key="C1", note="  ", asked=False, actor="a", now=now
            )
        changes.start(session=session, reference="INC-0042", key="C1", actor="a", now=now)
        shipped = changes.ship(
            session=session,
            reference="INC-0042",
            key="C1",
            note="Two reviewers.",
            asked=True,
            actor="a",
            now=now,
        )
        again = changes.ship(
            session=session, reference="INC-0042", key="C1", note="y", asked=False, actor="b", now=now
        )
        with pytest.raises(InputError, match="C1 was shipped on 2026-12-06: cannot drop it"):
            changes.drop(session=session, reference="INC-0042", key="C1", reason="no", actor="a", now=now)
    assert shipped.followup_due and again.followup_due
    row = _rows(memory_engine)["C1"]
    assert (row.state, row.note, row.asked, row.changed_by) == (
        CommitmentState.SHIPPED,
        "Two reviewers.",
        True,
        "a",
    )
    assert _actions(memory_engine)[2:] == ["commitment.started", "commitment.shipped"]


def test_overdue_after_the_end_of_its_day_and_the_checks_tell_only_what_is_due(
    memory_engine: sa.Engine,
) -> None:
    _store(memory_engine, facts_with(PROMISES))
    c2 = _rows(memory_engine)["C2"]
    assert due_moment(c2.due_on) == datetime(2026, 12, 1, tzinfo=UTC)
    assert checks(c2, timedelta(days=3)) == [
        (Phase.REMIND, datetime(2026, 11, 28, tzinfo=UTC)),
        (Phase.ESCALATE, datetime(2026, 12, 1, tzinfo=UTC)),
    ]
    before = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    after = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert telling_due(c2, Phase.REMIND, due_on=c2.due_on, now=before)
    assert not telling_due(c2, Phase.ESCALATE, due_on=c2.due_on, now=before)
    assert telling_due(c2, Phase.ESCALATE, due_on=c2.due_on, now=after)
    assert not telling_due(c2, Phase.ESCALATE, due_on=date(2026, 11, 29), now=after)  # a day it moved from
    with Session(memory_engine) as session:
        overdue = listed(session, now=after, overdue_only=True)
        everything = listed(session, now=after, reference="INC-0042")
    assert [(r.key, r.days_left) for r in overdue] == [("C2", -1)]
    assert [r.key for r in everything] == ["C2", "C1"]


def test_the_follow_up_tells_the_promise_what_was_built_and_that_people_asked_on_every_channel() -> None:
    facts = facts_with(PROMISES)
    row = Commitment(
        incident_id=1,
        key="C1",
        texts=PROMISES[0]["text"],
        owner="x@example.com",
        due_on=date(2026, 12, 20),
        state=CommitmentState.SHIPPED,
        note="Storage permission changes now need two reviewers.",
        asked=True,
        changed_at=datetime(2026, 12, 6, 12, 0, tzinfo=UTC),
    )
    renderer = Renderer(BREACH, TEMPLATES, sms_max_segments=3)
    wording = {locale: renderer.locale_text(locale).built for locale in BREACH.locales}
    built = built_facts(facts, row, wording=wording, declared=AS_OF, others=[row])
    en = built.story["en"]
    assert en.apology.text is not None and "November 23, 2026" in en.apology.text
    assert en.prevention.text is not None and "What we promised: Every change" in en.prevention.text
    assert "Many of you asked for this" in en.prevention.text
    assert "Storage permission changes now need two reviewers." in en.prevention.text
    assert (
        built.story["de"].prevention.text is not None and "Unsere Zusage" in built.story["de"].prevention.text
    )
    assert built.story["en"].cause == facts.story["en"].cause
    renditions = compose(BREACH, built, Settings(templates_dir=TEMPLATES))
    preflight(renditions)  # every rendition fits its channel and they all agree
    assert {r.channel.value for r in renditions} >= {"email", "sms", "banner"}


@pytest.mark.parametrize("name", shipped_playbooks())
def test_every_playbook_tells_a_shipped_commitment_within_every_channels_limits(name: str) -> None:
    """The longest wording: a long promise and note, in every locale the playbook ships."""
    playbook = load_playbook(PLAYBOOKS / f"{name}.yaml")
    facts = Facts.model_validate(load_raw(EXAMPLES / f"{name}.yaml"))
    row = Commitment(
        incident_id=1,
        key="C1",
        texts={
            locale: "Every change to storage permissions gets a second reviewer, " * 3
            for locale in playbook.locales
        },
        owner="x@example.com",
        due_on=date(2026, 12, 20),
        state=CommitmentState.SHIPPED,
        note="Storage permission changes now need two reviewers, enforced by the deployment pipeline.",
        asked=True,
        changed_at=datetime(2026, 12, 6, 12, 0, tzinfo=UTC),
    )
    renderer = Renderer(playbook, TEMPLATES, sms_max_segments=3)
    wording = {locale: renderer.locale_text(locale).built for locale in playbook.locales}
    built = built_facts(facts, row, wording=wording, declared=AS_OF, others=[row])
    preflight(compose(playbook, built, Settings(templates_dir=TEMPLATES)))
