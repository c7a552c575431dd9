"""Publishing an update in two steps: draft (checked, rendered, stored) and enqueue (the outbox rows).

The data-breach playbook and example facts, sent to the example audience CSV: six customers in
en/de and four time zones (two without one), one without email and one without a phone.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion.audiences.sources import Source, playbook_sources
from clarion.errors import InputError, NotFound, PlaybookError, Problem
from clarion.facts import Facts
from clarion.incidents.lifecycle import holding_facts, next_facts
from clarion.kinds import Channel, DeliveryState, IncidentStatus, UpdateKind, UpdateState
from clarion.models import AuditEvent, Delivery, Incident, Recipient, Rendition, Update
from clarion.playbook import Playbook, load_playbook
from clarion.settings import Settings
from clarion.updates.publish import Draft, Staged, draft_update, enqueue_update, redraft_update, stage_update
from clarion.updates.render import Renderer
from tests.helpers import PLAYBOOKS, ROOT, TEMPLATES

AUDIENCE_CSV = ROOT / "examples" / "audiences" / "affected-customers.csv"
AUDIENCE = "affected-customers"
BERLIN = "Europe/Berlin"
NEW_TITLE = "Customer contact details exposed, now contained"

PERSONAL_KEYS = [
    ("de", BERLIN),
    ("en", "America/Los_Angeles"),
    ("en", "Australia/Sydney"),
    ("en", BERLIN),  # c1003 has no time zone: the playbook's public one
    ("en", "Europe/London"),
]
RENDITION_KEYS = sorted(
    [(c, loc, tz) for c in ("email", "sms") for loc, tz in PERSONAL_KEYS]
    + [(c, loc, BERLIN) for c in ("banner", "bluesky", "mastodon") for loc in ("de", "en")]
)
DELIVERIES = {
    ("email", AUDIENCE): 5,  # c1004 has no email
    ("sms", AUDIENCE): 5,  # c1003 has no phone
    ("banner", AUDIENCE): 2,  # one per locale
    ("banner", "all-customers"): 2,
    ("mastodon", None): 2,
    ("bluesky", None): 2,
}


def sources(path: Path = AUDIENCE_CSV) -> dict[str, Source]:
    return {AUDIENCE: Source(csv=path)}


def audience_with(tmp_path: Path, *rows: str) -> Path:
    """The example audience plus ``rows`` (CSV lines)."""
    path = tmp_path / "audience.csv"
    shutil.copyfile(AUDIENCE_CSV, path)
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(f"{row}\n" for row in rows)
    return path


def draft(
    engine: sa.Engine,
    breach: Playbook,
    facts: Facts,
    settings: Settings,
    *,
    path: Path = AUDIENCE_CSV,
    kind: UpdateKind = UpdateKind.UPDATE,
    state: UpdateState = UpdateState.DRAFT,
) -> Draft:
    return draft_update(
        engine=engine,
        playbook=breach,
        facts=facts,
        settings=settings,
        sources=sources(path),
        kind=kind,
        state=state,
    )


def enqueue(
    engine: sa.Engine, breach: Playbook, update_id: int, settings: Settings, path: Path = AUDIENCE_CSV
) -> Staged:
    return enqueue_update(
        engine=engine, playbook=breach, update_id=update_id, settings=settings, sources=sources(path)
    )


def rendition_keys(engine: sa.Engine, update_id: int) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        rows = session.exec(select(Rendition).where(Rendition.update_id == update_id)).all()
    return sorted((r.channel.value, r.locale, r.time_zone) for r in rows)


def deliveries(engine: sa.Engine) -> Counter[tuple[str, str | None]]:
    with Session(engine) as session:
        return Counter((d.channel.value, d.audience) for d in session.exec(select(Delivery)))


def count(engine: sa.Engine, table: type[Recipient] | type[Delivery] | type[Update] | type[Incident]) -> int:
    with Session(engine) as session:
        return len(session.exec(select(table)).all())


def published_entries(engine: sa.Engine) -> list[str]:
    """The subjects of the audit trail's ``update.published`` entries, oldest first."""
    with Session(engine) as session:
        return list(
            session.exec(
                select(AuditEvent.subject)
                .where(AuditEvent.action == "update.published")
                .order_by(col(AuditEvent.id))
            )
        )


