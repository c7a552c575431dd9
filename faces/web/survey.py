"""The follow-up survey's pages, behind each invitation's signed link (issue 14).

``GET /survey/{token}``
    The form: how well we kept you informed (1–5), whether you trust us to handle it (1–5), the
    NPS question when the playbook asks it (0–10), a free text when it asks for one, a box to ask
    for a person and the channel they prefer, and a box allowing us to quote the words without the
    name. Once answered, the same address shows the answer given instead (200).

``POST /survey/{token}``
    Checked whole (:func:`clarion.surveys.answers.read_answer`): wrong fields are 422 with the form
    again, the values kept and each problem beside its field. A good answer is recorded, and the
    follow-up it asks for opened and told to support, in one transaction (a notice that does not
    render rolls the answer back: 503, nothing stored); then 303 to the thank-you page. A second
    answer through the same link is 409.

``GET /survey/{token}/thanks``
    What happens next: every answer is read; a person who asked to be contacted is told how.

A garbled, forged or tampered link is 404 (as if there were no such page), an expired one 410
(:class:`clarion.surveys.links.SurveyRefused`); a post without its form token 403, one that is not a
form 415. Nothing is stored in any of these cases. Routes are async; store work runs in the pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from clarion import store
from clarion.errors import Problem
from clarion.files.text import is_unsafe
from clarion.incidents.lifecycle import latest_published
from clarion.models import Incident, SurveyInvite, utcnow
from clarion.outbox.notices import RenderNotice
from clarion.playbook import SurveyPolicy, load_playbook, resolve_playbook
from clarion.settings import Settings
from clarion.statuspage.wording import Wording
from clarion.surveys.answers import MAX_TEXT, read_answer, record_answer, recorded
from clarion.surveys.followups import open_followup, support_addresses
from clarion.surveys.links import Reason, SurveyRefused, open_link
from faces.web.subscribe_pages import (
    Form,
    Reader,
    engine_of,
    first,
    key_of,
    reader,
    reading,
    see_other,
    settings_of,
)
from faces.web.survey_pages import (
    notices_of,
    page,
    read_form,
    refusal,
    survey_reader,
    tagger_of,
    unavailable,
)

if TYPE_CHECKING:
    from clarion.surveys.signals import Tagger

router = APIRouter(tags=["surveys"])
SCALE = (1, 2, 3, 4, 5)
NPS_SCALE = tuple(range(11))
CHANNELS = ("email", "phone", "sms")


@dataclass(frozen=True)
class Given:
    """An answer as the pages show it back to the person who gave it."""

    informed: int
    trust: int
    nps: int | None
    text: str | None
    contact: str | None
    """The channel they asked to be contacted on; None when they asked for nobody."""
    quote: bool
    at: datetime


@dataclass(frozen=True)
class Shown:
    """What a survey page shows: the incident it is about, the questions the playbook asks, and the
    answer given, if any."""

    reference: str
    title: str
    locale: str
    nps: bool
    free_text: bool
    retention_days: int
    given: Given | None


@dataclass(frozen=True)
class Invalid:
    """A post refused for its fields: the page again, with every problem beside its field."""

    shown: Shown
    problems: list[Problem]


def _policy(incident: Incident, settings: Settings) -> SurveyPolicy:
    return load_playbook(resolve_playbook(incident.playbook, settings.playbooks_dir)).survey


def _shown(session: Session, invite: SurveyInvite, incident: Incident, policy: SurveyPolicy) -> Shown:
    given = None
    if (response := recorded(session, invite)) is not None:
        given = Given(
            informed=response.informed_score,
            trust=response.trust_score,
            nps=response.nps,
            text=response.free_text,
            contact=(response.contact_channel or invite.channel.value) if response.wants_contact else None,
            quote=response.quote_allowed,
            at=response.created_at,
        )
    return Shown(
        reference=incident.reference,
        title=incident.title,
        locale=invite.locale,
        nps=policy.nps,
        free_text=policy.free_text,
        retention_days=policy.retention.days,
        given=given,
    )


def _open(session: Session, key: bytes, token: str) -> tuple[SurveyInvite, Incident]:
    invite = open_link(session=session, key=key, token=token, now=utcnow())
    incident = session.get(Incident, invite.incident_id)
    assert incident is not None
    return invite, incident


def _contact_email(session: Session, incident_id: int) -> str | None:
    """The incident's contact email, as its latest published update told it (read from the stored
    facts as they are: an older update is not validated again to answer a survey)."""
    update = latest_published(session=session, incident_id=incident_id)
    contact = update.facts.get("contact") if update is not None else None
    email = contact.get("email") if isinstance(contact, dict) else None
    return email if isinstance(email, str) else None


def _read(engine: sa.Engine, key: bytes, token: str, settings: Settings) -> Shown:
    with reading(engine) as session:
        invite, incident = _open(session, key, token)
        return _shown(session, invite, incident, _policy(incident, settings))


def _answer(
    engine: sa.Engine,
    key: bytes,
    token: str,
    form: Form,
    settings: Settings,
    tagger: Tagger,
    check: RenderNotice,
) -> Invalid | None:
    """Record the posted answer and the follow-up it asks for, in one transaction (None); the
    fields' problems when the form is wrong (nothing written). :class:`SurveyRefused` for a link that does
    not work (any more)."""
    with store.session_scope(engine) as session:
        invite, incident = _open(session, key, token)
        policy = _policy(incident, settings)
        if invite.responded_at is not None:
            raise SurveyRefused(Reason.ANSWERED, "this survey was answered already")
        try:
            answer = read_answer(form, policy)
        except SurveyRefused as refused:
            if refused.reason is not Reason.INVALID:
                raise
            return Invalid(_shown(session, invite, incident, policy), list(refused.problems))
        now = utcnow()
        response = record_answer(session=session, invite=invite, answer=answer, tagger=tagger, now=now)
        assert incident.id is not None
        open_followup(
            session=session,
            incident=incident,
            invite=invite,
            response=response,
            support=support_addresses(policy, _contact_email(session, incident.id)),
            check=check,
            now=now,
        )
        return None


# ── the form ──────────────────────────────────────────────────────────────────────────────────────


def _kept(form: Form) -> dict[str, Any]:
    """What a refused form said, to show again (a text's control characters left out, see below)."""
    text = first(form, "text").replace("\r\n", "\n").replace("\r", "\n")
    return {
        "informed": first(form, "informed").strip(),
        "trust": first(form, "trust").strip(),
        "nps": first(form, "nps").strip(),
        "text": "".join(c for c in text if not is_unsafe(c)),
        "unsafe": sum(1 for c in text if is_unsafe(c)),
        "length": len(text.strip()),
        "contact": first(form, "contact") in ("yes", "on", "1"),
        "contact_channel": first(form, "contact_channel"),
        "quote": first(form, "quote") in ("yes", "on", "1"),
    }


def _error_key(field: str, shown: Shown, kept: dict[str, Any]) -> str:
    """Which sentence of ``survey.error.*`` says what is wrong with ``field`` (the domain's problems
    are English; the page speaks the reader's language and says how to put it right)."""
    if field == "nps":
        return "nps" if shown.nps else "nps-unasked"
    if field == "text":
        if not shown.free_text:
            return "text-unasked"
        return "text-long" if kept["length"] > MAX_TEXT else "text-unsafe"
    return field if field in ("informed", "trust", "contact_channel") else "other"


def form_page(
    request: Request,
    who: Reader,
    token: str,
    shown: Shown,
    *,
    kept: dict[str, Any] | None = None,
    problems: list[Problem] | None = None,
) -> Response:
    """The form; with ``problems``, 422 and the values as posted."""
    values = kept or {"informed": "", "trust": "", "nps": "", "text": "", "unsafe": 0, "length": 0}
    values = {"contact": False, "contact_channel": "", "quote": False} | values
    errors = {p.field: _error_key(p.field, shown, values) for p in problems or []}
    anchors = {"informed": "informed-1", "trust": "trust-1", "contact_channel": "contact_channel-email"}
    if shown.nps:
        anchors["nps"] = "nps-0"
    if shown.free_text:
        anchors["text"] = "text"
    return page(
        request,
        who,
        "form.html.j2",
        status_code=422 if problems else 200,
        action=f"/survey/{token}{who.lang_query}",
        shown=shown,
        values=values,
        errors=errors,
        anchors=anchors,
        scale=SCALE,
        nps_scale=NPS_SCALE,
        channels=CHANNELS,
        max_text=MAX_TEXT,
    )


def answered_page(request: Request, who: Reader, shown: Shown) -> Response:
    assert shown.given is not None
    return page(
        request,
        who,
        "answered.html.j2",
        shown=shown,
        given=shown.given,
        at=Wording(who.locale).moment(shown.given.at),
    )


async def _opened(request: Request, token: str) -> tuple[Shown, Reader] | Response:
    """What the link shows, and its reader; or the page of a link that does not work."""
    try:
        shown = await run_in_threadpool(
            _read, engine_of(request), key_of(request), token, settings_of(request)
        )
    except SurveyRefused as refused:
        return refusal(request, reader(request), refused)
    return shown, survey_reader(request, shown.locale)


@router.get("/survey/{token}", response_class=HTMLResponse)
@unavailable
async def survey_form(token: str, request: Request) -> Response:
    opened = await _opened(request, token)
    if isinstance(opened, Response):
        return opened
    shown, who = opened
    if shown.given is not None:
        return answered_page(request, who, shown)
    return form_page(request, who, token, shown)


@router.post("/survey/{token}")
@unavailable
async def survey_answer(token: str, request: Request) -> Response:
    settings, key = settings_of(request), key_of(request)
    opened = await _opened(
        request, token
    )  # the link first: an expired or used one says so, whatever the form
    if isinstance(opened, Response):
        return opened
    shown, who = opened
    if shown.given is not None:
        return refusal(request, who, SurveyRefused(Reason.ANSWERED, "this survey was answered already"))
    form = await read_form(request, who)
    if isinstance(form, Response):
        return form
    tagger, check = tagger_of(request), notices_of(request, key)
    try:
        result = await run_in_threadpool(
            _answer, engine_of(request), key, token, form, settings, tagger, check
        )
    except SurveyRefused as refused:
        return refusal(request, who, refused)
    if isinstance(result, Invalid):
        return form_page(request, who, token, result.shown, kept=_kept(form), problems=result.problems)
    return see_other(f"/survey/{token}/thanks{who.lang_query}")


@router.get("/survey/{token}/thanks", response_class=HTMLResponse)
@unavailable
async def survey_thanks(token: str, request: Request) -> Response:
    opened = await _opened(request, token)
    if isinstance(opened, Response):
        return opened
    shown, who = opened
    if shown.given is None:  # nothing to thank for yet: the form
        return see_other(f"/survey/{token}{who.lang_query}")
    return page(request, who, "thanks.html.j2", shown=shown, given=shown.given)
