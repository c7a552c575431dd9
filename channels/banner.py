"""The in-app banner channel: clarion's own database is the provider.

Setup: nothing to configure. The adapter writes the banner rows that clarion's web app serves at
``/banner.json`` (and the embeddable ``/banner.js``); apps poll that feed. Give it the same engine as
the rest of clarion (``BannerAdapter.from_settings(settings, engine=store.get_engine())``).

Each message is one (audience, locale) banner of one update: no address, and the delivery engine
hands over the incident id, update id, severity and status with the rendition's text and link.
A batch is one transaction. Publishing is idempotent (a retried delivery does not bump the revision
apps remember dismissals by), so :meth:`BannerAdapter.reconcile` can always tell and a resend never
duplicates: ``no_duplicates = True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from channels.base import ChannelAdapter
from clarion.banner import get_banner, publish_banner
from clarion.channel_table import ChannelSpec, Form, Reach
from clarion.errors import ChannelError, InDoubt, PermanentChannelError, TransientChannelError
from clarion.models import Banner
from clarion.outbox.port import OutboundMessage, Presence, Reconciled, SendResult
from clarion.settings import Settings
from clarion.store import session_scope
from clarion.updates.limits import GRAPHEMES, Limit


def provider_id(banner: Banner) -> str:
    """What the delivery ledger records: ``banner:<id>:r<revision>``."""
    return f"banner:{banner.id}:r{banner.revision}"


def _adapter(settings: Settings, *, client: object, engine: sa.Engine) -> BannerAdapter:
    return BannerAdapter.from_settings(settings, engine=engine)


SPEC: Final = ChannelSpec(
    name="banner",
    reach=Reach.SERVED,
    form=Form.SHORT,
    fields={"body": "body.txt.j2"},
    one_line=True,
    # At most three lines on a phone (~100-125 graphemes a line). It carries the reference, status,
    # next-update time, link and contact, and the four parts, most of them as one pointer to the
    # status page ("Why, our fix and what we change: <link>"), so two lines are not enough.
    limits=(Limit("body", GRAPHEMES, 300),),
    adapter=_adapter,
    max_batch=500,
    no_duplicates=True,
    reconcile="reads the banner row, written in the same transaction as the message's outcome",
)


class BannerAdapter(ChannelAdapter):
    """Stores banners in clarion's database; no HTTP."""

    spec = SPEC

    def __init__(self, *, engine: sa.Engine, requests_per_second: float | None = None) -> None:
        super().__init__(requests_per_second=requests_per_second)
        self.engine = engine

    @classmethod
    def from_settings(cls, settings: Settings, *, engine: sa.Engine) -> BannerAdapter:
        """The adapter for ``engine``; the banner channel reads no settings."""
        return cls(engine=engine)

    def _describe(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Publish each message's banner, all in one transaction."""
        self._check_batch(messages)
        results: list[SendResult] = []
        committing = False
        try:
            with session_scope(self.engine) as session:
                for message in messages:
                    problem = _missing(message)
                    if problem:
                        results.append(SendResult(message.delivery_id, error=self._refuse(problem)))
                        continue
                    assert message.incident_id is not None and message.update_id is not None
                    assert message.audience is not None
                    try:
                        with session.begin_nested():
                            banner = publish_banner(
                                session=session,
                                incident_id=message.incident_id,
                                update_id=message.update_id,
                                audience=message.audience,
                                locale=message.content.locale,
                                severity=message.severity,
                                status=message.status,
                                text=message.content.text,
                                link=message.content.link,
                            )
                    except IntegrityError as exc:
                        results.append(SendResult(message.delivery_id, error=self._refuse(_cause(exc))))
                        continue
                    superseded = banner.update_id != message.update_id
                    results.append(
                        SendResult(
                            message.delivery_id,
                            provider_id=provider_id(banner),
                            provider_status="superseded" if superseded else "published",
                        )
                    )
                committing = True  # session_scope commits when the block ends
        except SQLAlchemyError as exc:
            raise self._database_error(exc, maybe_committed=committing) from exc
        return results

    def reconcile(self, messages: Sequence[OutboundMessage]) -> list[Reconciled]:
        """PRESENT when the banner row already holds the message's update, else ABSENT."""
        answers: list[Reconciled] = []
        try:
            with session_scope(self.engine) as session:
                for message in messages:
                    banner = None
                    if not _missing(message):
                        assert message.incident_id is not None and message.audience is not None
                        banner = get_banner(
                            session=session,
                            incident_id=message.incident_id,
                            audience=message.audience,
                            locale=message.content.locale,
                        )
                    if banner is not None and banner.update_id == message.update_id:
                        answers.append(Reconciled(message.delivery_id, Presence.PRESENT, provider_id(banner)))
                    else:
                        answers.append(Reconciled(message.delivery_id, Presence.ABSENT))
        except SQLAlchemyError as exc:
            raise self._database_error(exc, maybe_committed=False) from exc
        return answers

    def _refuse(self, problem: str) -> PermanentChannelError:
        return PermanentChannelError(problem, channel=self.channel)

    def _database_error(self, exc: SQLAlchemyError, *, maybe_committed: bool) -> ChannelError:
        """Before the commit nothing was stored (transient); a commit that broke off may have landed."""
        if maybe_committed:
            return InDoubt(f"commit failed ({_cause(exc)})", channel=self.channel)
        return TransientChannelError(f"database error ({_cause(exc)})", channel=self.channel)


def _missing(message: OutboundMessage) -> str | None:
    """Why the message cannot be a banner, or None."""
    missing = [
        name for name in ("incident_id", "update_id", "audience") if getattr(message, name) in (None, "")
    ]
    if not message.content.text.strip():
        missing.append("content.text")
    return f"banner message lacks {', '.join(missing)}" if missing else None


def _cause(exc: SQLAlchemyError) -> str:
    """The driver's error class ("UniqueViolation", "OperationalError"), never its message (no data)."""
    orig = getattr(exc, "orig", None)
    return type(orig).__name__ if orig is not None else type(exc).__name__