def stored(engine: sa.Engine, update_id: int) -> tuple[Update, Incident]:
    with Session(engine) as session:
        update = session.get(Update, update_id)
        assert update is not None
        incident = session.get(Incident, update.incident_id)
        assert incident is not None
        return update, incident


# ── draft ─────────────────────────────────────────────────────────────────────────────────────────


def test_a_draft_is_stored_with_its_renditions_and_no_outbox_rows(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings
) -> None:
    made = draft(sqlite_engine, breach, facts, settings)

    update, incident = stored(sqlite_engine, made.update_id)
    assert (made.incident_id, made.number) == (incident.id, 1)
    assert (incident.reference, incident.severity, incident.status) == (
        "INC-0042",
        "sev1",
        IncidentStatus.IDENTIFIED,
    )
    assert (update.number, update.kind, update.state, update.published_at) == (
        1,
        UpdateKind.UPDATE,
        UpdateState.DRAFT,
        None,
    )
    assert update.next_update_by == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # as_of + 1 h (sev1, urgent)
    assert update.content_hash is not None and len(update.content_hash) == 64
    assert update.apology["de"] == {
        "text": facts.story["de"].apology.text,
        "short": facts.story["de"].apology.short,
    }
    assert rendition_keys(sqlite_engine, made.update_id) == RENDITION_KEYS
    assert sorted((r.channel.value, r.locale, r.time_zone) for r in made.renditions) == RENDITION_KEYS
    assert count(sqlite_engine, Delivery) == 0
    assert count(sqlite_engine, Recipient) == 0


@pytest.mark.parametrize("state", [UpdateState.DRAFT, UpdateState.PENDING_APPROVAL, UpdateState.APPROVED])
def test_a_draft_is_stored_in_the_state_asked_for(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings, state: UpdateState
) -> None:
    made = draft(sqlite_engine, breach, facts, settings, state=state, kind=UpdateKind.INITIAL)

    update, _ = stored(sqlite_engine, made.update_id)
    assert (update.state, update.kind) == (state, UpdateKind.INITIAL)
    assert count(sqlite_engine, Delivery) == 0


def test_the_next_draft_of_an_incident_is_numbered_after_the_last(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings
) -> None:
    first = draft(sqlite_engine, breach, facts, settings)
    later = facts.model_copy(update={"as_of": facts.as_of + timedelta(hours=1)})
    second = draft(sqlite_engine, breach, later, settings)

    assert (second.incident_id, second.number) == (first.incident_id, 2)
    assert count(sqlite_engine, Incident) == 1


def test_the_content_hash_is_the_contents(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings
) -> None:
    first = draft(sqlite_engine, breach, facts, settings)
    same = draft(sqlite_engine, breach, facts, settings)
    later = draft(
        sqlite_engine, breach, facts.model_copy(update={"status": IncidentStatus.MONITORING}), settings
    )

    hashes = [stored(sqlite_engine, d.update_id)[0].content_hash for d in (first, same, later)]

    assert hashes[0] == hashes[1] != hashes[2]
    assert (same.update_id, same.existing) == (first.update_id, True)  # one update per content
    assert (later.number, later.existing) == (2, False)


def test_a_bad_audience_row_stores_nothing(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings, tmp_path: Path
) -> None:
    path = audience_with(tmp_path, "c1007,not-an-address,,en,")

    with pytest.raises(InputError, match="email"):
        draft(sqlite_engine, breach, facts, settings, path=path)

    assert count(sqlite_engine, Incident) == count(sqlite_engine, Update) == 0


def test_an_audience_the_playbook_does_not_name_is_refused(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings
) -> None:
    with pytest.raises(InputError) as caught:
        draft_update(
            engine=sqlite_engine,
            playbook=breach,
            facts=facts,
            settings=settings,
            sources={"press": Source(csv=AUDIENCE_CSV)},
        )

    assert caught.value.problems == (Problem("data-breach", None, "audiences", "no audience named 'press'"),)
    assert count(sqlite_engine, Update) == 0


