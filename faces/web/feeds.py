"""Public feeds: the in-app banner (``/banner.json``, ``/banner.js``) and a Statuspage-compatible
``/api/v2/summary.json``, plus ``/healthz``.

Everything here is **public data meant for embedding** in other sites and apps: no cookies, no
personal data, ``Access-Control-Allow-Origin: *`` so any origin may read it, and
``Cross-Origin-Resource-Policy: cross-origin`` so ``banner.js`` loads even into pages that require
it (``Cross-Origin-Embedder-Policy: require-corp``). It holds only what was published: an incident
shows up once an update of it was published, never while a draft waits for approval.

Thousands of app clients poll ``/banner.json``, so a request is one query of a few columns (no ORM
objects; the statement is built once per filter combination, which halves the cost), an ETag hashed
from the rows, and JSON rendered only when the client's copy is stale: a matching ``If-None-Match``
answers 304 with no body. Responses carry ``Cache-Control: public, max-age=30`` so browsers and CDNs
absorb most polls. The ETag names the banners, not the bytes: ``generated_at`` is left out of it, so a
304 tells a client that its copy (with its older ``generated_at``) still shows the right banners.

``summary.json`` follows the Statuspage public API (providers.md §7). Impact comes from the incident's
severity: ``sev1`` → critical, ``sev2`` → major, anything else (``sev3``, maintenance severities) →
minor; the page's indicator is the worst impact of the unresolved incidents ("none" when there are
none). An incident update's body is the banner text of that update in the page's locale (the banner
row while it still holds the update, else the update's banner rendition), else its apology in that
locale, else in English. All times are ISO 8601 in UTC with a ``Z``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response
from sqlmodel import Session, col, func, select

from clarion import store
from clarion.banner import NEWEST_FIRST, active_filter
from clarion.kinds import Channel, IncidentStatus, UpdateState
from clarion.models import Banner, Incident, Rendition, Update, utcnow
from clarion.settings import Settings

router = APIRouter()

FEED_MAX_AGE = 30
SCRIPT_MAX_AGE = 3600
FORMAT = b"banner.json/1"  # part of every ETag: a new document shape invalidates old copies
IMPACT = {"sev1": "critical", "sev2": "major"}
IMPACT_RANK = ["none", "minor", "major", "critical"]
INDICATOR_DESCRIPTION = {  # Statuspage's own wording of each indicator
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
}
_BANNER_FIELDS = (
    "id", "revision", "incident", "severity", "status", "text", "link",
    "locale", "audience", "starts_at", "expires_at", "updated_at",
)  # fmt: skip
_BANNER_COLUMNS = tuple(
    col(column)
    for column in (
        Banner.id, Banner.revision, Incident.reference, Banner.severity, Banner.status, Banner.text,
        Banner.link, Banner.locale, Banner.audience, Banner.starts_at, Banner.expires_at, Banner.updated_at,
    )
)  # fmt: skip


def iso(moment: datetime | None) -> str | None:
    """``2026-03-01T09:30:15.123Z``: ISO 8601, UTC, milliseconds."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _etag(*parts: bytes) -> str:
    return '"' + hashlib.blake2b(b"\0".join(parts), digest_size=16).hexdigest() + '"'


def not_modified(request: Request, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, as RFC 9110 asks for this header)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    return etag in {tag.strip().removeprefix("W/") for tag in header.split(",")}


def _public_headers(etag: str, max_age: int) -> dict[str, str]:
    return {
        "ETag": etag,
        "Cache-Control": f"public, max-age={max_age}",
        "Access-Control-Allow-Origin": "*",  # public data, meant to be read from any site
        "Access-Control-Expose-Headers": "ETag",
        "Cross-Origin-Resource-Policy": "cross-origin",  # embeddable even where pages require CORP
        "X-Content-Type-Options": "nosniff",
    }


def _conditional(
    request: Request, etag: str, max_age: int, body: bytes | Callable[[], bytes], media_type: str
) -> Response:
    """304 with the validators when the client has this version; else the body (rendered lazily)."""
    headers = _public_headers(etag, max_age)
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    content = body() if callable(body) else body
    return Response(content, media_type=media_type, headers=headers)


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


