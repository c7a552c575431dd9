"""An incident's life after its first update: declaring, the next facts, holding statements, timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, col, select

from clarion import audit, store
from clarion.errors import InputError, Problem
from clarion.facts import Facts, PartField, PartText, load_facts
from clarion.incidents.lifecycle import (
    REMINDER_LEAD_CAP,
    Action,
    Phase,
    Timer,
    cadence_action,
    check_fit,
    consecutive_holdings,
    facts_of,
    holding_facts,
    latest_published,
    latest_update,
    next_facts,
    open_incident,
    published_since,
    reminder_lead,
    superseded_by,
    timers,
)
from clarion.kinds import IncidentStatus, UpdateKind, UpdateState
from clarion.models import AuditEvent, Incident, Update, UpdateCreate
from clarion.playbook import Playbook, load_playbook
from clarion.updates.render import Renderer
from tests.helpers import EXAMPLES, PLAYBOOKS, TEMPLATES

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
BREACH_TITLE = "Customer contact details exposed through a misconfigured export"
BREACH_TITLE_DE = "Kundendaten über falsch konfigurierten Export offengelegt"


class StoryChange(BaseModel):
    """The shape the flows pass as ``story`` (flows.models.StoryChange, without importing flows)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = None
    apology: PartField | None = None
    cause: PartField | None = None
    fix: PartField | None = None
    prevention: PartField | None = None


def playbook(name: str) -> Playbook:
    return load_playbook(PLAYBOOKS / f"{name}.yaml")


@pytest.fixture
def breach() -> Playbook:
    return playbook("data-breach")


@pytest.fixture
def breach_facts(breach: Playbook) -> Facts:
    return load_facts(EXAMPLES / "data-breach.yaml", breach)


def problems_of(caught: pytest.ExceptionInfo[InputError]) -> list[tuple[str, str]]:
    return [(p.field, p.message) for p in caught.value.problems]


# ── check_fit ─────────────────────────────────────────────────────────────────────────────────────


def test_facts_that_fit_pass(breach: Playbook, breach_facts: Facts) -> None:
    check_fit(breach_facts, breach, "declaration")


def test_every_misfit_is_named_at_once(breach: Playbook) -> None:
    outage = load_facts(EXAMPLES / "outage.yaml", playbook("outage"))

    with pytest.raises(InputError) as caught:
        check_fit(outage, breach, "declaration")

    assert caught.value.problems == (
        Problem("declaration", None, "story", "no story in de, which playbook data-breach ships in"),
        Problem(
            "declaration",
            None,
            "links",
            "playbook data-breach needs links.password_reset (its templates use it)",
        ),
        Problem(
            "declaration", None, "breach", "playbook data-breach needs the regulator-facing breach facts"
        ),
    )


def test_a_severity_the_playbook_lacks_does_not_fit(breach: Playbook, breach_facts: Facts) -> None:
    with pytest.raises(InputError) as caught:
        check_fit(breach_facts.model_copy(update={"severity": "sev3"}), breach, "form")

    assert str(caught.value) == "form: severity: 'sev3' is not one of sev1, sev2 (playbook data-breach)"


# ── open_incident ─────────────────────────────────────────────────────────────────────────────────


def declare(
    session: Session,
    book: Playbook,
    *,
    reference: str | None = None,
    aware_at: datetime | None = T0,
    commander: str | None = "ada@example.com",
    severity: str = "sev1",
) -> Incident:
    return open_incident(
        session=session,
        playbook=book,
        reference=reference,
        title="Customer contact details exposed",
        severity=severity,
        status=IncidentStatus.INVESTIGATING,
        aware_at=aware_at,
        started_at=T0 - timedelta(hours=1),
        commander=commander,
    )


def test_references_are_allocated_in_turn(session: Session, breach: Playbook) -> None:
    first = declare(session, breach)
    second = declare(session, breach)

    assert (first.reference, second.reference) == ("INC-0001", "INC-0002")