# ── enqueue ───────────────────────────────────────────────────────────────────────────────────────


def test_enqueue_writes_one_row_per_message_and_publishes(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings
) -> None:
    made = draft(sqlite_engine, breach, facts, settings, state=UpdateState.APPROVED)
    before = datetime.now(UTC)

    staged = enqueue(sqlite_engine, breach, made.update_id, settings)

    after = datetime.now(UTC)
    assert (staged.incident_id, staged.update_id, staged.renditions, staged.broadcasts) == (
        made.incident_id,
        made.update_id,
        16,
        8,
    )
    fan_out = staged.audiences[AUDIENCE]
    assert (fan_out.recipients, fan_out.planned, fan_out.without_address, fan_out.suppressed) == (6, 10, 2, 0)
    assert fan_out.per_channel == {Channel.EMAIL: 5, Channel.SMS: 5}
    assert staged.planned == 18
    assert deliveries(sqlite_engine) == DELIVERIES
    with Session(sqlite_engine) as session:
        assert {d.state for d in session.exec(select(Delivery))} == {DeliveryState.PENDING}
    update, incident = stored(sqlite_engine, made.update_id)
    assert update.state is UpdateState.PUBLISHED
    assert update.published_at is not None and before <= update.published_at <= after
    assert (incident.status, incident.resolved_at) == (IncidentStatus.IDENTIFIED, None)


def test_each_recipient_gets_the_rendition_for_their_locale_and_zone(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings
) -> None:
    made = draft(sqlite_engine, breach, facts, settings, state=UpdateState.APPROVED)
    enqueue(sqlite_engine, breach, made.update_id, settings)

    with Session(sqlite_engine) as session:
        rows = session.exec(
            select(Recipient.external_id, Delivery.channel, Rendition.locale, Rendition.time_zone)
            .join(Delivery, col(Delivery.recipient_id) == Recipient.id)
            .join(Rendition, col(Rendition.id) == Delivery.rendition_id)
            .where(Delivery.channel == Channel.EMAIL)
            .order_by(col(Recipient.external_id))
        ).all()

    assert [tuple(r) for r in rows] == [
        ("c1001", Channel.EMAIL, "de", BERLIN),
        ("c1002", Channel.EMAIL, "en", "Europe/London"),
        ("c1003", Channel.EMAIL, "en", BERLIN),
        ("c1005", Channel.EMAIL, "de", BERLIN),
        ("c1006", Channel.EMAIL, "en", "Australia/Sydney"),
    ]


def test_a_resolution_resolves_the_incident_when_it_is_published(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings
) -> None:
    first = draft(sqlite_engine, breach, facts, settings, state=UpdateState.APPROVED)
    enqueue(sqlite_engine, breach, first.update_id, settings)
    resolved = next_facts(
        facts, breach, as_of=facts.as_of + timedelta(hours=3), status=IncidentStatus.RESOLVED
    )
    made = draft(
        sqlite_engine, breach, resolved, settings, kind=UpdateKind.RESOLUTION, state=UpdateState.APPROVED
    )

    _, incident = stored(sqlite_engine, made.update_id)
    assert (incident.status, incident.resolved_at) == (IncidentStatus.IDENTIFIED, None)

    enqueue(sqlite_engine, breach, made.update_id, settings)

    update, incident = stored(sqlite_engine, made.update_id)
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.resolved_at is not None and incident.resolved_at == update.published_at


def test_enqueueing_a_published_update_again_adds_no_rows(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings
) -> None:
    """A retried enqueue (a Prefect retry, a second ``outbox stage``) finds every row written."""
    made = draft(sqlite_engine, breach, facts, settings, state=UpdateState.APPROVED)
    enqueue(sqlite_engine, breach, made.update_id, settings)
    published_at = stored(sqlite_engine, made.update_id)[0].published_at

    enqueue(sqlite_engine, breach, made.update_id, settings)

    assert deliveries(sqlite_engine) == DELIVERIES
    update, _ = stored(sqlite_engine, made.update_id)
    assert (update.state, update.published_at) == (UpdateState.PUBLISHED, published_at)
    assert published_entries(sqlite_engine) == ["INC-0042/update-1"]


