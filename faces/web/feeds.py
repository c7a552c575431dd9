"""Public feeds: the in-app banner (``/banner.json``, ``/banner.js``), plus ``/healthz``.

Everything here is **public data meant for embedding** in other sites and apps: no cookies, no
personal data, ``Access-Control-Allow-Origin: *`` so any origin may read it, and
``Cross-Origin-Resource-Policy: cross-origin`` so ``banner.js`` loads even into pages that require
it (``Cross-Origin-Embedder-Policy: require-corp``). It holds only what was published: an incident
shows up once an update of it was published, never while a draft waits for approval. The status
page's Statuspage-compatible API and its Atom/RSS feeds (:mod:`faces.web.statusapi`) send the same
:data:`EMBEDDABLE` headers.

Thousands of app clients poll ``/banner.json``, so a request is one query of a few columns (no ORM
objects; the statement is built once per filter combination, which halves the cost), an ETag hashed
from the rows, and JSON rendered only when the client's copy is stale: a matching ``If-None-Match``
answers 304 with no body. Responses carry ``Cache-Control: public, max-age=30`` so browsers and CDNs
absorb most polls. The ETag names the banners, not the bytes: ``generated_at`` is left out of it, so a
304 tells a client that its copy (with its older ``generated_at``) still shows the right banners.
All times are ISO 8601 in UTC with a ``Z``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response
from sqlmodel import col

from clarion import store
from clarion.banner import NEWEST_FIRST, active_filter
from clarion.models import Banner, Incident, utcnow
from clarion.statuspage.api import iso
from faces.web.public_cache import etag_of, not_modified

router = APIRouter()

FEED_MAX_AGE = 30
SCRIPT_MAX_AGE = 3600
FORMAT = b"banner.json/1"  # part of every ETag: a new document shape invalidates old copies
EMBEDDABLE = {
    "Access-Control-Allow-Origin": "*",  # public data, meant to be read from any site
    "Access-Control-Expose-Headers": "ETag",
    "Cross-Origin-Resource-Policy": "cross-origin",  # embeddable even where pages require CORP
    "X-Content-Type-Options": "nosniff",
}
"""The headers of every public document meant to be read or embedded from other sites."""
BANNER_FIELDS = (
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


def _etag(*parts: bytes) -> str:
    return etag_of(b"\0".join(parts))


def _public_headers(etag: str, max_age: int) -> dict[str, str]:
    return {"ETag": etag, "Cache-Control": f"public, max-age={max_age}", **EMBEDDABLE}


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


def showing(
    engine: sa.Engine, now: datetime, *, audience: str | None, locale: str | None
) -> list[sa.Row[Any]]:
    """The banner rows showing at ``now`` (columns :data:`BANNER_FIELDS`), newest first."""
    params: dict[str, object] = {"now": now, "audience": audience, "locale": locale}
    statement = _feed_statement(audience is not None, locale is not None)
    with store.reading(engine) as connection:  # polls never queue behind a writer
        return list(connection.execute(statement, {k: v for k, v in params.items() if v is not None}).all())


@router.api_route("/banner.json", methods=["GET", "HEAD"])
def banner_json(
    request: Request,
    audience: str | None = Query(default=None, max_length=200),
    locale: str | None = Query(default=None, max_length=35),
) -> Response:
    """The banners showing now, newest first, optionally for one audience and locale."""
    now = utcnow()
    rows = showing(request.app.state.engine, now, audience=audience, locale=locale)
    etag = _etag(FORMAT, repr([tuple(row) for row in rows]).encode())

    def render() -> bytes:
        banners = []
        for row in rows:
            item = dict(zip(BANNER_FIELDS, row, strict=True))
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