# ── the banner feed ───────────────────────────────────────────────────────────────────────────────


@router.get("/healthz")
def healthz() -> dict[str, bool]:
    """Liveness: the process answers (it does not touch the database)."""
    return {"ok": True}


@cache
def _feed_statement(by_audience: bool, by_locale: bool) -> sa.Executable:
    """The feed's query, built once per filter combination (building it costs more than running it)."""
    filters = active_filter(
        sa.bindparam("now"),
        audience=sa.bindparam("audience") if by_audience else None,
        locale=sa.bindparam("locale") if by_locale else None,
    )
    return (
        sa.select(*_BANNER_COLUMNS)
        .join(Incident, col(Incident.id) == col(Banner.incident_id))
        .where(*filters)
        .order_by(*NEWEST_FIRST)
    )


@router.api_route("/banner.json", methods=["GET", "HEAD"])
def banner_json(
    request: Request,
    audience: str | None = Query(default=None, max_length=200),
    locale: str | None = Query(default=None, max_length=35),
) -> Response:
    """The banners showing now, newest first, optionally for one audience and locale."""
    now = utcnow()
    params: dict[str, object] = {"now": now, "audience": audience, "locale": locale}
    statement = _feed_statement(audience is not None, locale is not None)
    with store.reading(request.app.state.engine) as connection:  # polls never queue behind a writer
        rows = connection.execute(statement, {k: v for k, v in params.items() if v is not None}).all()
    etag = _etag(FORMAT, repr([tuple(row) for row in rows]).encode())

    def render() -> bytes:
        banners = []
        for row in rows:
            item = dict(zip(_BANNER_FIELDS, row, strict=True))
            for key in ("starts_at", "expires_at", "updated_at"):
                item[key] = iso(item[key])
            banners.append(item)
        return _json({"banners": banners, "generated_at": iso(now)})

    return _conditional(request, etag, FEED_MAX_AGE, render, "application/json")


@cache
def _script() -> tuple[bytes, str]:
    body = files("faces.web").joinpath("static", "banner.js").read_bytes()
    return body, _etag(body)


@router.api_route("/banner.js", methods=["GET", "HEAD"])
def banner_js(request: Request) -> Response:
    """The embeddable banner script (see the comment at its top for how to embed it)."""
    body, etag = _script()
    return _conditional(request, etag, SCRIPT_MAX_AGE, body, "application/javascript; charset=utf-8")


# ── Statuspage-compatible summary ─────────────────────────────────────────────────────────────────


def impact_of(severity: str) -> str:
    """Statuspage impact of a clarion severity: sev1 critical, sev2 major, anything else minor."""
    return IMPACT.get(severity, "minor")


def page_of(settings: Settings) -> dict[str, Any]:
    """The page: id derived from the public URL (stable per deployment), named after its host."""
    url = settings.public_url.rstrip("/")
    page_id = hashlib.blake2b(url.encode(), digest_size=6).hexdigest()
    return {
        "id": page_id,
        "name": urlsplit(url).hostname or url,
        "url": url,
        "time_zone": settings.public_time_zone,
    }


def _text(part: dict[str, dict[str, str | None]] | None, locale: str) -> str:
    part = part or {}
    for candidate in (locale, "en", *part):
        text = (part.get(candidate) or {}).get("text")
        if text:
            return text
    return ""