@pytest.mark.parametrize("state", [UpdateState.DRAFT, UpdateState.PENDING_APPROVAL, UpdateState.REJECTED])
def test_an_update_not_approved_is_refused_and_nothing_is_written(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings, state: UpdateState
) -> None:
    made = draft(sqlite_engine, breach, facts, settings, state=state)

    with pytest.raises(InputError) as caught:
        enqueue(sqlite_engine, breach, made.update_id, settings)

    assert caught.value.problems == (
        Problem("data-breach", None, "update", f"update 1 is {state.value}: only an approved update is sent"),
    )
    assert count(sqlite_engine, Delivery) == count(sqlite_engine, Recipient) == 0
    update, incident = stored(sqlite_engine, made.update_id)
    assert (update.state, update.published_at) == (state, None)
    assert (incident.status, incident.resolved_at) == (IncidentStatus.IDENTIFIED, None)
    assert published_entries(sqlite_engine) == []


@pytest.mark.parametrize(
    ("row", "missing"),
    [
        (
            "c1007,kai@example.com,+81312345678,en,Asia/Tokyo",
            [("email", "en", "Asia/Tokyo"), ("sms", "en", "Asia/Tokyo")],
        ),
        (
            "c1007,kai@example.com,,de,America/Los_Angeles",
            [("email", "de", "America/Los_Angeles"), ("sms", "de", "America/Los_Angeles")],
        ),
    ],
)
def test_a_recipient_needing_a_new_rendition_stops_the_update_before_any_row(
    sqlite_engine: sa.Engine,
    breach: Playbook,
    facts: Facts,
    settings: Settings,
    tmp_path: Path,
    row: str,
    missing: list[tuple[str, str, str]],
) -> None:
    made = draft(sqlite_engine, breach, facts, settings, state=UpdateState.APPROVED)
    grown = audience_with(tmp_path, row)

    with pytest.raises(InputError) as caught:
        enqueue(sqlite_engine, breach, made.update_id, settings, grown)

    assert caught.value.problems == tuple(
        Problem(
            "data-breach",
            None,
            "audiences",
            f"no {c} rendition in {loc}, {tz}: the audience changed since the draft; post the update again",
        )
        for c, loc, tz in missing
    )
    assert count(sqlite_engine, Delivery) == count(sqlite_engine, Recipient) == 0
    update, _ = stored(sqlite_engine, made.update_id)
    assert (update.state, update.published_at) == (UpdateState.APPROVED, None)


@pytest.mark.parametrize(
    "row",
    [
        "c1007,kai@example.com,,en,Europe/London",  # a pair the draft has
        "c1007,kai@example.com,,fr,Europe/Berlin",  # an unshipped locale falls back to en
        "c1007,kai@example.com,,,",  # no locale, no zone: en in the public zone
    ],
)
def test_a_recipient_the_draft_already_covers_is_sent_to(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings, tmp_path: Path, row: str
) -> None:
    made = draft(sqlite_engine, breach, facts, settings, state=UpdateState.APPROVED)

    staged = enqueue(sqlite_engine, breach, made.update_id, settings, audience_with(tmp_path, row))

    assert staged.audiences[AUDIENCE].per_channel == {Channel.EMAIL: 6, Channel.SMS: 5}
    assert deliveries(sqlite_engine)[("email", AUDIENCE)] == 6


def test_enqueueing_an_unknown_update_is_refused(
    sqlite_engine: sa.Engine, breach: Playbook, settings: Settings
) -> None:
    with pytest.raises(NotFound, match=r"^no update '999'$"):
        enqueue(sqlite_engine, breach, 999, settings)


