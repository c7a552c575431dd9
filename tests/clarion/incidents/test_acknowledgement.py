"""The acknowledgement: the playbook's words at declaration, on its channels only, before any approval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from clarion import store
from clarion.compliance import deadlines
from clarion.errors import PlaybookError
from clarion.facts import Facts, load_facts
from clarion.incidents import acknowledgement
from clarion.incidents.lifecycle import (
    Action,
    Phase,
    acknowledged_only,
    cadence_action,
    latest_told,
    open_declared,
)
from clarion.kinds import Channel, UpdateKind, UpdateState
from clarion.models import Delivery, Incident, Rendition, Update
from clarion.playbook import Playbook, load_playbook
from clarion.settings import get_settings
from tests.helpers import EXAMPLES, PLAYBOOKS, load_raw, write_yaml

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # after the example facts' awareness
WORDS = {
    "en": {
        "text": 'We know about "{title}"{affecting}. Investigating.',
        "short": 'Aware of "{title}".',
        "affecting": " (affecting {components})",
    }
}


def playbook(name: str = "degraded-performance") -> Playbook:
    return load_playbook(PLAYBOOKS / f"{name}.yaml")


def variant(folder: Path, data: dict[str, Any]) -> Playbook:
    return load_playbook(write_yaml(folder / "degraded-performance.yaml", data))


def facts(name: str = "degraded-performance") -> Facts:
    return load_facts(EXAMPLES / f"{name}.yaml", playbook(name))


def test_it_says_only_the_playbooks_words_the_title_and_the_components() -> None:
    declared = facts()
    ack = acknowledgement.acknowledgement_facts(declared, playbook(), WORDS, as_of=T0)

    story = ack.story["en"]
    components = ", ".join(declared.impact.components)
    assert components
    assert story.apology.text == f'We know about "{declared.title}" (affecting {components}). Investigating.'
    assert (story.cause.text, story.fix.text, story.prevention.text) == (None, None, None)
    assert ack.next_update_by == T0 + timedelta(minutes=30)  # the playbook's next_update_in
    assert ack.impact.summary is None and ack.impact.affected_count is None  # nothing of the facts' words
    assert ack.commitments == [] and ack.breach is None


def test_a_locale_without_the_words_is_named() -> None:
    with pytest.raises(PlaybookError, match=r"templates/_locale/en.yaml has no acknowledgement.affecting"):
        acknowledgement.acknowledgement_facts(
            facts(), playbook(), {"en": {"text": "x", "short": "y"}}, as_of=T0
        )


def test_the_shipped_locales_have_the_words() -> None:
    words = acknowledgement.wording(playbook("security-vulnerability"), get_settings())
    ack = acknowledgement.acknowledgement_facts(
        facts("security-vulnerability"), playbook("security-vulnerability"), words, as_of=T0
    )
    assert ack.story["en"].apology.text.startswith('We are aware of a problem: "Critical vulnerability')


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        (["email", "banner"], "email: an acknowledgement goes out before any approval"),
        (["statuspage", "mastodon"], "acknowledgement.channels: mastodon is not a channel of this playbook"),
        (["banner", "banner"], "channels are listed twice"),
    ],
)
def test_an_acknowledgement_never_goes_to_a_person_nor_where_the_playbook_does_not_speak(
    channels: list[str], message: str, tmp_path: Path
) -> None:
    data = load_raw(PLAYBOOKS / "degraded-performance.yaml")
    data["acknowledgement"]["channels"] = channels
    with pytest.raises(PlaybookError, match=message):
        variant(tmp_path, data)


def test_the_acknowledging_playbook_keeps_only_its_channels() -> None:
    cut = playbook().acknowledging()
    assert {name: a.channels for name, a in cut.audiences.items()} == {
        "affected-customers": [Channel.BANNER]  # status-subscribers had email and SMS only: left out
    }
    assert cut.public_channels == [Channel.STATUSPAGE]


def test_the_short_form_needs_the_playbooks_organisation_and_contact(tmp_path: Path) -> None:
    data = load_raw(PLAYBOOKS / "degraded-performance.yaml")
    del data["acknowledgement"]["short_form"]
    bare = variant(tmp_path, data)
    with pytest.raises(PlaybookError, match=r"the short declare form needs acknowledgement\.short_form"):
        acknowledgement.short_form_facts(
            bare,
            WORDS,
            reference="INC-0001",
            title="Slow API",
            severity="sev1",
            components=[],
            as_of=T0,
            status_page_url="https://status.example/incidents/INC-0001",
        )
    data["acknowledgement"]["short_form"] = {"organisation": "Acme", "contact": {"hours": "24/7"}}
    with pytest.raises(PlaybookError, match="give at least one of phone, email or url"):
        variant(tmp_path, data)


def store_with_acknowledgement(
    name: str = "degraded-performance", jurisdictions: tuple[str, ...] = ()
) -> tuple[Incident, Playbook]:
    """The example incident of playbook ``name`` opened (as INC-0001) and acknowledged at T0."""
    book = playbook(name)
    engine = store.get_engine()
    store.migrate(engine)
    declared = facts(name).model_copy(update={"reference": None, "aware_at": T0, "started_at": None})
    with Session(engine, expire_on_commit=False) as session:
        incident = open_declared(
            session=session, playbook=book, facts=declared, commander=None, jurisdictions=jurisdictions
        )
        session.commit()
    acknowledgement.publish(
        engine=engine, incident=incident, playbook=book, settings=get_settings(), as_of=T0
    )
    return incident, book


def test_published_it_reaches_the_status_page_and_the_banner_and_nobody_in_person() -> None:
    incident, book = store_with_acknowledgement()
    with Session(store.get_engine()) as session:
        [update] = session.exec(select(Update))
        channels = sorted({r.channel.value for r in session.exec(select(Rendition))})
        rows = sorted({d.channel.value for d in session.exec(select(Delivery))})
        assert (update.kind, update.state, update.number) == (
            UpdateKind.ACKNOWLEDGEMENT,
            UpdateState.PUBLISHED,
            1,
        )
        assert channels == rows == ["banner"]  # the status page renders from the store
        assert acknowledged_only(session=session, reference=incident.reference, playbook=book) is not None
        assert (
            acknowledged_only(session=session, reference=incident.reference, playbook=playbook("outage"))
            is None
        )
        assert latest_told(session=session, incident_id=incident.id or 0) is None
        row = session.get(Incident, incident.id)
        assert row is not None
        # its lapse escalates to the commander: a holding statement would repeat it on every channel
        assert (
            cadence_action(session=session, incident=row, update_number=1, phase=Phase.LAPSE, playbook=book)
            is Action.ESCALATE
        )


def test_it_meets_no_regulatory_stage() -> None:
    incident, _ = store_with_acknowledgement("security-vulnerability", ("EU",))
    engine = store.get_engine()
    with Session(engine) as session:
        row = session.get(Incident, incident.id)
        assert row is not None
        assert deadlines.meet_by_update(session=session, incident=row, update_number=1, at=T0) == []
        assert session.exec(select(Update).order_by(col(Update.id))).first() is not None
