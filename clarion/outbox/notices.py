"""Notices: outbox messages that are not updates (a subscription's confirmation link, an SMS code).

A notice is one message to one address, sent by the same workers and channel adapters as an update's
messages and recorded in the same ledger. :func:`stage_notice` writes the :class:`~clarion.models.Notice`
and its :class:`~clarion.models.Delivery` in the caller's transaction, before any network call, so a
page that promises "we sent you a link" has the promise in the store when it says so.

What a notice says is rendered when a worker claims its delivery, not when it is staged: the
templates in ``templates/notice/<kind>/<channel>/<locale>/`` (email: ``subject.txt.j2``,
``body.txt.j2`` and optionally ``body.html.j2``; SMS: ``body.txt.j2``; English when the notice's
language has none) get the values its kind's *context* builds from the notice's ``params``, secrets
included (a signed link, a code derived with the signing key). No working link or code is ever
stored, and a resend after a crash renders the same words, so the SMS adapter's lookup of an earlier
attempt still finds it. Kinds register their context in the :class:`NoticeRenderer` the worker is
built with; the stager renders the notice once before writing it, so a missing template or an SMS
that would not fit is an error before anything is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import sqlalchemy as sa
from sqlmodel import Session

from clarion.channel_table import Reach, spec_of
from clarion.errors import LimitExceeded, PayloadRefused, TemplateError
from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery, Notice, utcnow
from clarion.models.columns import table_of
from clarion.outbox.port import Content
from clarion.updates.environment import make_environment
from clarion.updates.limits import measure

OPTIONAL = frozenset({"html"})
"""Fields a notice's templates may leave out; the others are its channel's spec's fields."""
FALLBACK_LOCALE = "en"
INTERNAL_FOLDER = "internal"
"""An internal channel without templates of its own for a kind of notice uses this folder's."""


@dataclass(frozen=True, slots=True)
class NoticeData:
    """A notice as its context and templates see it."""

    id: int
    kind: str
    channel: Channel
    locale: str
    address: str
    about: str
    params: Mapping[str, Any] = field(default_factory=dict)


NoticeContext = Callable[[NoticeData], Mapping[str, Any]]
"""Builds the template values of one kind of notice (signing its links, deriving its codes)."""
RenderNotice = Callable[[NoticeData], Content]


def idempotency_key(notice_id: int, channel: Channel) -> str:
    return f"n{notice_id}.{channel.value}"