def test_a_published_severity_and_title_change_reaches_the_incident(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings
) -> None:
    first = draft(sqlite_engine, breach, facts, settings, state=UpdateState.APPROVED)
    enqueue(sqlite_engine, breach, first.update_id, settings)
    lowered = next_facts(
        facts,
        breach,
        as_of=facts.as_of + timedelta(hours=1),
        severity="sev2",
        changes={"title": NEW_TITLE},
    )
    made = draft(sqlite_engine, breach, lowered, settings, state=UpdateState.APPROVED)
    _, incident = stored(sqlite_engine, made.update_id)
    assert (incident.severity, incident.title) == ("sev1", facts.title)  # a draft changes nothing

    enqueue(sqlite_engine, breach, made.update_id, settings)

    _, incident = stored(sqlite_engine, made.update_id)
    assert (incident.severity, incident.title) == ("sev2", NEW_TITLE)


# ── stage: draft and enqueue at once ──────────────────────────────────────────────────────────────


def test_stage_update_drafts_and_enqueues_at_once(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings
) -> None:
    staged = stage_update(
        engine=sqlite_engine, playbook=breach, facts=facts, settings=settings, sources=sources()
    )

    assert (staged.renditions, staged.planned) == (16, 18)
    assert deliveries(sqlite_engine) == DELIVERIES
    assert rendition_keys(sqlite_engine, staged.update_id) == RENDITION_KEYS
    update, incident = stored(sqlite_engine, staged.update_id)
    assert (update.number, update.kind, update.state) == (1, UpdateKind.UPDATE, UpdateState.PUBLISHED)
    assert update.published_at is not None
    assert incident.status is IncidentStatus.IDENTIFIED


# ── redraft: an approver's edit ───────────────────────────────────────────────────────────────────

NEW_APOLOGY = "We exposed your name, email and phone number today. We are very sorry."


def edited(facts: Facts) -> Facts:
    story = facts.story["en"].model_copy(
        update={"apology": facts.story["en"].apology.model_copy(update={"text": NEW_APOLOGY})}
    )
    return facts.model_copy(update={"story": {**facts.story, "en": story}})


@pytest.mark.parametrize("state", [UpdateState.DRAFT, UpdateState.PENDING_APPROVAL])
def test_a_redraft_replaces_content_hash_and_renditions(
    sqlite_engine: sa.Engine,
    breach: Playbook,
    facts: Facts,
    settings: Settings,
    tmp_path: Path,
    state: UpdateState,
) -> None:
    made = draft(sqlite_engine, breach, facts, settings, state=state, kind=UpdateKind.INITIAL)
    before, _ = stored(sqlite_engine, made.update_id)
    london_only = tmp_path / "london.csv"
    london_only.write_text("id,email,phone,locale,time_zone\nc1002,ben@example.com,,en,Europe/London\n")
    new_facts = edited(facts)

    again = redraft_update(
        engine=sqlite_engine,
        playbook=breach,
        update_id=made.update_id,
        facts=new_facts,
        settings=settings,
        sources=sources(london_only),
    )

    after, _ = stored(sqlite_engine, made.update_id)
    assert (again.update_id, again.number, again.incident_id) == (made.update_id, 1, made.incident_id)
    assert (after.state, after.kind, after.created_at) == (state, UpdateKind.INITIAL, before.created_at)
    assert after.apology["en"] == {"text": NEW_APOLOGY, "short": facts.story["en"].apology.short}
    assert after.apology["de"] == before.apology["de"]
    assert after.facts["story"]["en"]["apology"]["text"] == NEW_APOLOGY
    assert after.content_hash != before.content_hash
    fresh = draft(sqlite_engine, breach, new_facts, settings)
    assert stored(sqlite_engine, fresh.update_id)[0].content_hash == after.content_hash
    assert rendition_keys(sqlite_engine, made.update_id) == sorted(
        [("email", "en", "Europe/London"), ("sms", "en", "Europe/London")]
        + [(c, loc, BERLIN) for c in ("banner", "bluesky", "mastodon") for loc in ("de", "en")]
    )
    with Session(sqlite_engine) as session:
        body = session.exec(
            select(Rendition.body).where(
                Rendition.update_id == made.update_id, Rendition.channel == Channel.EMAIL
            )
        ).one()
    assert NEW_APOLOGY in " ".join(body.split())
    assert count(sqlite_engine, Delivery) == 0


