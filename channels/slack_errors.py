"""How Slack's failures map onto the error tree: Web API codes, HTTP statuses and urllib's errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from http.client import HTTPException
from typing import Any, Final
from urllib.error import URLError

import httpx
from slack_sdk.errors import SlackApiError

from channels.base import http_error, retry_after
from clarion.errors import ChannelError, InDoubt, PermanentChannelError, RateLimited, TransientChannelError
from clarion.kinds import Channel

ERROR_CODE: Final = re.compile(r"[a-z][a-z0-9_]{1,80}")

AUTH_ERRORS: Final = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)
_RATE: Final = frozenset({"ratelimited", "rate_limited"})
_MAYBE_DONE: Final = frozenset({"internal_error", "fatal_error"})  # "some aspect may have succeeded"
_TRY_AGAIN: Final = frozenset({"service_unavailable", "request_timeout"})
_HINTS: Final = {  # what a person can do about it
    "invalid_auth": "check CLARION_SLACK_BOT_TOKEN",
    "token_revoked": "check CLARION_SLACK_BOT_TOKEN",
    "not_in_channel": "the app is not in the channel: /invite it",
    "missing_scope": "the app lacks a scope (see channels.slack Setup)",
    "no_service": "the webhook was removed: make a new one for CLARION_SLACK_WEBHOOKS",
}


def response_headers(headers: Mapping[str, Any] | None) -> dict[str, str]:
    """Once each (the SDK copies Retry-After under two spellings, which httpx would join)."""
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


def said(where: str, code: str | None, status: int) -> str:
    what = code or f"HTTP {status}"
    hint = _HINTS.get(code or "")
    return f"{where}: {what}" + (f" ({hint})" if hint else "")


def api_error(exc: SlackApiError, *, method: str, channel: Channel) -> ChannelError:
    """A Web API failure. Slack answers its own errors ``200 {"ok": false, "error": code}``: those
    are permanent unless the code says otherwise; other statuses go through ``http_error``."""
    response = exc.response
    status = int(response.status_code)
    data = response.data if isinstance(response.data, dict) else {}
    error = data.get("error")
    code = error if isinstance(error, str) and ERROR_CODE.fullmatch(error) else None
    headers = response_headers(response.headers)
    message = said(method, code, status)
    if status != 200:
        return http_error(
            httpx.Response(status, headers=headers), channel=channel, message=message, code=code
        )
    if code in _RATE:
        return RateLimited(
            message, channel=channel, status_code=None, code=code, retry_after=retry_after(headers)
        )
    if code in _MAYBE_DONE:
        return InDoubt(message, channel=channel, code=code)
    if code in _TRY_AGAIN:
        return TransientChannelError(message, channel=channel, code=code)
    return PermanentChannelError(message, channel=channel, code=code)


_BROKEN: Final = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


def transport_error(exc: OSError | HTTPException, *, channel: Channel) -> ChannelError:
    """A urllib failure. urllib raises ``URLError`` while it connects and writes the request: the
    request did not go out (refused, no such host, TLS refused, connect timeout), unless the
    connection broke during the write. Anything else came while waiting for the answer: in doubt."""
    if isinstance(exc, URLError):
        reason = exc.reason
        what = reason if isinstance(reason, str) else type(reason).__name__
        if isinstance(reason, _BROKEN):
            return InDoubt(f"the connection broke while the request went out ({what})", channel=channel)
        return TransientChannelError(f"request not sent ({what})", channel=channel)
    if isinstance(exc, TimeoutError):  # the provider may still be working on it
        return InDoubt("no answer after the request went out (timed out)", channel=channel, in_flight=True)
    return InDoubt(f"no answer after the request went out ({type(exc).__name__})", channel=channel)
