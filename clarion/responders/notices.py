"""Telling the people inside: notices to responders, staged once each.

Kinds (templates in ``templates/notice/<kind>/<channel>/<locale>/``; an internal channel without
templates of its own uses ``internal/``, so a chat channel another package adds is told in the same
words):

* ``responder-approval``: an update waits for your role; the preview, the exact ``clarion approve``
  command and the Prefect UI link;
* ``responder-escalation``: a role has not answered half-way through its window; you are its backup;
* ``responder-reminder``: the next update is due soon; ``responder-lapse``: its promise lapsed;
* ``responder-deadline``: a regulatory clock passed a threshold, or its deadline;
* ``commitment-reminder``: a prevention commitment you own is due soon; ``commitment-overdue``: it is
  past its day and still open (to its owner and whom the playbook escalates to).

Internal notices may say what is not public yet (a draft's words); they go only to the addresses of the
people file, never to an audience. Each (incident, kind, topic, person, channel) is staged once: the
notice's dedupe key is UNIQUE, so a retried or doubled flow run adds nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from clarion.channel_table import Form, spec_of
from clarion.kinds import Channel
from clarion.models import Notice
from clarion.outbox.notices import NoticeContext, NoticeData, NoticeIn, RenderNotice, stage_notices
from clarion.responders.people import People
from clarion.responders.who import channels_for

APPROVAL = "responder-approval"
ESCALATION = "responder-escalation"
REMINDER = "responder-reminder"
LAPSE = "responder-lapse"
DEADLINE = "responder-deadline"
COMMITMENT_REMINDER = "commitment-reminder"
COMMITMENT_OVERDUE = "commitment-overdue"
KINDS = (APPROVAL, ESCALATION, REMINDER, LAPSE, DEADLINE, COMMITMENT_REMINDER, COMMITMENT_OVERDUE)
PREVIEW_CHARS = 1000
"""A preview in a notice is a glimpse (the whole draft is the Prefect artifact and `clarion status`)."""


@dataclass(frozen=True)
class Telling:
    """One thing to tell some responders. ``topic`` says what it is about within the incident
    (``update-3``, ``gdpr-art33/authority/75``): with the kind, it makes each notice once-only."""

    kind: str
    topic: str
    to: Sequence[str]
    params: Mapping[str, Any]
    urgent: bool = False


@dataclass
class Told:
    staged: int = 0
    already: int = 0
    channels: set[Channel] = field(default_factory=set)
    """The channels of the notices staged now."""
    unreachable: list[str] = field(default_factory=list)
    """Responders named but not in the people file, or with no channel for this notice."""


def dedupe_key(reference: str, telling: Telling, person: str, channel: str) -> str:
    text = "\x1f".join((reference, telling.kind, telling.topic, person, channel))
    return hashlib.sha256(text.encode()).hexdigest()


def tell(
    *, engine: sa.Engine, people: People, reference: str, telling: Telling, check: RenderNotice | None = None
) -> Told:
    """Stage ``telling`` for each of its responders on each of their channels, in one transaction;
    what an earlier run staged is left alone. ``check`` renders each shape first (a missing template
    or a notice over its channel's limits raises before anything is written)."""
    if telling.kind not in KINDS:
        raise ValueError(f"unknown kind of responder notice {telling.kind!r}")
    told = Told()
    wanted: dict[str, NoticeIn] = {}
    for person_id in dict.fromkeys(telling.to):
        person = people.get(person_id)
        channels = channels_for(person, urgent=telling.urgent) if person is not None else []
        if person is None or not channels:
            told.unreachable.append(person_id)
            continue
        for channel in channels:
            key = dedupe_key(reference, telling, person.id, channel.value)
            wanted[key] = NoticeIn(
                kind=telling.kind,
                channel=channel,
                locale=person.locale,
                address=person.reach[channel],
                about=f"{reference}/{telling.topic}",
                params={**telling.params, "person": person.name, "person_id": person.id},
                dedupe_key=key,
            )
    for attempt in (1, 2):  # a second run staging the same at the same instant: the UNIQUE key decides
        with Session(engine) as session:
            have = set(
                session.exec(select(Notice.dedupe_key).where(col(Notice.dedupe_key).in_(list(wanted))))
            )
            fresh = [notice for key, notice in wanted.items() if key not in have]
            try:
                stage_notices(session=session, notices=fresh, check=check)
                session.commit()
            except IntegrityError:
                if attempt == 2:
                    raise
                continue
        told.staged, told.already = len(fresh), len(wanted) - len(fresh)
        told.channels = {notice.channel for notice in fresh}
        break
    return told


class Drafted(Protocol):
    """A rendition as stored (:class:`clarion.models.Rendition`) or just rendered."""

    @property
    def channel(self) -> Channel: ...
    @property
    def locale(self) -> str: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def body(self) -> str: ...


def approval_params(
    *, reference: str, title: str, update: int, role: str, preview: str, ui_url: str, expires: str
) -> dict[str, Any]:
    """What an approval request says: the draft's preview, the exact command, the Prefect UI link."""
    return {
        "title": title,
        "update": update,
        "role": role,
        "preview": preview,
        "command": f"clarion approve {reference} --as {role}",
        "ui_url": ui_url,
        "expires": expires,
    }


def preview_of(renditions: Sequence[Drafted], locale: str) -> str:
    """What a draft says, for an approver's notice: the long subject and the short body of one
    locale (the first short-form rendition's text), at most 1 000 characters."""
    ours = [r for r in renditions if r.locale == locale] or list(renditions)
    subject = next((r.subject for r in ours if r.subject and spec_of(r.channel).form is Form.LONG), None)
    short = next((r.body for r in ours if spec_of(r.channel).form is Form.SHORT), None)
    text = "\n".join(part for part in (subject, short) if part)
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def notice_contexts() -> dict[str, NoticeContext]:
    """The context of every kind of responder notice: the values the flow staged, as they are."""

    def values(notice: NoticeData) -> Mapping[str, Any]:
        return dict(notice.params)

    return dict.fromkeys(KINDS, values)