def test_a_given_reference_is_kept_and_allocation_continues_after_it(
    session: Session, breach: Playbook
) -> None:
    given = declare(session, breach, reference="INC-0042")
    after = declare(session, breach)

    assert (given.reference, after.reference) == ("INC-0042", "INC-0043")


def test_the_incident_is_stored_from_the_declaration(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach, reference="INC-0042")
    session.commit()

    stored = session.exec(select(Incident)).one()
    assert stored.id == incident.id
    assert (stored.playbook, stored.severity, stored.title, stored.status) == (
        "data-breach",
        "sev1",
        "Customer contact details exposed",
        IncidentStatus.INVESTIGATING,
    )
    assert (stored.aware_at, stored.started_at) == (T0, T0 - timedelta(hours=1))
    assert (stored.public_time_zone, stored.commander) == ("Europe/Berlin", "ada@example.com")


def test_a_playbook_without_a_public_zone_declares_in_utc(session: Session) -> None:
    book = playbook("outage").model_copy(update={"public_time_zone": None})

    assert declare(session, book).public_time_zone == "UTC"


def test_an_existing_reference_is_refused_naming_the_field(session: Session, breach: Playbook) -> None:
    declare(session, breach, reference="INC-0042")
    session.commit()

    with pytest.raises(InputError) as caught:
        declare(session, breach, reference="INC-0042", commander="mallory@example.com")
    session.commit()

    assert caught.value.problems == (
        Problem("declaration", None, "reference", "INC-0042 exists already; post an update to it"),
    )
    assert len(session.exec(select(Incident)).all()) == 1
    assert {e.actor for e in session.exec(select(AuditEvent)).all()} == {"ada@example.com"}


def test_declaring_writes_an_audit_entry(session: Session, breach: Playbook) -> None:
    declare(session, breach, reference="INC-0042", severity="sev2")
    session.commit()

    entry, *started = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
    assert (entry.actor, entry.action, entry.subject) == ("ada@example.com", "incident.declared", "INC-0042")
    assert entry.details == {
        "playbook": "data-breach",
        "severity": "sev2",
        "aware_at": "2026-11-23T10:00:00+00:00",
        "regimes": ["gdpr-art33", "gdpr-art34"],
    }
    # then one entry per regulatory clock started: GDPR Art. 33's notice and Art. 34's communication
    assert [(e.action, e.subject) for e in started] == [
        ("deadline.started", "INC-0042/gdpr-art33/initial"),
        ("deadline.started", "INC-0042/gdpr-art34/data-subjects"),
    ]
    assert audit.verify(session=session).entries == 3


def test_without_a_commander_clarion_declares(session: Session, breach: Playbook) -> None:
    declare(session, breach, commander=None)

    assert set(session.exec(select(AuditEvent.actor)).all()) == {"clarion"}


def test_awareness_defaults_to_now(session: Session, breach: Playbook) -> None:
    before = datetime.now(UTC)
    incident = declare(session, breach, aware_at=None)
    after = datetime.now(UTC)

    assert before <= incident.aware_at <= after
    details = session.exec(select(AuditEvent.details).where(AuditEvent.action == "incident.declared")).one()
    assert details["aware_at"] == incident.aware_at.isoformat()


# ── next_facts ────────────────────────────────────────────────────────────────────────────────────


def following(previous: Facts, **kwargs: Any) -> Facts:
    book = kwargs.pop("book", None) or playbook("data-breach")
    return next_facts(previous, book, as_of=T0, source="INC-0042 update", **kwargs)


def test_a_status_change_keeps_everything_else(breach_facts: Facts) -> None:
    facts = following(breach_facts, status=IncidentStatus.MONITORING)

    assert facts == breach_facts.model_copy(update={"status": IncidentStatus.MONITORING, "as_of": T0})


def test_a_severity_change_keeps_everything_else(breach_facts: Facts) -> None:
    facts = following(breach_facts, severity="sev2")

    assert facts == breach_facts.model_copy(update={"severity": "sev2", "as_of": T0})


