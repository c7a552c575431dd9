"""The status page's machine-readable faces: the Statuspage-compatible ``/api/v2/*.json`` documents
and the ``/history.atom`` and ``/history.rss`` feeds.

The documents are built in the domain (:mod:`clarion.statuspage.api`, :mod:`clarion.statuspage.feed`)
from the cached snapshot; this module only serves them. Each (document, locale) is built once per
snapshot by :class:`~faces.web.public_cache.PublicCache`, so a burst of polls after a publication
costs one build; the snapshot is dropped when something is published or resolved (in any process),
so the next poll sees it. Responses carry an ``ETag`` (a client that has the bytes gets a 304),
``Cache-Control`` with ``stale-while-revalidate`` for a CDN, and the public CORS and CORP headers of
every embeddable document (:data:`faces.web.feeds.EMBEDDABLE`): widgets on other sites read them.

``?locale=`` picks the language of names and update bodies (``en``, ``de``); anything else is
answered in English, and is cached as English, so odd values cannot grow the cache.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from clarion.statuspage.api import DOCUMENTS, locale_of, render_document
from clarion.statuspage.feed import FeedFormat, render_feed
from faces.web.feeds import EMBEDDABLE
from faces.web.public_cache import PAGE_MAX_AGE, cached_response, public_cache

router = APIRouter()

API_MAX_AGE = PAGE_MAX_AGE
"""The API documents are as fresh as the pages they mirror."""
JSON = "application/json"
LocaleQuery = Query(default=None, max_length=35, description="en or de; anything else is English.")


def _api_route(path: str) -> None:
    def document(request: Request, locale: str | None = LocaleQuery) -> Response:
        chosen = locale_of(locale)
        entry = public_cache(request).entry(
            ("api", path, chosen), lambda snapshot: render_document(snapshot, path, chosen)
        )
        return cached_response(request, entry, JSON, max_age=API_MAX_AGE, headers=EMBEDDABLE)

    document.__doc__ = f"Statuspage's ``{path}``, so its widgets and clients read clarion unchanged."
    router.add_api_route(
        f"/api/v2/{path}", document, methods=["GET", "HEAD"], name=f"api_{path}", response_class=Response
    )


for _path in DOCUMENTS:
    _api_route(_path)


def _feed(request: Request, form: FeedFormat, locale: str | None) -> Response:
    chosen = locale_of(locale)
    entry = public_cache(request).entry(
        ("feed", form, chosen), lambda snapshot: render_feed(snapshot, form, chosen)
    )
    return cached_response(request, entry, form.media_type, max_age=API_MAX_AGE, headers=EMBEDDABLE)


@router.api_route("/history.atom", methods=["GET", "HEAD"], response_class=Response)
def history_atom(request: Request, locale: str | None = LocaleQuery) -> Response:
    """Every published update of incidents and maintenance as Atom, newest first."""
    return _feed(request, FeedFormat.ATOM, locale)


@router.api_route("/history.rss", methods=["GET", "HEAD"], response_class=Response)
def history_rss(request: Request, locale: str | None = LocaleQuery) -> Response:
    """The same entries as RSS 2.0."""
    return _feed(request, FeedFormat.RSS, locale)
