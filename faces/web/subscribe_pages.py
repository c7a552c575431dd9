"""What the subscription pages share: the reader's language, the form cookie and token, reading a
posted form, rendering a page, and answering a refusal with its page and status code.

Every page of a subscription is personal and carries tokens in its address: answers are
``Cache-Control: no-store`` and ``X-Robots-Tag: noindex`` (the security headers add no referrer).

**Forms** are protected against cross-site posts by a signed double submit
(:func:`clarion.subscriptions.secrets.form_token`): a page that shows a form sets the form cookie when
the reader has none (random, ``HttpOnly``, ``SameSite=Lax``, ``Secure`` and ``__Host-`` prefixed when
the public URL is https) and puts a token signed over it in the form; a post without a cookie, without
a token, or with a token for another cookie is 403 and changes nothing.

A post must be ``application/x-www-form-urlencoded`` (what a browser sends; 415 otherwise), UTF-8 and
at most :data:`MAX_FIELDS` fields (400); its size is bounded before it is read (:mod:`faces.web.limits`).
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec
from urllib.parse import parse_qsl

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlmodel import Session

from clarion import store
from clarion.audiences.unsubscribe import secret_key
from clarion.errors import ConfigError
from clarion.models import utcnow
from clarion.outbox.notices import NoticeRenderer
from clarion.settings import Settings
from clarion.statuspage.components import Catalogue, catalogue_at
from clarion.statuspage.pages import LOCALES, negotiate, render_page
from clarion.statuspage.snapshot import PageInfo
from clarion.subscriptions import notices
from clarion.subscriptions.refusals import Reason, Refused
from clarion.subscriptions.secrets import form_token, form_token_ok

logger = logging.getLogger(__name__)
P = ParamSpec("P")
HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}
MAX_FIELDS = 600
"""Fields a posted form may carry: a few, and a checkbox per component (a catalogue lists at most 500)."""
FORM = "application/x-www-form-urlencoded"
_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")

Form = dict[str, list[str]]


@dataclass(frozen=True)
class Reader:
    """Who is reading, as the pages need it: language, the ``?lang=`` to keep, the form cookie."""

    locale: str
    lang_query: str
    cookie: str
    new_cookie: bool


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def engine_of(request: Request) -> sa.Engine:
    engine: sa.Engine = request.app.state.engine
    return engine


def key_of(request: Request) -> bytes:
    """The signing key, checked on every use: a key file emptied since the start is a 503, never a pass."""
    return secret_key(settings_of(request))


def catalogue_of(request: Request) -> Catalogue:
    return catalogue_at(settings_of(request).components_path)


def renderer_of(request: Request, key: bytes) -> NoticeRenderer:
    """The notice renderer (the workers' own), made once per key."""
    state = request.app.state
    cached: tuple[bytes, NoticeRenderer] | None = getattr(state, "subscription_notices", None)
    if cached is None or cached[0] != key:
        cached = (key, notices.renderer(settings_of(request), key))
        state.subscription_notices = cached
    return cached[1]


def cookie_name(settings: Settings) -> str:
    return "__Host-clarion-form" if settings.public_url.startswith("https://") else "clarion-form"


def reader(request: Request) -> Reader:
    chosen = request.query_params.get("lang")
    if chosen in LOCALES:
        locale, lang_query = chosen, f"?lang={chosen}"
    else:
        locale, lang_query = negotiate(request.headers.get("accept-language", "")), ""
    cookie = request.cookies.get(cookie_name(settings_of(request)), "")
    if _COOKIE_VALUE.match(cookie):
        return Reader(locale, lang_query, cookie, new_cookie=False)
    return Reader(locale, lang_query, secrets.token_urlsafe(32), new_cookie=True)


def page(
    request: Request,
    who: Reader,
    template: str,
    *,
    status_code: int = 200,
    folder: str = "subscribe",
    current: str = "subscribe",
    **context: Any,
) -> HTMLResponse:
    """Render ``<folder>/<template>`` in the reader's language, with a fresh form token (and the form
    cookie when the reader has none); ``current`` is the navigation entry to mark."""
    settings = settings_of(request)
    body = render_page(
        f"{folder}/{template}",
        locale=who.locale,
        page=PageInfo.of(settings.public_url, settings.public_time_zone),
        lang_query=who.lang_query,
        current=current,
        csrf=form_token(key_of(request), who.cookie, now=utcnow()),
        **context,
    )
    response = HTMLResponse(body, status_code=status_code, headers=HEADERS)
    if who.new_cookie:
        response.set_cookie(
            cookie_name(settings),
            who.cookie,
            httponly=True,
            samesite="lax",
            secure=settings.public_url.startswith("https://"),
            path="/",
        )
    return response


def refusal(request: Request, who: Reader, refused: Refused) -> HTMLResponse:
    """The page of a refused link, code or request, with its status code (and ``Retry-After``)."""
    response = page(
        request, who, "refused.html.j2", status_code=refused.status_code, reason=refused.reason.value
    )
    if refused.reason is Reason.TOO_MANY:
        response.headers["Retry-After"] = str(refused.retry_after)
    return response


def problem(request: Request, who: Reader, name: str, status_code: int) -> HTMLResponse:
    """A page for a request that is wrong in itself (``form-expired`` 403, ``not-a-form`` 400/415)."""
    return page(request, who, "refused.html.j2", status_code=status_code, reason=name)


def see_other(url: str) -> Response:
    """After a post that changed something: the browser fetches the answer (a reload posts nothing)."""
    return RedirectResponse(url, status_code=303, headers=HEADERS)


async def read_form(
    request: Request,
    who: Reader,
    *,
    max_fields: int = MAX_FIELDS,
    problem: Callable[[Request, Reader, str, int], HTMLResponse] = problem,
) -> Form | HTMLResponse:
    """The posted fields, once the form's token checks out; else the page ``problem`` makes saying why
    (nothing done)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM:
        return problem(request, who, "not-a-form", 415)
    raw = await request.body()
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError):
        return problem(request, who, "not-a-form", 400)
    form: Form = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    token = first(form, "csrf")
    if who.new_cookie or not form_token_ok(key_of(request), token, who.cookie, now=utcnow()):
        return problem(request, who, "form-expired", 403)
    return form


def first(form: Form, name: str) -> str:
    values = form.get(name)
    return values[0] if values else ""


def client_of(request: Request) -> str:
    """The client's IP address as the server sees it. Behind a reverse proxy every request comes from
    the proxy: run the server with ``--proxy-headers --forwarded-allow-ips=<the proxy>`` so that this
    is the client's own, or the per-client limit counts everyone together."""
    return request.client.host if request.client is not None else "unknown"


def answers_unavailable(route: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
    """A signing key that became unfit since the start (a key file emptied or cut short) is a 503:
    no link is made or believed with a key anyone could guess."""

    @functools.wraps(route)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return await route(*args, **kwargs)
        except ConfigError as exc:
            logger.error("subscriptions unavailable: %s", exc)
            return PlainTextResponse(
                "Subscriptions are unavailable right now.\n", status_code=503, headers=HEADERS
            )

    return guarded


@contextmanager
def reading(engine: sa.Engine) -> Iterator[Session]:
    """A session that only reads (on SQLite it neither waits for writers nor holds them up)."""
    with store.reading(engine) as connection, Session(bind=connection) as session:
        yield session


def section_view(catalogue: Catalogue) -> list[dict[str, Any]]:
    return [{"group": section.group, "components": section.components} for section in catalogue.sections()]