@pytest.mark.parametrize("state", [UpdateState.APPROVED, UpdateState.REJECTED, UpdateState.PUBLISHED])
def test_only_a_draft_can_be_redrafted(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings, state: UpdateState
) -> None:
    made = draft(sqlite_engine, breach, facts, settings, state=state)
    before, _ = stored(sqlite_engine, made.update_id)

    with pytest.raises(InputError) as caught:
        redraft_update(
            engine=sqlite_engine,
            playbook=breach,
            update_id=made.update_id,
            facts=edited(facts),
            settings=settings,
            sources=sources(),
        )

    assert caught.value.problems == (
        Problem("data-breach", None, "update", f"update 1 is {state.value}: only a draft can be edited"),
    )
    after, _ = stored(sqlite_engine, made.update_id)
    assert (after.content_hash, after.apology) == (before.content_hash, before.apology)
    assert rendition_keys(sqlite_engine, made.update_id) == RENDITION_KEYS


def test_a_published_update_cannot_be_redrafted(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings
) -> None:
    made = draft(sqlite_engine, breach, facts, settings, state=UpdateState.APPROVED)
    enqueue(sqlite_engine, breach, made.update_id, settings)

    with pytest.raises(InputError, match="update 1 is published: only a draft can be edited"):
        redraft_update(
            engine=sqlite_engine,
            playbook=breach,
            update_id=made.update_id,
            facts=edited(facts),
            settings=settings,
            sources=sources(),
        )

    assert stored(sqlite_engine, made.update_id)[0].apology["en"]["text"] == facts.story["en"].apology.text


def test_a_redraft_with_a_bad_audience_changes_nothing(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings, tmp_path: Path
) -> None:
    made = draft(sqlite_engine, breach, facts, settings)
    before, _ = stored(sqlite_engine, made.update_id)

    with pytest.raises(InputError, match="email"):
        redraft_update(
            engine=sqlite_engine,
            playbook=breach,
            update_id=made.update_id,
            facts=edited(facts),
            settings=settings,
            sources=sources(audience_with(tmp_path, "c1007,not-an-address,,en,")),
        )

    assert stored(sqlite_engine, made.update_id)[0].content_hash == before.content_hash
    assert rendition_keys(sqlite_engine, made.update_id) == RENDITION_KEYS


def test_redrafting_an_unknown_update_is_refused(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings
) -> None:
    with pytest.raises(NotFound, match=r"^no update '999'$"):
        redraft_update(
            engine=sqlite_engine,
            playbook=breach,
            update_id=999,
            facts=facts,
            settings=settings,
            sources=sources(),
        )


# ── a holding statement goes through the same checks ──────────────────────────────────────────────


def test_a_holding_statement_from_the_shipped_phrases_passes_the_preflight(
    sqlite_engine: sa.Engine, breach: Playbook, facts: Facts, settings: Settings
) -> None:
    first = draft(sqlite_engine, breach, facts, settings, state=UpdateState.APPROVED)
    enqueue(sqlite_engine, breach, first.update_id, settings)
    renderer = Renderer(breach, TEMPLATES, sms_max_segments=settings.sms_max_segments)
    phrases = {locale: renderer.locale_text(locale).holding for locale in breach.locales}
    promise = stored(sqlite_engine, first.update_id)[0].next_update_by
    holding = holding_facts(facts, phrases=phrases, as_of=promise)

    made = draft_update(
        engine=sqlite_engine,
        playbook=breach,
        facts=holding,
        settings=settings,
        sources=sources(),
        kind=UpdateKind.HOLDING,
        renderer=renderer,
    )

    update, _ = stored(sqlite_engine, made.update_id)
    assert (update.number, update.kind, update.state) == (2, UpdateKind.HOLDING, UpdateState.DRAFT)
    assert update.next_update_by == promise + timedelta(hours=1)
    assert update.apology["en"]["short"] == phrases["en"]["short"]
    assert update.cause == stored(sqlite_engine, first.update_id)[0].cause
    assert rendition_keys(sqlite_engine, made.update_id) == RENDITION_KEYS


# ── a playbook's CSV sources stay under its folder ────────────────────────────────────────────────