def test_a_story_part_changes_only_in_its_locale(breach_facts: Facts) -> None:
    facts = following(breach_facts, story={"en": StoryChange(prevention="Two people review bucket changes.")})

    assert facts.story["en"].prevention == PartText(text="Two people review bucket changes.")
    assert facts.story["en"].apology == breach_facts.story["en"].apology
    assert facts.story["en"].cause == breach_facts.story["en"].cause
    assert facts.story["en"].fix == breach_facts.story["en"].fix
    assert facts.story["de"] == breach_facts.story["de"]
    assert facts.story["de"].prevention == PartText()


def test_a_changed_part_replaces_its_text_and_short_form(breach_facts: Facts) -> None:
    change = StoryChange(
        fix={"text": "We also reset every support token.", "short": "Tokens reset."}, title="New"
    )

    facts = following(breach_facts, story={"de": change})

    assert facts.story["de"].fix == PartText(text="We also reset every support token.", short="Tokens reset.")
    assert facts.story["de"].title == "New"
    assert facts.story["de"].cause == breach_facts.story["de"].cause
    assert facts.story["en"] == breach_facts.story["en"]


def test_changes_replace_top_level_facts_wholesale(breach_facts: Facts) -> None:
    facts = following(
        breach_facts,
        changes={
            "impact": {"summary": "About 9 000 customers."},
            "links": {"password_reset": "https://a.example/r"},
        },
    )

    assert facts.impact.summary == "About 9 000 customers."
    assert (facts.impact.components, facts.impact.regions, facts.impact.affected_count) == ([], [], None)
    assert {k: str(v) for k, v in facts.links.items()} == {"password_reset": "https://a.example/r"}
    assert facts.contact == breach_facts.contact


def test_as_of_is_the_argument_even_when_changes_name_it(breach_facts: Facts) -> None:
    facts = following(breach_facts, changes={"as_of": "2030-01-01T00:00:00Z"})

    assert facts.as_of == T0


def test_unknown_changes_are_refused_naming_each_key(breach_facts: Facts) -> None:
    with pytest.raises(InputError) as caught:
        following(breach_facts, changes={"colour": "red", "bogus": 1, "impact": {}})

    assert caught.value.problems == (
        Problem("INC-0042 update", None, "changes.bogus", "not a field of the facts"),
        Problem("INC-0042 update", None, "changes.colour", "not a field of the facts"),
    )


def test_invalid_values_are_refused_naming_every_field(breach_facts: Facts) -> None:
    with pytest.raises(InputError) as caught:
        following(breach_facts, changes={"status_page_url": "nope", "impact": {"affected_count": -1}})

    assert problems_of(caught) == [
        ("status_page_url", "Input should be a valid URL, relative URL without a base"),
        ("impact.affected_count", "Input should be greater than or equal to 0"),
    ]


def test_a_contact_without_a_path_is_refused(breach_facts: Facts) -> None:
    with pytest.raises(InputError) as caught:
        following(breach_facts, changes={"contact": {"hours": "24/7"}})

    assert problems_of(caught) == [
        ("contact", "Value error, give at least one of phone, email or url so people can reach a human")
    ]


def test_a_story_change_that_drops_the_apology_text_is_refused(breach_facts: Facts) -> None:
    with pytest.raises(InputError) as caught:
        following(breach_facts, story={"en": StoryChange(apology={"short": "Sorry."})})

    assert problems_of(caught) == [
        ("story.en", "Value error, apology.text must say what happened and that we are sorry")
    ]


def test_a_promise_can_be_given_and_is_dropped_by_the_next_update(breach_facts: Facts) -> None:
    promised = following(breach_facts, changes={"next_update_by": "2026-11-23T10:30:00Z"})
    assert promised.next_update_by == T0 + timedelta(minutes=30)

    later = next_facts(promised, playbook("data-breach"), as_of=T0 + timedelta(minutes=30))

    assert later.next_update_by is None
    assert later.as_of == T0 + timedelta(minutes=30)


