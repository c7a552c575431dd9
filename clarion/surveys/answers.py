"""An answer to a survey: read from a posted form, checked whole, recorded once, tagged, followed up.

:func:`read_answer` turns the posted fields into an :class:`Answer` or refuses the whole form
(:class:`~clarion.surveys.links.SurveyRefused`, reason ``invalid``, one problem per field): a score
out of range or not a number, an NPS when the playbook asks none, a text longer than
:data:`MAX_TEXT` characters or holding a control character, a contact channel that is not offered.
Nothing is stored for a form that is refused.

:func:`record_answer` stores it in the caller's transaction: the invitation is marked answered by
an UPDATE guarded by ``responded_at IS NULL`` (two posts at once: one wins, the other is refused
with ``answered``), the free text is tagged for trust signals (:mod:`clarion.surveys.signals`), and
an answer that asks for a person (the box, or words in the text that ask for it) opens a follow-up
and stages a notice to the playbook's support contact (:mod:`clarion.surveys.followups`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from clarion import audit
from clarion.errors import Problem
from clarion.files.text import first_unsafe
from clarion.models import SurveyInvite, SurveyResponse
from clarion.models.columns import table_of
from clarion.playbook import SurveyPolicy
from clarion.surveys.links import Reason, SurveyRefused

if TYPE_CHECKING:
    from clarion.surveys.signals import Tagged, Tagger

MAX_TEXT = 2_000
"""The longest free text, in characters (a few paragraphs; a survey is not a letter)."""
CONTACT_CHANNELS = ("email", "phone", "sms")
"""How a person may ask to be contacted."""
SOURCE = "survey form"
ANSWER_LOCALES = ("en", "de")
"""The languages the survey page speaks, and so the languages answers are tagged in."""

_invite = table_of(SurveyInvite)


@dataclass(frozen=True)
class Answer:
    """What a person answered, checked."""

    informed: int
    trust: int
    nps: int | None = None
    text: str | None = None
    wants_contact: bool = False
    contact_channel: str | None = None
    quote_allowed: bool = False


def _score(
    fields: Mapping[str, Sequence[str]], name: str, low: int, high: int, problems: list[Problem]
) -> int | None:
    values = fields.get(name) or []
    value = values[-1].strip() if values else ""
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 3 and low <= int(value) <= high):
        problems.append(Problem(SOURCE, None, name, f"must be a whole number from {low} to {high}"))
        return None
    return int(value)


def _one(fields: Mapping[str, Sequence[str]], name: str) -> str:
    values = fields.get(name) or []
    return values[-1] if values else ""


def read_answer(fields: Mapping[str, Sequence[str]], policy: SurveyPolicy) -> Answer:
    """The answer in a posted form, or :class:`SurveyRefused` naming every field that is wrong."""
    problems: list[Problem] = []
    informed = _score(fields, "informed", 1, 5, problems)
    trust = _score(fields, "trust", 1, 5, problems)
    for name, value in (("informed", informed), ("trust", trust)):
        if value is None and not any(p.field == name for p in problems):
            problems.append(Problem(SOURCE, None, name, "choose a number from 1 to 5"))
    nps = _score(fields, "nps", 0, 10, problems)
    if nps is not None and not policy.nps:
        problems.append(Problem(SOURCE, None, "nps", "this survey asks no such question"))
    text = _one(fields, "text").replace("\r\n", "\n").replace("\r", "\n").strip() or None
    if text is not None:
        if not policy.free_text:
            problems.append(Problem(SOURCE, None, "text", "this survey asks no such question"))
        elif len(text) > MAX_TEXT:
            problems.append(Problem(SOURCE, None, "text", f"is {len(text)} characters; at most {MAX_TEXT}"))
        elif (unsafe := first_unsafe(text)) is not None:
            problems.append(Problem(SOURCE, None, "text", f"holds a {unsafe}"))
    wants = _one(fields, "contact") in ("yes", "on", "1")
    channel = _one(fields, "contact_channel").strip() or None
    if channel is not None and channel not in CONTACT_CHANNELS:
        problems.append(
            Problem(SOURCE, None, "contact_channel", f"must be one of {', '.join(CONTACT_CHANNELS)}")
        )
    if problems or informed is None or trust is None:
        raise SurveyRefused(Reason.INVALID, "the answer is not complete", problems)
    return Answer(
        informed=informed,
        trust=trust,
        nps=nps,
        text=text,
        wants_contact=wants,
        contact_channel=channel if wants else None,
        quote_allowed=_one(fields, "quote") in ("yes", "on", "1") and text is not None,
    )


def tag_answer(tagger: Tagger, text: str, locale: str) -> Tagged:
    """Tag ``text`` in the invitation's language; when that finds no cue at all, in each other
    language the survey page speaks (people answer in the language they think in, whatever the page
    said), keeping the first that finds something."""
    first = tagger.tag(text, locale)
    if first.cues:
        return first
    for other in ANSWER_LOCALES:
        if other != locale.split("-")[0].lower() and (found := tagger.tag(text, other)).cues:
            return found
    return first


def recorded(session: Session, invite: SurveyInvite) -> SurveyResponse | None:
    """The answer given through ``invite``, if any."""
    return session.exec(select(SurveyResponse).where(SurveyResponse.invite_id == invite.id)).first()


def record_answer(
    *,
    session: Session,
    invite: SurveyInvite,
    answer: Answer,
    tagger: Tagger,
    now: datetime,
) -> SurveyResponse:
    """Store ``answer`` to ``invite`` (flushed, not committed); refused when it was answered already."""
    assert invite.id is not None
    if now >= invite.expires_at:
        raise SurveyRefused(Reason.EXPIRED, "the survey has closed")
    won = session.connection().execute(
        _invite.update()
        .where(_invite.c.id == invite.id, _invite.c.responded_at.is_(None))
        .values(responded_at=now)
    )
    if won.rowcount != 1:
        raise SurveyRefused(Reason.ANSWERED, "this survey was answered already")
    tagged = tag_answer(tagger, answer.text, invite.locale) if answer.text else None
    asked_in_text = bool(tagged and tagged.contact)
    response = SurveyResponse(
        invite_id=invite.id,
        informed_score=answer.informed,
        trust_score=answer.trust,
        nps=answer.nps,
        free_text=answer.text,
        tags=[signal.value for signal in tagged.signals] if tagged else [],
        polarity=tagged.polarity.value if tagged else None,
        cues=tagged.to_json()["cues"] if tagged else [],
        wants_contact=answer.wants_contact or asked_in_text,
        contact_channel=answer.contact_channel,
        quote_allowed=answer.quote_allowed,
        locale=invite.locale,
        created_at=now,
    )
    session.add(response)
    session.flush()
    audit.append(
        session=session,
        actor="recipient",
        action="survey.answered",
        subject=f"survey-invite:{invite.id}",
        details={"incident_id": invite.incident_id, "asked_for_contact": response.wants_contact},
    )
    return response
