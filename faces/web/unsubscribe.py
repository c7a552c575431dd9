"""Unsubscribe links: RFC 8058 one-click by POST, and a confirmation page by GET.

``POST /unsubscribe/{token}``
    What a mailbox provider sends for ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (body
    ``List-Unsubscribe=One-Click``, form-encoded or multipart, no cookies, no authentication), and what
    the confirmation page's button sends. The signed token (:mod:`clarion.audiences.unsubscribe`) is the only
    credential: it names the recipient and the channel, and its consent on that channel is withdrawn
    (audited as ``consent.withdrawn`` by actor ``recipient``). The body is not inspected: a POST is
    already something link scanners do not do, and a provider that words the body differently must
    still be honoured. Idempotent: a second POST answers the same and writes no second audit entry.
    A forged or garbled token (or one of the old unversioned form) is 400; a genuine token past its
    expiry (:data:`clarion.audiences.unsubscribe.UNSUBSCRIBE_TTL`, 90 days) is 410, and its page tells how to
    unsubscribe otherwise (reply to the message, or write to the sender address). A signing key that
    turned unfit since the app started (the key file truncated or edited) is 503, never a pass.

``GET /unsubscribe/{token}``
    A small page with a button that POSTs to the same URL. It never unsubscribes: mail scanners and
    link previews follow links, and the recipient must not lose messages because of them.

Responses are not cached, not indexed and send no referrer (the token is in the URL).
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse
from sqlmodel import Session

from clarion.audiences import consent
from clarion.audiences.unsubscribe import UNSUBSCRIBE_TTL, read_token, secret_key
from clarion.errors import ConfigError, InputError, LinkExpired
from clarion.kinds import Channel
from clarion.models import Recipient, utcnow
from clarion.settings import Settings
from clarion.store import session_scope

router = APIRouter(tags=["unsubscribe"])
logger = logging.getLogger(__name__)

SOURCE = "unsubscribe"
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'",
}
_CHANNEL_WORDS = {Channel.EMAIL: "incident emails", Channel.SMS: "incident text messages"}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _engine(request: Request) -> sa.Engine:
    engine: sa.Engine = request.app.state.engine
    return engine


@dataclass(frozen=True)
class _Refusal:
    """Why a token names nobody: the status, the page's title and what to do instead."""

    status_code: int
    title: str
    message: str


def _otherwise(settings: Settings) -> str:
    return f"reply to one of the messages, or write to {settings.email_from}"


def _read(request: Request, token: str) -> tuple[int, Channel] | _Refusal:
    """The recipient and channel of a genuine, unexpired token, or why it is refused.

    The key is checked on every verification: a key file emptied or cut short since the start
    refuses every link (503) instead of verifying against a key anyone can guess.
    """
    settings = _settings(request)
    try:
        return read_token(secret_key(settings), token, now=utcnow())
    except LinkExpired as exc:
        return _Refusal(
            410,
            "Link expired",
            f"This unsubscribe link expired on {exc.expired_at:%Y-%m-%d} (links work for "
            f"{UNSUBSCRIBE_TTL.days} days). To unsubscribe, {_otherwise(settings)}.",
        )
    except InputError:
        return _Refusal(
            400,
            "Invalid link",
            f"This unsubscribe link is not valid. To unsubscribe, {_otherwise(settings)}.",
        )
    except ConfigError as exc:
        logger.error("unsubscribe links cannot be verified: %s", exc)
        return _Refusal(
            503,
            "Unsubscribe unavailable",
            f"Unsubscribing by link is unavailable right now. To unsubscribe, {_otherwise(settings)}.",
        )


def _words(channel: Channel) -> str:
    return _CHANNEL_WORDS.get(channel, f"incident messages ({channel.value})")


def _page(title: str, body: str, *, status_code: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title>'
        '<link rel="stylesheet" href="/static/status.css">'  # the status page's, with main.narrow
        f'</head>\n<body><main class="narrow"><h1>{html.escape(title)}</h1>\n{body}\n</main></body>'
        "</html>\n"
    )
    return HTMLResponse(document, status_code=status_code, headers=_HEADERS)


def _text(message: str, *, status_code: int = 200) -> PlainTextResponse:
    return PlainTextResponse(message + "\n", status_code=status_code, headers=_HEADERS)


def _known(session: Session, recipient_id: int) -> bool:
    return session.get(Recipient, recipient_id) is not None


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
    """The confirmation page. Reads only: following the link changes nothing."""
    named = _read(request, token)
    if isinstance(named, _Refusal):
        return _page(named.title, f"<p>{html.escape(named.message)}</p>", status_code=named.status_code)
    recipient_id, channel = named
    words = html.escape(_words(channel))
    with session_scope(_engine(request)) as session:
        if not _known(session, recipient_id):
            return _page("Unknown link", "<p>This unsubscribe link is no longer valid.</p>", status_code=404)
        done = consent.has_withdrawn(session=session, recipient_id=recipient_id, channel=channel)
    if done:
        return _page("Unsubscribed", f"<p>You are unsubscribed from {words}.</p>")
    form = (
        f"<p>Stop receiving {words}?</p>\n"
        '<form method="post">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
    )
    return _page("Unsubscribe", form)


@router.post("/unsubscribe/{token}")
def unsubscribe(token: str, request: Request) -> Response:
    """RFC 8058 one-click: withdraw consent on the channel the token names. A mailbox provider gets
    one line of text; a person who pressed the page's button (a browser asking for HTML) a page."""
    answer = _answer_page if "text/html" in request.headers.get("accept", "") else _answer_text
    named = _read(request, token)
    if isinstance(named, _Refusal):
        return answer(named.title, named.message, status_code=named.status_code)
    recipient_id, channel = named
    with session_scope(_engine(request)) as session:
        if not _known(session, recipient_id):
            return answer("Unknown link", "This unsubscribe link is no longer valid.", status_code=404)
        consent.withdraw(
            session=session, recipient_id=recipient_id, channel=channel, source=SOURCE, at=utcnow()
        )
    return answer("Unsubscribed", f"You are unsubscribed from {_words(channel)}.")


def _answer_text(title: str, message: str, *, status_code: int = 200) -> Response:
    return _text(message, status_code=status_code)


def _answer_page(title: str, message: str, *, status_code: int = 200) -> Response:
    return _page(title, f"<p>{html.escape(message)}</p>", status_code=status_code)