def stage_notice(
    *,
    session: Session,
    kind: str,
    channel: Channel,
    locale: str,
    address: str,
    about: str,
    params: Mapping[str, Any] | None = None,
    check: RenderNotice | None = None,
) -> Notice:
    """Write a notice and its outbox row in the caller's transaction (flushed, not committed).

    ``check`` renders the notice first (the renderer the workers use): a kind without templates, or
    an SMS over its segments, raises before anything is written.
    """
    _check_noticeable([channel])
    notice = Notice(
        kind=kind, channel=channel, locale=locale, address=address, about=about, params=dict(params or {})
    )
    session.add(notice)
    session.flush()
    assert notice.id is not None
    if check is not None:
        check(data_of(notice))  # raises: the caller's transaction is rolled back, nothing stays
    now = utcnow()
    session.add(
        Delivery(
            notice_id=notice.id,
            channel=channel,
            idempotency_key=idempotency_key(notice.id, channel),
            state=DeliveryState.PENDING,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    session.flush()
    return notice


@dataclass(frozen=True, slots=True)
class NoticeIn:
    """One notice to stage in bulk (:func:`stage_notices`)."""

    kind: str
    channel: Channel
    locale: str
    address: str
    about: str
    params: Mapping[str, Any]
    dedupe_key: str | None = None
    """Set for a notice that must go once (UNIQUE in the store)."""


def stage_notices(
    *, session: Session, notices: Sequence[NoticeIn], check: RenderNotice | None = None
) -> None:
    """:func:`stage_notice` for many notices at once: two bulk INSERTs in the caller's transaction
    instead of three round trips per notice (a survey invites tens of thousands).

    ``check`` renders the first notice of each kind, channel and language before anything is written;
    its words depend on nothing else a kind's context reads that could fail for one notice and not
    another of the same shape.
    """
    _check_noticeable({n.channel for n in notices})
    if check is not None:
        shapes = {(n.kind, n.channel, n.locale): n for n in notices}
        for n in shapes.values():
            check(NoticeData(0, n.kind, n.channel, n.locale, n.address, n.about, dict(n.params)))
    if not notices:
        return
    now = utcnow()
    connection = session.connection()
    ids = (
        connection.execute(
            sa.insert(table_of(Notice)).returning(table_of(Notice).c.id, sort_by_parameter_order=True),
            [
                {
                    "kind": n.kind,
                    "channel": n.channel,
                    "locale": n.locale,
                    "address": n.address,
                    "about": n.about,
                    "params": dict(n.params),
                    "dedupe_key": n.dedupe_key,
                    "created_at": now,
                }
                for n in notices
            ],
        )
        .scalars()
        .all()
    )
    connection.execute(
        sa.insert(table_of(Delivery)),
        [
            {
                "notice_id": notice_id,
                "channel": n.channel,
                "idempotency_key": idempotency_key(notice_id, n.channel),
                "state": DeliveryState.PENDING,
                "attempts": 0,
                "in_doubt": False,
                "uncertain_sends": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for notice_id, n in zip(ids, notices, strict=True)
        ],
    )


def _check_noticeable(channels: Iterable[Channel]) -> None:
    """A notice goes to one address: on a personal channel (a person) or an internal one (the people
    inside), never on a broadcast or served one."""
    wrong = sorted({c.value for c in channels if spec_of(c).reach not in (Reach.PERSONAL, Reach.INTERNAL)})
    if wrong:
        raise ValueError(
            f"a notice goes to one address (a personal or internal channel), not {', '.join(wrong)}"
        )


def data_of(notice: Notice) -> NoticeData:
    assert notice.id is not None
    return NoticeData(
        id=notice.id,
        kind=notice.kind,
        channel=notice.channel,
        locale=notice.locale,
        address=notice.address,
        about=notice.about,
        params=dict(notice.params),
    )


class NoticeRenderer:
    """Renders notices of the kinds it knows from ``templates/notice/``; callable as :data:`RenderNotice`."""

    def __init__(
        self, templates_dir: Path, contexts: Mapping[str, NoticeContext], *, sms_max_segments: int = 3
    ) -> None:
        self.env = make_environment(templates_dir)  # the message templates' sandbox, limits and escaping
        self.contexts = dict(contexts)
        self.sms_max_segments = sms_max_segments

    def __call__(self, notice: NoticeData) -> Content:
        """The words of ``notice``; :class:`TemplateError` for an unknown kind or a template that
        fails, :class:`LimitExceeded` for an SMS over its segments or an overlong subject,
        :class:`PayloadRefused` for words the provider's message could not hold (Block Kit, a card)."""
        context = self.contexts.get(notice.kind)
        if context is None:
            raise TemplateError.at(f"templates/notice/{notice.kind}", None, "no such kind of notice")
        values = dict(context(notice))
        fields: dict[str, str] = {}
        spec = spec_of(notice.channel)
        for name, file in spec.fields.items():
            text = self._render(notice, file, values, optional=name in OPTIONAL)
            if text is None:
                continue
            fields[name] = _tidy(name, spec.one_line, text)
        limits = spec.limits
        for found in measure(notice.channel, fields, limits=limits, sms_max_segments=self.sms_max_segments):
            if not found.fits and found.limit is not None:
                raise LimitExceeded(
                    channel=notice.channel.value,
                    locale=notice.locale,
                    measure=found.measure,
                    length=found.length,
                    limit=found.limit,
                )
        content = Content(
            rendition_id=None,
            locale=notice.locale,
            text=fields["body"],
            subject=fields.get("subject"),
            html=fields.get("html"),
        )
        if spec.payload_problem is not None and (problem := spec.payload_problem(content)) is not None:
            raise PayloadRefused(channel=notice.channel.value, locale=notice.locale, problem=problem)
        return content

    def _render(self, notice: NoticeData, file: str, values: dict[str, Any], *, optional: bool) -> str | None:
        locales = dict.fromkeys((notice.locale, FALLBACK_LOCALE))
        folders = [notice.channel.value]
        if spec_of(notice.channel).reach is Reach.INTERNAL:
            folders.append(INTERNAL_FOLDER)  # the words every internal channel shares
        names = [f"notice/{notice.kind}/{folder}/{locale}/{file}" for folder in folders for locale in locales]
        for name in names:
            try:
                template = self.env.get_template(name)
            except jinja2.TemplateNotFound:
                continue
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError.at(exc.name or name, exc.lineno, f"syntax: {exc.message}") from exc
            try:
                return template.render(values)
            except jinja2.TemplateError as exc:
                raise TemplateError.at(name, None, str(exc)) from exc
        if optional:
            return None
        raise TemplateError.at(f"templates/{names[0]}", None, "no such template")


def _tidy(name: str, one_line: bool, text: str) -> str:
    """A subject, and the body of a one-line channel (SMS), are one line (no header injection, no
    stray line breaks); other bodies lose the blank lines around them."""
    if name == "subject" or (one_line and name == "body"):
        return " ".join(text.split())
    return text.strip() + ("\n" if name == "html" else "")
