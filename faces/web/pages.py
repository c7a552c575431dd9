"""The status page's HTML: ``/``, ``/incidents/{reference}``, ``/history`` and ``/history/page/{n}``.

The pages themselves are rendered in the domain (:mod:`clarion.statuspage.site`) from the cached
snapshot, so this module only chooses the language, asks the cache and answers:

* **Language.** ``?lang=`` naming one of :data:`~clarion.statuspage.pages.LOCALES` wins (and the
  page's links keep it: ``lang_query``), else the best of ``Accept-Language``, else English. Each
  response says ``Vary: Accept-Language`` so a CDN keeps one copy per language.
* **Caching.** Each document is built once per snapshot and language
  (:meth:`~faces.web.public_cache.PublicCache.entry`) and served with an ETag, ``Cache-Control`` and
  304s (:func:`~faces.web.public_cache.cached_response`), so a crowd reloading during an incident
  costs one render per publication.
* **Not found.** An address naming no published incident (or a malformed reference, or a history
  page past the last) is a 404 page in the reader's language, marked ``no-cache``: the incident
  may be published a minute later, and a CDN must not keep the 404.

Paths, not query strings, name history pages, so the static export can write each as a file.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from clarion.statuspage.pages import LOCALES, negotiate
from clarion.statuspage.site import (
    REFERENCE,
    render_history,
    render_home,
    render_incident,
    render_not_found,
)
from clarion.statuspage.snapshot import Snapshot
from faces.web.public_cache import cached_response, public_cache

router = APIRouter(tags=["status page"])

HTML = "text/html; charset=utf-8"
_PAGE_NUMBER = re.compile(r"^[1-9]\d{0,5}$")


def choose_locale(request: Request) -> tuple[str, str]:
    """(locale, lang_query): ``?lang=`` when it names a language the page speaks, else the header's."""
    asked = request.query_params.get("lang", "")
    if asked in LOCALES:
        return asked, f"?lang={asked}"
    return negotiate(request.headers.get("accept-language", "")), ""


class _Missing(Exception):
    """Raised inside a build so the cache stores nothing for an address that names no page."""


def _not_found(request: Request, locale: str, lang_query: str) -> Response:
    entry = public_cache(request).entry(
        ("page", "not-found", locale, lang_query), lambda s: render_not_found(s, locale, lang_query)
    )
    headers = {"Cache-Control": "no-cache", "Vary": "Accept-Language"}
    return Response(entry.body, status_code=404, media_type=HTML, headers=headers)


def _serve(
    request: Request, key: tuple[str, ...], build: Callable[[Snapshot, str, str], bytes | None]
) -> Response:
    """The document ``build`` makes from the current snapshot, cached per key and language; the
    not-found page when ``build`` says there is no such page (None), which is never cached."""
    locale, lang_query = choose_locale(request)

    def built(snapshot: Snapshot) -> bytes:
        body = build(snapshot, locale, lang_query)
        if body is None:
            raise _Missing
        return body

    try:
        entry = public_cache(request).entry(("page", *key, locale, lang_query), built)
    except _Missing:
        return _not_found(request, locale, lang_query)
    return cached_response(request, entry, HTML, vary="Accept-Language")


@router.api_route("/", methods=["GET", "HEAD"])
def home(request: Request) -> Response:
    return _serve(request, ("home",), render_home)


@router.api_route("/incidents/{reference}", methods=["GET", "HEAD"])
def incident(request: Request, reference: str) -> Response:
    if not REFERENCE.match(reference):
        return _not_found(request, *choose_locale(request))
    return _serve(
        request,
        ("incident", reference),
        lambda snapshot, locale, lang: render_incident(snapshot, reference, locale, lang),
    )


@router.api_route("/history", methods=["GET", "HEAD"])
def history(request: Request) -> Response:
    return _serve(request, ("history", "1"), lambda s, locale, lang: render_history(s, 1, locale, lang))


@router.api_route("/history/page/{number}", methods=["GET", "HEAD"])
def history_page(request: Request, number: str) -> Response:
    if not _PAGE_NUMBER.match(number):
        return _not_found(request, *choose_locale(request))
    if number == "1":  # one address per page: the first is /history
        _locale, lang_query = choose_locale(request)
        return RedirectResponse("/history" + lang_query, status_code=308)
    page = int(number)
    return _serve(request, ("history", number), lambda s, locale, lang: render_history(s, page, locale, lang))
