"""``/embed/banner``: the in-app banner as a small page, for sites that frame it instead of running
``banner.js`` (a site whose Content-Security-Policy forbids third-party scripts or inline styles).

Framing is refused everywhere else in the app (``frame-ancestors 'none'``, ``X-Frame-Options:
DENY``). This page alone may be framed, and only by the origins in ``CLARION_EMBED_ORIGINS``; with
none set it is framed nowhere either. It is plain HTML with our stylesheet, no script: it reloads
itself every minute (``<meta http-equiv="refresh">``) to pick up a new banner, and answers 304 to a
frame that has the current one. Like the feed it holds only published banners, no personal data.
"""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Query, Request, Response

from clarion.models import utcnow
from clarion.settings import Settings
from clarion.statuspage.pages import LOCALES, negotiate, render_page
from faces.web.feeds import BANNER_FIELDS, FEED_MAX_AGE, showing
from faces.web.public_cache import Entry, cached_response

router = APIRouter()
REFRESH_SECONDS = 60


def embed_policy(settings: Settings) -> str:
    """The page's CSP: our stylesheet only, and framing by the configured origins (else nobody)."""
    ancestors = " ".join(settings.embed_origins) or "'none'"
    return (
        "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; "
        f"frame-ancestors {ancestors}"
    )


@router.api_route("/embed/banner", methods=["GET", "HEAD"])
def embed_banner(
    request: Request,
    audience: str | None = Query(default=None, max_length=200),
    locale: str | None = Query(default=None, max_length=35),
) -> Response:
    """The banners showing now for ``audience``, in ``locale`` (else the reader's language)."""
    settings: Settings = request.app.state.settings
    rows = showing(request.app.state.engine, utcnow(), audience=audience, locale=locale)
    language = locale if locale in LOCALES else negotiate(request.headers.get("accept-language", ""))
    banners = []
    for row in rows:
        item = dict(zip(BANNER_FIELDS, row, strict=True))
        link = str(item["link"] or "")
        banners.append(
            {
                "text": item["text"],
                "link": link if link.startswith(("https://", "http://")) else None,
                "severity": item["severity"] if item["severity"] in ("sev1", "sev2") else "other",
            }
        )
    body = render_page("embed_banner.html.j2", locale=language, banners=banners, refresh=REFRESH_SECONDS)
    entry = Entry(body, '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"')
    headers = {
        "Content-Security-Policy": embed_policy(settings),
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    return cached_response(
        request,
        entry,
        "text/html; charset=utf-8",
        max_age=FEED_MAX_AGE,
        vary="Accept-Language",
        headers=headers,
    )