def test_a_promise_before_as_of_is_refused(breach_facts: Facts) -> None:
    with pytest.raises(InputError) as caught:
        following(breach_facts, changes={"next_update_by": "2026-11-23T09:30:00Z"})

    assert problems_of(caught) == [("next_update_by", "next_update_by must be after as_of")]


def test_a_severity_the_playbook_lacks_is_refused(breach_facts: Facts) -> None:
    with pytest.raises(InputError) as caught:
        following(breach_facts, severity="sev3")

    assert caught.value.problems == (
        Problem(
            "INC-0042 update", None, "severity", "'sev3' is not one of sev1, sev2 (playbook data-breach)"
        ),
    )


def test_a_story_in_a_locale_the_playbook_lacks_is_refused(breach_facts: Facts) -> None:
    with pytest.raises(InputError) as caught:
        following(breach_facts, story={"fr": StoryChange(apology="Nous sommes désolés.")})

    assert problems_of(caught) == [("story.fr", "locale 'fr' is not in playbook data-breach's locales")]


def test_facts_that_no_longer_fit_the_playbook_are_refused(breach_facts: Facts) -> None:
    with pytest.raises(InputError) as caught:
        following(breach_facts, changes={"breach": None, "links": {}})

    assert problems_of(caught) == [
        ("links", "playbook data-breach needs links.password_reset (its templates use it)"),
        ("breach", "playbook data-breach needs the regulator-facing breach facts"),
    ]


def test_the_previous_facts_are_not_changed(breach_facts: Facts) -> None:
    before = breach_facts.model_dump_json()

    following(breach_facts, status=IncidentStatus.RESOLVED, story={"en": StoryChange(cause="Found it.")})

    assert breach_facts.model_dump_json() == before


# ── holding statements ────────────────────────────────────────────────────────────────────────────

PHRASES = {
    "en": {"text": "Nothing new on {title}.", "short": "Nothing new yet."},
    "de": {"text": "Nichts Neues zu {title}.", "short": "Noch nichts Neues zu {title}."},
}


def test_a_holding_statement_replaces_the_apology_in_every_locale(breach_facts: Facts) -> None:
    promised = breach_facts.model_copy(update={"next_update_by": T0})

    facts = holding_facts(promised, phrases=PHRASES, as_of=T0 + timedelta(minutes=5))

    assert facts.story["en"].apology == PartText(
        text=f"Nothing new on {BREACH_TITLE}.", short="Nothing new yet."
    )
    assert facts.story["de"].apology == PartText(
        text=f"Nichts Neues zu {BREACH_TITLE_DE}.", short=f"Noch nichts Neues zu {BREACH_TITLE_DE}."
    )
    assert facts.as_of == T0 + timedelta(minutes=5)
    assert facts.next_update_by is None


def test_a_holding_statement_keeps_cause_fix_and_prevention(breach_facts: Facts) -> None:
    facts = holding_facts(breach_facts, phrases=PHRASES, as_of=T0)

    for locale in ("en", "de"):
        told, before = facts.story[locale], breach_facts.story[locale]
        assert (told.title, told.cause, told.fix, told.prevention) == (
            before.title,
            before.cause,
            before.fix,
            before.prevention,
        )
    assert facts.model_dump(exclude={"story", "as_of"}) == breach_facts.model_dump(exclude={"story", "as_of"})


def test_the_shipped_holding_phrases_fill_in_the_locales_title(breach: Playbook, breach_facts: Facts) -> None:
    """The wording is copy (templates/_locale, free to change); what it must do is pinned here."""
    renderer = Renderer(breach, TEMPLATES, sms_max_segments=3)
    phrases = {locale: renderer.locale_text(locale).holding for locale in breach.locales}

    facts = holding_facts(breach_facts, phrases=phrases, as_of=T0)

    for locale, title, quoted in [
        ("en", BREACH_TITLE, f'"{BREACH_TITLE}"'),
        ("de", BREACH_TITLE_DE, f"„{BREACH_TITLE_DE}“"),
    ]:
        apology = facts.story[locale].apology
        assert apology.text == phrases[locale]["text"].format(title=title)
        assert apology.short == phrases[locale]["short"].format(title=title)
        assert apology.text is not None and quoted in apology.text and "{" not in apology.text
        assert apology.text != breach_facts.story[locale].apology.text