def outage_in(folder: Path, csv: str) -> tuple[Path, int]:
    """The shipped outage playbook written into ``folder`` with its CSV source set to ``csv``, and
    the line of its ``csv:`` key."""
    lines = (PLAYBOOKS / "outage.yaml").read_text(encoding="utf-8").splitlines()
    line = next(n for n, text in enumerate(lines, start=1) if "source: {csv:" in text)
    lines[line - 1] = f"    source: {{csv: {json.dumps(csv)}}}"
    path = folder / "outage.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, line


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    """playbooks/ (with audiences/people.csv and links), outside/people.csv next to it."""
    playbooks, outside = tmp_path / "playbooks", tmp_path / "outside"
    (playbooks / "audiences").mkdir(parents=True)
    outside.mkdir()
    for folder in (playbooks / "audiences", outside):
        shutil.copyfile(PLAYBOOKS / "audiences" / "outage-affected.csv", folder / "people.csv")
    (playbooks / "link.csv").symlink_to(outside / "people.csv")
    (playbooks / "inner.csv").symlink_to(playbooks / "audiences" / "people.csv")
    (playbooks / "elsewhere").symlink_to(outside, target_is_directory=True)
    (playbooks / "loop.csv").symlink_to(playbooks / "loop.csv")
    return {"playbooks": playbooks, "outside": outside}


ESCAPES = [
    "../outside/people.csv",
    "audiences/../../outside/people.csv",
    "../../../../../../../../etc/passwd",
    "/etc/passwd",
    "{outside}/people.csv",
    "link.csv",
    "elsewhere/people.csv",
    "loop.csv",
]


@pytest.mark.parametrize("csv", ESCAPES)
def test_playbook_csv_sources_stay_under_the_playbooks_folder(
    folders: dict[str, Path], settings: Settings, csv: str
) -> None:
    csv = csv.format(outside=folders["outside"])
    path, line = outage_in(folders["playbooks"], csv)

    with pytest.raises(PlaybookError) as caught:
        playbook_sources(load_playbook(path), path, settings)

    [problem] = caught.value.problems
    assert (Path(problem.source).name, problem.line, problem.field) == (
        "outage.yaml",
        line,
        "audiences.affected-customers.source.csv",
    )
    assert problem.message.startswith(f"'{csv}' ")
    assert f"must be inside '{folders['playbooks'].resolve()}'" in problem.message
    assert "CLARION_AUDIENCE_ROOTS" in problem.message and "root:" not in problem.message


@pytest.mark.parametrize("csv", ["audiences/people.csv", "inner.csv", "./audiences/../inner.csv", "{inside}"])
def test_playbook_csv_sources_inside_its_folder_are_read(
    folders: dict[str, Path], settings: Settings, csv: str
) -> None:
    csv = csv.format(inside=folders["playbooks"] / "audiences" / "people.csv")
    path, _ = outage_in(folders["playbooks"], csv)

    sources = playbook_sources(load_playbook(path), path, settings)

    assert sources["affected-customers"].check().rows > 0


@pytest.mark.parametrize(
    "csv", ["../outside/people.csv", "link.csv", "elsewhere/people.csv", "{outside}/people.csv"]
)
def test_playbook_csv_sources_under_an_allowed_root_are_read(
    folders: dict[str, Path], settings: Settings, csv: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = outage_in(folders["playbooks"], csv.format(outside=folders["outside"]))
    book = load_playbook(path)
    monkeypatch.setenv("CLARION_AUDIENCE_ROOTS", f"/nonexistent:{folders['outside']}")
    from_env = Settings(templates_dir=TEMPLATES, playbooks_dir=PLAYBOOKS)

    for allowing in (settings.model_copy(update={"audience_roots": [folders["outside"]]}), from_env):
        assert playbook_sources(book, path, allowing)["affected-customers"].check().rows > 0

    path, _ = outage_in(folders["playbooks"], "/etc/passwd")
    with pytest.raises(PlaybookError) as caught:
        playbook_sources(load_playbook(path), path, from_env)
    roots = [folders["playbooks"].resolve(), Path("/nonexistent"), folders["outside"].resolve()]
    assert f"must be inside {', '.join(repr(str(root)) for root in roots)} (" in str(caught.value)
