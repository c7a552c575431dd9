"""Whom a resolved incident asks how it went, and the invitations staged in the outbox.

**Who.** Every recipient to whom at least one message of the incident was sent (a delivery of one of
its updates, accepted or delivered: a bounce or a failure reached nobody), asked on the first of the
playbook's survey channels that can reach them: first those on which the incident reached them, in
the playbook's order, then any other survey channel they have an address for. A channel whose
consent they withdrew (an unsubscribe, STOP) is never used, and a status page subscriber whose
subscription has ended is not asked at all. Each person is asked once per incident (UNIQUE
``incident_id, recipient_id``).

**How.** :func:`open_survey` creates the incident's :class:`~clarion.models.Survey` (once) and stages
one invitation and its notice per person (:func:`~clarion.outbox.notices.stage_notice`), a chunk per
transaction: a run that crashes half-way and runs again adds only who is missing, and the outbox
sends each notice once. The link is signed per invitation (:mod:`clarion.surveys.links`); the row
keeps its hash. :func:`remind` stages one reminder per invitation not answered yet, once.

Times are wall-clock times; the playbook's durations are stretched by the incident's clock, so a
demo at 120× closes its survey 120 times sooner.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion import audit
from clarion.kinds import Channel, ConsentState, DeliveryState
from clarion.models import (
    ChannelConsent,
    Delivery,
    Incident,
    Recipient,
    Subscriber,
    SubscriberState,
    Survey,
    SurveyInvite,
    Update,
)
from clarion.outbox.notices import RenderNotice, stage_notice
from clarion.playbook import Playbook
from clarion.surveys.links import make_token, token_hash
from clarion.surveys.notices import INVITE, REMINDER

ATTEMPTS = 3
"""Runs of the same survey at once (two workers) collide on the UNIQUE invitations; the loser asks
again who is left, at most this many times."""
CHUNK = 500
"""Invitations staged per transaction."""
SENT = (DeliveryState.ACCEPTED, DeliveryState.DELIVERED)
SUBSCRIBER_PREFIX = "subscriber:"


@dataclass(frozen=True)
class Invitee:
    recipient_id: int
    channel: Channel
    address: str
    locale: str


def _reached(session: Session, incident_id: int) -> dict[int, set[Channel]]:
    """Each recipient the incident's updates reached, with the channels that reached them."""
    rows = session.exec(
        select(Delivery.recipient_id, Delivery.channel)
        .join(Update, col(Update.id) == Delivery.update_id)
        .where(
            Update.incident_id == incident_id,
            col(Delivery.recipient_id).is_not(None),
            col(Delivery.state).in_(SENT),
        )
        .distinct()
    )
    reached: dict[int, set[Channel]] = {}
    for recipient_id, channel in rows:
        reached.setdefault(int(recipient_id or 0), set()).add(Channel(channel))
    return reached


def _withdrawn(session: Session, ids: list[int]) -> set[tuple[int, Channel]]:
    rows = session.exec(
        select(ChannelConsent.recipient_id, ChannelConsent.channel).where(
            col(ChannelConsent.recipient_id).in_(ids),
            ChannelConsent.state == ConsentState.WITHDRAWN,
        )
    )
    return {(int(r), Channel(c)) for r, c in rows}


def _ended_subscribers(session: Session, recipients: list[Recipient]) -> set[str]:
    """External ids of the recipients that are subscribers whose subscription is not confirmed now."""
    ids = {
        int(r.external_id.removeprefix(SUBSCRIBER_PREFIX)): r.external_id
        for r in recipients
        if r.external_id.startswith(SUBSCRIBER_PREFIX) and r.external_id[len(SUBSCRIBER_PREFIX) :].isdigit()
    }
    if not ids:
        return set()
    confirmed = set(
        session.exec(
            select(Subscriber.id).where(
                col(Subscriber.id).in_(list(ids)),
                Subscriber.state == SubscriberState.CONFIRMED,
            )
        )
    )
    return {external for sid, external in ids.items() if sid not in confirmed}