# ── reading the store ─────────────────────────────────────────────────────────────────────────────


def add(
    session: Session,
    incident: Incident,
    kind: UpdateKind,
    state: UpdateState = UpdateState.PUBLISHED,
    facts: Facts | None = None,
    published: timedelta = timedelta(0),
) -> Update:
    update = store.add_update(
        session=session,
        incident=incident,
        update_in=UpdateCreate(
            kind=kind,
            status=IncidentStatus.IDENTIFIED,
            apology={"en": {"text": "Sorry.", "short": None}},
            facts={} if facts is None else facts.model_dump(mode="json"),
            next_update_by=T0 + timedelta(hours=1),
        ),
    )
    update.state = state
    update.published_at = T0 + published if state is UpdateState.PUBLISHED else None
    session.add(update)
    session.flush()
    return update


@pytest.fixture
def incident(session: Session, breach: Playbook) -> Incident:
    return declare(session, breach, reference="INC-0042")


def test_facts_of_reads_back_what_an_update_was_made_from(
    session: Session, incident: Incident, breach_facts: Facts
) -> None:
    update = add(session, incident, UpdateKind.INITIAL, facts=breach_facts)

    assert facts_of(update) == breach_facts


def test_latest_published_skips_drafts_and_latest_update_does_not(
    session: Session, incident: Incident
) -> None:
    assert incident.id is not None
    assert latest_published(session=session, incident_id=incident.id) is None
    add(session, incident, UpdateKind.INITIAL)
    second = add(session, incident, UpdateKind.UPDATE)
    draft = add(session, incident, UpdateKind.UPDATE, UpdateState.DRAFT)

    published = latest_published(session=session, incident_id=incident.id)
    latest = latest_update(session=session, incident_id=incident.id)

    assert (published.id if published else None, latest.id if latest else None) == (second.id, draft.id)


def test_consecutive_holdings_count_back_to_the_last_real_update(
    session: Session, incident: Incident
) -> None:
    assert incident.id is not None

    def count() -> int:
        assert incident.id is not None
        return consecutive_holdings(session=session, incident_id=incident.id)

    assert count() == 0
    add(session, incident, UpdateKind.INITIAL)
    add(session, incident, UpdateKind.HOLDING)
    assert count() == 1
    add(session, incident, UpdateKind.HOLDING)
    add(session, incident, UpdateKind.HOLDING, UpdateState.DRAFT)
    add(session, incident, UpdateKind.HOLDING, UpdateState.REJECTED)
    assert count() == 2
    add(session, incident, UpdateKind.UPDATE)
    assert count() == 0
    add(session, incident, UpdateKind.HOLDING)
    assert count() == 1


# ── cadence timers ────────────────────────────────────────────────────────────────────────────────


def test_the_reminder_comes_a_quarter_of_the_gap_before_the_promise(breach: Playbook) -> None:
    assert timers(breach, promise=T0 + timedelta(hours=1), published_at=T0) == [
        Timer(Phase.REMINDER, T0 + timedelta(minutes=45)),
        Timer(Phase.LAPSE, T0 + timedelta(hours=1, minutes=10)),
    ]


def test_the_reminder_lead_is_capped_at_two_hours(breach: Playbook) -> None:
    assert reminder_lead(T0 + timedelta(hours=8), T0) == timedelta(hours=2) == REMINDER_LEAD_CAP
    assert reminder_lead(T0 + timedelta(hours=7), T0) == timedelta(hours=1, minutes=45)
    assert timers(breach, promise=T0 + timedelta(days=1), published_at=T0) == [
        Timer(Phase.REMINDER, T0 + timedelta(hours=22)),
        Timer(Phase.LAPSE, T0 + timedelta(days=1, minutes=10)),
    ]