@cache
def _summary_statements() -> dict[str, Any]:
    """The summary's queries, built once (``ids`` and ``locale`` are bound per request)."""
    ids: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
    locale: sa.BindParameter[str] = sa.bindparam("locale")
    return {
        "incidents": select(Incident)
        .where(col(Incident.resolved_at).is_(None), col(Incident.status) != IncidentStatus.RESOLVED)
        .order_by(col(Incident.id).desc()),
        "updates": select(Update)
        .where(col(Update.incident_id).in_(ids), col(Update.state) == UpdateState.PUBLISHED)
        .order_by(col(Update.incident_id), col(Update.number).desc()),
        "renditions": select(Rendition.update_id, Rendition.body)
        .where(col(Rendition.update_id).in_(ids), col(Rendition.channel) == Channel.BANNER)
        .where(col(Rendition.locale) == locale)
        .order_by(col(Rendition.id)),
        "banners": select(Banner.update_id, Banner.text)
        .where(col(Banner.update_id).in_(ids), col(Banner.locale) == locale)
        .order_by(col(Banner.id).desc()),
        "last_resolution": select(func.max(Incident.resolved_at)),
    }


def summary_document(session: Session, settings: Settings, locale: str) -> dict[str, Any]:
    """The ``summary.json`` document: unresolved, published incidents and their updates."""
    statements = _summary_statements()
    by_id = {i.id: i for i in session.exec(statements["incidents"]).all()}
    updates: list[Update] = list(session.exec(statements["updates"], params={"ids": list(by_id)}).all())
    texts: dict[int | None, str] = {}
    params = {"ids": [u.id for u in updates], "locale": locale}
    for update_id, text in session.exec(statements["renditions"], params=params).all():
        texts.setdefault(update_id, text)  # the update's banner rendition, unless its banner row says
    for update_id, text in session.exec(statements["banners"], params=params).all():
        texts[update_id] = text
    last_resolution = session.exec(statements["last_resolution"]).one()

    page = page_of(settings)
    published: dict[int, list[Update]] = {}
    for update in updates:
        published.setdefault(update.incident_id, []).append(update)
    incidents = []
    for incident_id, story in published.items():  # newest update first
        incident = by_id[incident_id]
        if story[0].status == IncidentStatus.RESOLVED:
            continue  # told as resolved; the incident row just has not caught up yet
        first_monitoring = min(
            (u.published_at for u in story if u.status == IncidentStatus.MONITORING and u.published_at),
            default=None,
        )
        link = story[0].facts.get("status_page_url")
        incidents.append(
            {
                "id": incident.reference,
                "name": incident.title,
                "status": story[0].status.value,
                "impact": impact_of(incident.severity),
                "shortlink": link
                if isinstance(link, str)
                else f"{page['url']}/incidents/{incident.reference}",
                "created_at": iso(story[-1].published_at),
                "updated_at": iso(story[0].published_at),
                "monitoring_at": iso(first_monitoring),
                "resolved_at": None,
                "page_id": page["id"],
                "incident_updates": [
                    {
                        "id": str(u.id),
                        "status": u.status.value,
                        "body": texts.get(u.id) or _text(u.apology, locale),
                        "created_at": iso(u.published_at),
                        "display_at": iso(u.published_at),
                        "updated_at": iso(u.published_at),
                        "incident_id": incident.reference,
                    }
                    for u in story
                ],
            }
        )
    incidents.sort(key=lambda i: i["updated_at"] or "", reverse=True)
    worst = max((i["impact"] for i in incidents), key=IMPACT_RANK.index, default="none")
    last_update = max((u.published_at for u in updates if u.published_at), default=None)
    changes = [moment for moment in (last_update, last_resolution) if moment is not None]
    return {
        "page": page | {"updated_at": iso(max(changes, default=None))},
        "status": {"indicator": worst, "description": INDICATOR_DESCRIPTION[worst]},
        "components": [],
        "incidents": incidents,
        "scheduled_maintenances": [],
    }


@router.api_route("/api/v2/summary.json", methods=["GET", "HEAD"])
def summary_json(request: Request, locale: str = Query(default="en", max_length=35)) -> Response:
    """Statuspage's ``summary.json``, so existing Statuspage clients and widgets can read clarion."""
    with store.reading(request.app.state.engine) as connection, Session(bind=connection) as session:
        document = summary_document(session, request.app.state.settings, locale)
    body = _json(document)  # deterministic (no generation time), so the ETag can hash the bytes
    return _conditional(request, _etag(body), FEED_MAX_AGE, body, "application/json")