def _address(recipient: Recipient, channel: Channel) -> str | None:
    return recipient.email if channel is Channel.EMAIL else recipient.phone_e164


def invitees(session: Session, incident_id: int, playbook: Playbook) -> Iterator[Invitee]:
    """Whom the survey of ``incident_id`` asks, and on which channel (see the module docstring)."""
    channels = playbook.survey.channels
    reached = _reached(session, incident_id)
    invited = set(
        session.exec(select(SurveyInvite.recipient_id).where(SurveyInvite.incident_id == incident_id))
    )
    ids = sorted(set(reached) - invited)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        recipients = list(session.exec(select(Recipient).where(col(Recipient.id).in_(chunk))))
        withdrawn = _withdrawn(session, chunk)
        ended = _ended_subscribers(session, recipients)
        for recipient in recipients:
            assert recipient.id is not None
            if recipient.external_id in ended:
                continue
            ordered = [c for c in channels if c in reached[recipient.id]]
            ordered += [c for c in channels if c not in ordered]
            for channel in ordered:
                address = _address(recipient, channel)
                if address and (recipient.id, channel) not in withdrawn:
                    locale = recipient.locale if recipient.locale in playbook.locales else playbook.locales[0]
                    yield Invitee(recipient.id, channel, address, locale)
                    break


def survey_of(session: Session, incident_id: int) -> Survey | None:
    return session.exec(select(Survey).where(Survey.incident_id == incident_id)).first()


def open_survey(
    *,
    engine: sa.Engine,
    incident: Incident,
    playbook: Playbook,
    resolution: int,
    key: bytes,
    check: RenderNotice,
    now: datetime,
    stretch: Callable[[timedelta], timedelta] = lambda span: span,
) -> Survey:
    """Create the incident's survey (once) and stage an invitation to everyone not invited yet.

    ``stretch`` turns the playbook's durations into wall-clock time (the incident clock's
    ``wall_duration``). Commits a chunk at a time; returns the survey with its count of invitations.
    """
    assert incident.id is not None
    survey = _the_survey(engine, incident, resolution, now + stretch(playbook.survey.expires_after), now)
    checked: set[tuple[Channel, str]] = set()
    for attempt in range(ATTEMPTS):
        with Session(engine, expire_on_commit=False) as session:
            pending = list(invitees(session, incident.id, playbook))
        try:
            for start in range(0, len(pending), CHUNK):
                chunk = pending[start : start + CHUNK]
                with Session(engine, expire_on_commit=False) as session:
                    for person in chunk:
                        _invite(session, survey, person, incident, key, check, checked, now)
                    session.execute(
                        sa.update(Survey)
                        .where(col(Survey.id) == survey.id)
                        .values(invited=Survey.invited + len(chunk))
                    )
                    session.commit()
            break
        except sa.exc.IntegrityError:  # another run invited some of them first: ask again who is left
            if attempt == ATTEMPTS - 1:
                raise
    with Session(engine, expire_on_commit=False) as session:
        found = survey_of(session, incident.id)
        assert found is not None
        return found


def _the_survey(
    engine: sa.Engine, incident: Incident, resolution: int, closes_at: datetime, now: datetime
) -> Survey:
    """The incident's survey, created now unless it exists (another run creating it at the same time
    wins the UNIQUE constraint, and this one reads what it wrote)."""
    assert incident.id is not None
    with Session(engine, expire_on_commit=False) as session:
        survey = survey_of(session, incident.id)
        if survey is not None:
            return survey
        survey = Survey(incident_id=incident.id, resolution=resolution, opened_at=now, closes_at=closes_at)
        try:
            session.add(survey)
            session.flush()
            audit.append(
                session=session,
                actor="clarion",
                action="survey.opened",
                subject=f"{incident.reference}/survey",
                details={"resolution": resolution, "closes_at": closes_at.isoformat()},
            )
            session.commit()
            return survey
        except sa.exc.IntegrityError:
            session.rollback()
    with Session(engine, expire_on_commit=False) as session:
        found = survey_of(session, incident.id)
        assert found is not None
        return found