@pytest.mark.parametrize(
    ("name", "grace"),
    [
        ("outage", timedelta(minutes=5)),
        ("degraded-performance", timedelta(minutes=15)),
        ("scheduled-maintenance", timedelta(0)),
    ],
)
def test_the_lapse_waits_for_the_playbooks_grace(name: str, grace: timedelta) -> None:
    promise = T0 + timedelta(hours=1)

    lapse = timers(playbook(name), promise=promise, published_at=T0)[1]

    assert lapse == Timer(Phase.LAPSE, promise + grace)


def action(session: Session, incident: Incident, number: int, phase: Phase, book: Playbook) -> Action:
    return cadence_action(
        session=session, incident=incident, update_number=number, phase=phase, playbook=book
    )


def test_a_timer_of_the_latest_published_update_reminds(
    session: Session, incident: Incident, breach: Playbook
) -> None:
    add(session, incident, UpdateKind.INITIAL)
    add(session, incident, UpdateKind.UPDATE, UpdateState.PENDING_APPROVAL)  # a draft supersedes nothing

    assert action(session, incident, 1, Phase.REMINDER, breach) is Action.REMIND


@pytest.mark.parametrize("phase", list(Phase))
def test_a_newer_published_update_supersedes_the_timer(
    session: Session, incident: Incident, breach: Playbook, phase: Phase
) -> None:
    add(session, incident, UpdateKind.INITIAL)
    add(session, incident, UpdateKind.UPDATE)

    assert action(session, incident, 1, phase, breach) is Action.NOTHING
    assert action(session, incident, 2, phase, breach) is not Action.NOTHING


def publish(session: Session, update: Update, published: timedelta) -> None:
    update.state = UpdateState.PUBLISHED
    update.published_at = T0 + published
    session.add(update)
    session.flush()


@pytest.mark.parametrize(("phase", "expected"), [(Phase.REMINDER, Action.REMIND), (Phase.LAPSE, Action.HOLD)])
def test_an_update_published_after_a_holding_statement_numbered_later_is_the_latest(
    session: Session, incident: Incident, breach: Playbook, phase: Phase, expected: Action
) -> None:
    assert incident.id is not None
    add(session, incident, UpdateKind.INITIAL)
    waiting = add(session, incident, UpdateKind.UPDATE, UpdateState.PENDING_APPROVAL)
    holding = add(session, incident, UpdateKind.HOLDING, published=timedelta(hours=1))
    publish(session, waiting, timedelta(hours=1, minutes=20))  # approved after the holding went out
    assert (waiting.number, holding.number) == (2, 3)

    latest = latest_published(session=session, incident_id=incident.id)

    assert (latest.number if latest else None) == 2
    assert consecutive_holdings(session=session, incident_id=incident.id) == 0
    assert action(session, incident, 2, phase, breach) is expected
    assert action(session, incident, 3, phase, breach) is Action.NOTHING


def test_a_holding_statement_is_superseded_once_another_update_went_out(
    session: Session, incident: Incident
) -> None:
    """The demo's race: the resolution waits for approval, update 1's lapse decides on a holding
    statement, the resolution goes out while it is drafted; the holding statement must not follow it."""
    assert incident.id is not None
    add(session, incident, UpdateKind.INITIAL)
    resolution = add(session, incident, UpdateKind.RESOLUTION, UpdateState.PENDING_APPROVAL)
    assert superseded_by(session=session, incident_id=incident.id, base=1) is None  # update 1 is the latest
    publish(session, resolution, timedelta(hours=1, minutes=1))

    newer = superseded_by(session=session, incident_id=incident.id, base=1)

    assert newer is not None and newer.number == resolution.number


