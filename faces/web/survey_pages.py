"""What the survey pages share: the reader's language, rendering a page, reading a posted form, the
refusal pages, and the tagger and notice renderer the answers need.

A survey page is personal and its address carries the invitation's token: answers are
``Cache-Control: no-store`` and ``X-Robots-Tag: noindex`` (the security headers add no referrer, so
the token does not leak to the status page it links to). The page speaks the invitation's language
(the one its message was written in) unless ``?lang=`` picks another; a link that names no
invitation speaks what the browser asks for.

Forms use the subscription pages' signed double submit (:mod:`faces.web.subscribe_pages`): the same
form cookie, a token signed over it in the form; a post without it, or with a token for another
cookie, is 403 and stores nothing. A post must be ``application/x-www-form-urlencoded`` (415
otherwise), UTF-8 (400), and fit its body limit (:data:`faces.web.limits.SURVEY_FORM_MAX_BYTES`, 413).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ParamSpec

from fastapi import Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from clarion.errors import ConfigError, PlaybookError, RenderError, TemplateError
from clarion.outbox.notices import NoticeRenderer
from clarion.statuspage.pages import DEFAULT_LOCALE, LOCALES
from clarion.surveys.links import SurveyRefused
from faces.web import subscribe_pages as pages
from faces.web.subscribe_pages import HEADERS, Form, Reader, reader, settings_of

if TYPE_CHECKING:
    from clarion.surveys.signals import Tagger

logger = logging.getLogger(__name__)
P = ParamSpec("P")
MAX_FIELDS = 20
"""Fields a survey form may carry: eight, and room for a browser that repeats one."""
UNAVAILABLE = (ConfigError, PlaybookError, TemplateError, RenderError)
"""What makes surveys unusable until someone fixes the set-up: a signing key that became unfit, an
incident's playbook that no longer loads, a follow-up notice that does not render."""


def survey_reader(request: Request, locale: str | None) -> Reader:
    """The reader of an invitation in ``locale``: that language unless ``?lang=`` chose another
    (``de-AT`` reads German; a language the pages do not speak, English). Without an invitation
    (``None``), what the browser asks for."""
    who = reader(request)
    if locale is None or who.lang_query:
        return who
    language = locale.split("-")[0].lower()
    return replace(who, locale=language if language in LOCALES else DEFAULT_LOCALE)


def page(
    request: Request, who: Reader, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render ``survey/<template>`` in the reader's language, with a fresh form token."""
    return pages.page(request, who, template, status_code=status_code, folder="survey", current="", **context)


def refusal(request: Request, who: Reader, refused: SurveyRefused) -> HTMLResponse:
    """The page of a link or post refused for a reason, with its status code; nothing more is said
    (a forged link and one naming no invitation read the same)."""
    return page(request, who, "refused.html.j2", status_code=refused.status_code, reason=refused.reason.value)


def problem(request: Request, who: Reader, name: str, status_code: int) -> HTMLResponse:
    """A page for a post that is wrong in itself (``form-expired`` 403, ``not-a-form`` 400/415)."""
    return page(request, who, "refused.html.j2", status_code=status_code, reason=name)


async def read_form(request: Request, who: Reader) -> Form | HTMLResponse:
    """The posted fields, once the form's token checks out; else the page saying why (nothing done)."""
    return await pages.read_form(request, who, max_fields=MAX_FIELDS, problem=problem)


def unavailable(route: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
    """A set-up that became unusable (:data:`UNAVAILABLE`) is a 503 and a log line, never a pass:
    no link is believed with a key anyone could guess, and an answer whose follow-up cannot be
    told to anyone is not stored (the transaction rolls back; the person may send it again)."""

    @functools.wraps(route)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return await route(*args, **kwargs)
        except UNAVAILABLE as exc:
            logger.error("surveys unavailable: %s", exc)
            return PlainTextResponse("Surveys are unavailable right now.\n", status_code=503, headers=HEADERS)

    return guarded


def tagger_of(request: Request) -> Tagger:
    """The trust-signal tagger (``app.state.survey_tagger``), loaded from the settings on first use."""
    state = request.app.state
    tagger: Tagger | None = getattr(state, "survey_tagger", None)
    if tagger is None:
        from clarion.surveys.signals import load_tagger

        tagger = load_tagger(settings_of(request).survey_tagger)
        state.survey_tagger = tagger
    return tagger


def notices_of(request: Request, key: bytes) -> NoticeRenderer:
    """The survey notices' renderer (the check before a follow-up notice is staged), once per key."""
    from clarion.surveys import notices

    state = request.app.state
    cached: tuple[bytes, NoticeRenderer] | None = getattr(state, "survey_notices", None)
    if cached is None or cached[0] != key:
        cached = (key, notices.renderer(settings_of(request), key))
        state.survey_notices = cached
    return cached[1]
