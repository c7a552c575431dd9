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
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion import audit, store
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
from clarion.models.columns import table_of
from clarion.outbox.notices import NoticeIn, RenderNotice, stage_notices
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


_BITS = {Channel.EMAIL: 1, Channel.SMS: 2}


def _reached(session: Session, incident_id: int) -> tuple[array[int], bytearray]:
    """The recipients the incident's updates reached and who are not invited yet, in id order, with
    the channels that reached them as bits: nine bytes a person, so a million fit in ten megabytes."""
    invited = sa.exists().where(
        col(SurveyInvite.incident_id) == incident_id, col(SurveyInvite.recipient_id) == Delivery.recipient_id
    )
    rows = session.execute(
        sa.select(col(Delivery.recipient_id), col(Delivery.channel))
        .join(Update, col(Update.id) == Delivery.update_id)
        .where(
            col(Update.incident_id) == incident_id,
            col(Delivery.recipient_id).is_not(None),
            col(Delivery.state).in_(SENT),
            ~invited,
        )
        .distinct()
        .order_by(col(Delivery.recipient_id))
        .execution_options(yield_per=10_000)
    )
    ids, masks = array("q"), bytearray()
    for recipient_id, channel in rows:
        if not ids or ids[-1] != recipient_id:
            ids.append(int(recipient_id))
            masks.append(0)
        masks[-1] |= _BITS.get(Channel(channel), 0)
    return ids, masks


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


def invitees(session: Session, incident_id: int, playbook: Playbook) -> Iterator[list[Invitee]]:
    """Whom the survey of ``incident_id`` asks and on which channel (see the module docstring), not
    counting those invited already: a chunk of at most :data:`CHUNK` people at a time."""
    channels = playbook.survey.channels
    ids, masks = _reached(session, incident_id)
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        reached = dict(zip(chunk, masks[start : start + CHUNK], strict=True))
        recipients = list(session.exec(select(Recipient).where(col(Recipient.id).in_(chunk))))
        withdrawn = _withdrawn(session, chunk)
        ended = _ended_subscribers(session, recipients)
        found = []
        for recipient in sorted(recipients, key=lambda r: r.id or 0):
            assert recipient.id is not None
            if recipient.external_id in ended:
                continue
            ordered = [c for c in channels if reached[recipient.id] & _BITS.get(c, 0)]
            ordered += [c for c in channels if c not in ordered]
            for channel in ordered:
                address = _address(recipient, channel)
                if address and (recipient.id, channel) not in withdrawn:
                    locale = recipient.locale if recipient.locale in playbook.locales else playbook.locales[0]
                    found.append(Invitee(recipient.id, channel, address, locale))
                    break
        if found:
            yield found


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
    for attempt in range(ATTEMPTS):
        try:
            with store.reading(engine) as connection, Session(bind=connection) as looking:
                for chunk in invitees(looking, incident.id, playbook):
                    _stage_chunk(engine, survey, chunk, incident, key, check, now)
            break
        except sa.exc.IntegrityError:  # another run invited some of them first: ask again who is left
            if attempt == ATTEMPTS - 1:
                raise
    with Session(engine, expire_on_commit=False) as session:
        found = survey_of(session, incident.id)
        assert found is not None
        return found


def _stage_chunk(
    engine: sa.Engine,
    survey: Survey,
    chunk: list[Invitee],
    incident: Incident,
    key: bytes,
    check: RenderNotice,
    now: datetime,
) -> None:
    """One transaction: a chunk's invitations, their notices, and the survey's count."""
    with Session(engine, expire_on_commit=False) as session:
        _invite_all(session, survey, chunk, incident, key, check, now)
        more = sa.update(Survey).values(invited=col(Survey.invited) + len(chunk))
        session.execute(more.where(col(Survey.id) == survey.id))
        session.commit()


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


def _invite_all(
    session: Session,
    survey: Survey,
    people: list[Invitee],
    incident: Incident,
    key: bytes,
    check: RenderNotice | None,
    now: datetime,
) -> None:
    """The invitations of ``people`` and their notices, in bulk in the caller's transaction: the rows
    first (their ids name the tokens), then each row's token hash, then the notices (``check``
    renders one of each channel and language before any notice is written)."""
    invites = table_of(SurveyInvite)
    connection = session.connection()
    ids = (
        connection.execute(
            sa.insert(invites).returning(invites.c.id, sort_by_parameter_order=True),
            [
                {
                    "incident_id": survey.incident_id,
                    "recipient_id": person.recipient_id,
                    "channel": person.channel,
                    "locale": person.locale,
                    "token_hash": secrets.token_hex(32),  # unique until the token it stands for exists
                    "sent_at": now,
                    "expires_at": survey.closes_at,
                }
                for person in people
            ],
        )
        .scalars()
        .all()
    )
    connection.execute(
        sa.update(invites).where(invites.c.id == sa.bindparam("invite")),
        [
            {
                "invite": invite_id,
                "token_hash": token_hash(make_token(key, invite_id, expires_at=survey.closes_at)),
            }
            for invite_id in ids
        ],
    )
    expires = int(survey.closes_at.timestamp())
    stage_notices(
        session=session,
        notices=[
            NoticeIn(
                INVITE,
                person.channel,
                person.locale,
                person.address,
                f"survey-invite:{invite_id}",
                _params(invite_id, expires, incident),
            )
            for invite_id, person in zip(ids, people, strict=True)
        ],
        check=check,
    )


def _params(invite_id: int, expires: int, incident: Incident) -> dict[str, object]:
    return {"invite": invite_id, "expires": expires, "reference": incident.reference, "title": incident.title}


def remind(*, engine: sa.Engine, incident: Incident, check: RenderNotice, now: datetime) -> int:
    """Stage one reminder per invitation of the incident not answered, not expired and not reminded,
    unless its channel's consent was withdrawn since; all in one transaction, so a run that fails
    leaves nobody reminded and the next reminds everyone once."""
    assert incident.id is not None
    with Session(engine, expire_on_commit=False) as session:
        survey = survey_of(session, incident.id)
        if survey is None or survey.reminded_at is not None:
            return 0
        waiting = session.execute(
            sa.select(
                col(SurveyInvite.id),
                col(SurveyInvite.recipient_id),
                col(SurveyInvite.channel),
                col(SurveyInvite.locale),
                col(Recipient.email),
                col(Recipient.phone_e164),
            )
            .join(Recipient, col(Recipient.id) == SurveyInvite.recipient_id)
            .where(
                col(SurveyInvite.incident_id) == incident.id,
                col(SurveyInvite.responded_at).is_(None),
                col(SurveyInvite.reminded_at).is_(None),
                col(SurveyInvite.expires_at) > now,
            )
            .order_by(col(SurveyInvite.id))
        ).all()
        expires, invites, sent = int(survey.closes_at.timestamp()), table_of(SurveyInvite), 0
        for start in range(0, len(waiting), CHUNK):
            chunk = waiting[start : start + CHUNK]
            withdrawn = _withdrawn(session, [row[1] for row in chunk])
            reminders = [
                NoticeIn(
                    REMINDER,
                    channel,
                    locale,
                    address,
                    f"survey-invite:{invite_id}",
                    _params(invite_id, expires, incident),
                )
                for invite_id, recipient_id, channel, locale, email, phone in chunk
                if (address := email if channel is Channel.EMAIL else phone)
                and (recipient_id, channel) not in withdrawn
            ]
            stage_notices(session=session, notices=reminders, check=check)
            ids = [row[0] for row in chunk]
            session.execute(sa.update(invites).where(invites.c.id.in_(ids)).values(reminded_at=now))
            sent += len(reminders)
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