def _invite(
    session: Session,
    survey: Survey,
    person: Invitee,
    incident: Incident,
    key: bytes,
    check: RenderNotice,
    checked: set[tuple[Channel, str]],
    now: datetime,
) -> None:
    """One invitation and its notice, flushed; the notice of the first of each channel and language is
    rendered first (a template that fails stops everything before anything is committed)."""
    invite = SurveyInvite(
        incident_id=survey.incident_id,
        recipient_id=person.recipient_id,
        channel=person.channel,
        locale=person.locale,
        token_hash=secrets.token_hex(32),  # unique until the token it stands for can be made
        sent_at=now,
        expires_at=survey.closes_at,
    )
    session.add(invite)
    session.flush()
    assert invite.id is not None
    invite.token_hash = token_hash(make_token(key, invite.id, expires_at=survey.closes_at))
    session.add(invite)
    first = (person.channel, person.locale) not in checked
    checked.add((person.channel, person.locale))
    _stage(session, invite, INVITE, person.address, incident, check if first else None)


def _stage(
    session: Session,
    invite: SurveyInvite,
    kind: str,
    address: str,
    incident: Incident,
    check: RenderNotice | None,
) -> None:
    assert invite.id is not None
    stage_notice(
        session=session,
        kind=kind,
        channel=invite.channel,
        locale=invite.locale,
        address=address,
        about=f"survey-invite:{invite.id}",
        params={
            "invite": invite.id,
            "expires": int(invite.expires_at.timestamp()),
            "reference": incident.reference,
            "title": incident.title,
        },
        check=check,
    )


def remind(*, engine: sa.Engine, incident: Incident, check: RenderNotice, now: datetime) -> int:
    """Stage one reminder per invitation of the incident not answered, not expired and not reminded."""
    assert incident.id is not None
    with Session(engine, expire_on_commit=False) as session:
        survey = survey_of(session, incident.id)
        if survey is None or survey.reminded_at is not None:
            return 0
        waiting = list(
            session.exec(
                select(SurveyInvite).where(
                    SurveyInvite.incident_id == incident.id,
                    col(SurveyInvite.responded_at).is_(None),
                    col(SurveyInvite.reminded_at).is_(None),
                    SurveyInvite.expires_at > now,
                )
            )
        )
        recipients: dict[int, Recipient] = {
            r.id or 0: r
            for r in session.exec(
                select(Recipient).where(col(Recipient.id).in_([i.recipient_id for i in waiting]))
            )
        }
        withdrawn = _withdrawn(session, list(recipients))
        sent, checked = 0, set()
        for invite in waiting:
            recipient = recipients.get(invite.recipient_id)
            address = _address(recipient, invite.channel) if recipient else None
            invite.reminded_at = now
            session.add(invite)
            if address is None or (invite.recipient_id, invite.channel) in withdrawn:
                continue
            first = (invite.channel, invite.locale) not in checked
            checked.add((invite.channel, invite.locale))
            _stage(session, invite, REMINDER, address, incident, check if first else None)
            sent += 1
        survey.reminded_at = now
        session.add(survey)
        audit.append(
            session=session,
            actor="clarion",
            action="survey.reminded",
            subject=f"{incident.reference}/survey",
            details={"reminders": sent},
        )
        session.commit()
    return sent


def close_survey(*, session: Session, incident_id: int, now: datetime) -> bool:
    """Mark the incident's survey closed (flushed); False when there is none or it was closed already."""
    survey = survey_of(session, incident_id)
    if survey is None or survey.closed_at is not None:
        return False
    survey.closed_at = now
    session.add(survey)
    session.flush()
    return True