def test_a_holding_statement_is_stale_once_any_update_went_out_after_it_was_drafted(
    session: Session, incident: Incident
) -> None:
    """What a publish run started again for a pending approval goes by, knowing no lapsed update:
    here update 2, numbered below the holding statement, was approved after it was drafted."""
    add(session, incident, UpdateKind.INITIAL)
    waiting = add(session, incident, UpdateKind.UPDATE, UpdateState.PENDING_APPROVAL)
    holding = add(session, incident, UpdateKind.HOLDING, UpdateState.PENDING_APPROVAL)
    holding.created_at = T0 + timedelta(hours=1)
    session.add(holding)
    session.flush()
    assert published_since(session=session, holding=holding) is None  # update 1 went out before

    publish(session, waiting, timedelta(hours=1, minutes=5))
    newer = published_since(session=session, holding=holding)

    assert newer is not None and newer.number == waiting.number == 2
    assert superseded_by(session=session, incident_id=incident.id or 0, base=2) is None  # by the base, not


def test_holdings_published_after_the_last_real_update_are_counted_whatever_their_numbers(
    session: Session, incident: Incident
) -> None:
    assert incident.id is not None
    add(session, incident, UpdateKind.INITIAL)
    waiting = add(session, incident, UpdateKind.UPDATE, UpdateState.PENDING_APPROVAL)
    add(session, incident, UpdateKind.HOLDING, published=timedelta(hours=1))
    publish(session, waiting, timedelta(hours=1, minutes=20))
    add(session, incident, UpdateKind.HOLDING, published=timedelta(hours=2, minutes=30))

    assert consecutive_holdings(session=session, incident_id=incident.id) == 1


def test_a_timer_before_anything_was_published_does_nothing(
    session: Session, incident: Incident, breach: Playbook
) -> None:
    add(session, incident, UpdateKind.INITIAL, UpdateState.DRAFT)

    assert action(session, incident, 1, Phase.LAPSE, breach) is Action.NOTHING


def test_a_lapsed_promise_gets_a_holding_statement(
    session: Session, incident: Incident, breach: Playbook
) -> None:
    add(session, incident, UpdateKind.INITIAL)
    add(session, incident, UpdateKind.HOLDING)
    add(session, incident, UpdateKind.HOLDING)

    assert action(session, incident, 3, Phase.LAPSE, breach) is Action.HOLD


def test_after_max_consecutive_holdings_the_lapse_escalates(
    session: Session, incident: Incident, breach: Playbook
) -> None:
    assert breach.holding_statement.max_consecutive == 3
    add(session, incident, UpdateKind.INITIAL)
    for _ in range(3):
        add(session, incident, UpdateKind.HOLDING)

    assert action(session, incident, 4, Phase.LAPSE, breach) is Action.ESCALATE
    assert action(session, incident, 4, Phase.REMINDER, breach) is Action.REMIND


def test_a_playbook_without_holding_statements_escalates(session: Session) -> None:
    book = playbook("scheduled-maintenance")
    incident = declare(session, book, severity="downtime")
    add(session, incident, UpdateKind.INITIAL)

    assert action(session, incident, 1, Phase.LAPSE, book) is Action.ESCALATE


def test_a_resolved_incident_gets_no_holding_statement(
    session: Session, incident: Incident, breach: Playbook
) -> None:
    add(session, incident, UpdateKind.RESOLUTION)
    incident.status = IncidentStatus.RESOLVED

    assert action(session, incident, 1, Phase.LAPSE, breach) is Action.ESCALATE


@pytest.mark.parametrize("phase", list(Phase))
def test_the_timers_of_a_resolution_chase_nobody(
    session: Session, incident: Incident, breach: Playbook, phase: Phase
) -> None:
    """After the resolution (and a "you asked, we built it" follow-up, resolved too) nobody waits for
    another update: its timers neither remind the commander nor escalate a lapse to everyone."""
    resolution = add(session, incident, UpdateKind.RESOLUTION)
    resolution.status = IncidentStatus.RESOLVED
    incident.status = IncidentStatus.RESOLVED
    session.add_all([resolution, incident])
    session.flush()

    assert action(session, incident, 1, phase, breach) is Action.NOTHING
