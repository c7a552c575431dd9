"""The in-app banner: one stored message per incident, audience and locale.

The banner channel writes here (:func:`publish_banner`), the web app reads (:func:`active_banners`)
and serves it to every app that polls ``/banner.json``; resolving an incident clears its banners
(:func:`clear_banners`).

Rules a reader of the feed can rely on:

* **Idempotent publish.** Publishing the update the row already holds changes nothing (a retried
  delivery must not bump ``revision``, or every client would show a dismissed banner again).
* **Revisions.** Publishing a newer update replaces text, link, severity, status and expiry, and bumps
  ``revision`` and ``updated_at``. Clients remember dismissals per ``id`` + ``revision``.
* **No going back.** An update older than the one held (a late retry of update 3 after update 4) is
  ignored. Update ids grow with the update number within an incident, so the id is the order.
* **Resolved stays quiet.** A banner is stored cleared when its update's status is ``resolved`` or its
  incident is resolved, so a delivery that lands after :func:`clear_banners` cannot bring it back.
  A newer, unresolved update on an open incident shows a cleared banner again (a re-opened incident).

Like every store function these never commit: the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from clarion.kinds import IncidentStatus
from clarion.models import Banner, Incident, utcnow


def _held(session: Session, *, incident_id: int, audience: str, locale: str) -> Banner | None:
    statement = (
        select(Banner)
        .where(Banner.incident_id == incident_id, Banner.audience == audience, Banner.locale == locale)
        .with_for_update()  # PostgreSQL: queue behind a concurrent publish; SQLite already holds the lock
        .execution_options(populate_existing=True)  # the locked row's values, not a stale identity map
    )
    return session.exec(statement).first()


def get_banner(*, session: Session, incident_id: int, audience: str, locale: str) -> Banner | None:
    """The banner of one incident, audience and locale (cleared or not), or None."""
    statement = select(Banner).where(
        Banner.incident_id == incident_id, Banner.audience == audience, Banner.locale == locale
    )
    return session.exec(statement).first()


def _incident_resolved(session: Session, incident_id: int) -> bool:
    row = session.exec(
        select(Incident.status, Incident.resolved_at).where(Incident.id == incident_id)
    ).first()
    return row is not None and (row[0] == IncidentStatus.RESOLVED or row[1] is not None)


def publish_banner(
    *,
    session: Session,
    incident_id: int,
    update_id: int,
    audience: str,
    locale: str,
    severity: str,
    status: str,
    text: str,
    link: str | None,
    expires_at: datetime | None = None,
) -> Banner:
    """Show ``text`` to ``audience`` in ``locale`` for the incident, from update ``update_id``.

    Upserts on (incident, audience, locale); see the module docstring for what a repeat, a newer and
    an older update do. Returns the row as it now stands (compare its ``update_id`` with yours to tell
    whether your update is the one shown). Raises ``IntegrityError`` for an unknown incident or update.
    """
    banner = _held(session, incident_id=incident_id, audience=audience, locale=locale)
    if banner is not None and banner.update_id >= update_id:
        return banner  # this update already, or a newer one: nothing to do
    now = utcnow()
    quiet = status == IncidentStatus.RESOLVED or _incident_resolved(session, incident_id)
    if banner is None:
        fresh = Banner(
            incident_id=incident_id,
            audience=audience,
            locale=locale,
            update_id=update_id,
            severity=severity,
            status=status,
            text=text,
            link=link,
            expires_at=expires_at,
            cleared_at=now if quiet else None,
            starts_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():  # a concurrent publish may insert the same key first
                session.add(fresh)
                session.flush()
            return fresh
        except IntegrityError:  # the rolled-back savepoint already dropped ``fresh`` from the session
            banner = _held(session, incident_id=incident_id, audience=audience, locale=locale)
            if banner is None:
                raise  # not the race: an unknown incident or update
            if banner.update_id >= update_id:
                return banner
    banner.update_id = update_id
    banner.severity = severity
    banner.status = status
    banner.text = text
    banner.link = link
    banner.expires_at = expires_at
    banner.revision += 1
    banner.updated_at = now
    banner.cleared_at = (banner.cleared_at or now) if quiet else None
    session.add(banner)
    session.flush()
    return banner


def clear_banners(*, session: Session, incident_id: int, at: datetime) -> int:
    """Take down every banner of the incident (it resolved); returns how many were showing."""
    result = session.execute(
        sa.update(Banner)
        .where(col(Banner.incident_id) == incident_id, col(Banner.cleared_at).is_(None))
        .values(cleared_at=at, updated_at=at)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def active_filter(
    now: datetime | sa.ColumnElement[datetime],
    *,
    audience: str | sa.ColumnElement[str] | None = None,
    locale: str | sa.ColumnElement[str] | None = None,
) -> list[sa.ColumnElement[bool]]:
    """The WHERE clauses of "showing at ``now``", for callers that select their own columns.

    Values may be bound parameters (``sa.bindparam("now")``), so a caller can build its statement once.
    """
    clauses: list[sa.ColumnElement[bool]] = [
        col(Banner.cleared_at).is_(None),
        col(Banner.starts_at) <= now,
        sa.or_(col(Banner.expires_at).is_(None), col(Banner.expires_at) > now),
    ]
    if audience is not None:
        clauses.append(col(Banner.audience) == audience)
    if locale is not None:
        clauses.append(col(Banner.locale) == locale)
    return clauses


NEWEST_FIRST = (col(Banner.updated_at).desc(), col(Banner.id).desc())


def active_banners(
    *, session: Session, now: datetime, audience: str | None = None, locale: str | None = None
) -> list[Banner]:
    """Banners showing at ``now`` (not cleared, started, not expired), newest first."""
    statement = (
        select(Banner).where(*active_filter(now, audience=audience, locale=locale)).order_by(*NEWEST_FIRST)
    )
    return list(session.exec(statement).all())
