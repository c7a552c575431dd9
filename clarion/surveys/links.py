"""Survey links: one signed token per invitation, of which the store keeps only a hash.

The token is a :mod:`clarion.audiences.signing` token bound to the purpose ``survey`` that names the
invitation and expires with the survey: ``v2.<invite id>.<expires>.<mac>``. It is a pure function of
the key, the invitation and its expiry, so the worker that sends an invitation (or its reminder)
renders the same link however often it retries, and nothing that works as a link is stored: the
invitation row holds the token's SHA-256 (:func:`token_hash`), which a link must match too, so a
token signed for an invitation whose expiry has changed since does not pass.

:func:`open_link` says what a link is worth: :class:`SurveyRefused` with a reason the web app maps
to a page and a status code (garbled or forged: 404, as if the page did not exist; expired: 410),
else the invitation. Whether it was answered already is the caller's business: a second visit shows
the recorded answer, a second post is refused (409).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session

from clarion.audiences.signing import sign, verify
from clarion.errors import InputError, LinkExpired, Problem
from clarion.models import SurveyInvite

PURPOSE = "survey"
SOURCE = "survey link"


class Reason(StrEnum):
    FORGED = "forged"
    """Garbled, forged, tampered with, of another purpose, or naming no invitation (404)."""
    EXPIRED = "expired"
    """Genuine but past the survey's end (410)."""
    ANSWERED = "answered"
    """A second answer through the same link (409): single use."""
    INVALID = "invalid"
    """A form with a value out of range, too long or with control characters (422)."""


STATUS = {
    Reason.FORGED: 404,
    Reason.EXPIRED: 410,
    Reason.ANSWERED: 409,
    Reason.INVALID: 422,
}


class SurveyRefused(InputError):
    """A survey link or answer refused for ``reason``; nothing was stored because of it."""

    def __init__(self, reason: Reason, message: str, problems: list[Problem] | None = None) -> None:
        self.reason = reason
        super().__init__(problems or [Problem(SOURCE, None, reason.value, message)])

    @property
    def status_code(self) -> int:
        return STATUS[self.reason]


def make_token(key: bytes, invite_id: int, *, expires_at: datetime) -> str:
    return sign(key, PURPOSE, [str(invite_id)], expires_at=expires_at)


def token_hash(token: str) -> str:
    """What the store keeps of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/survey/{token}"


def open_link(*, session: Session, key: bytes, token: str, now: datetime) -> SurveyInvite:
    """The invitation ``token`` names; :class:`SurveyRefused` when the link is not one that works."""
    if len(token) > 200 or not token.isascii():
        raise SurveyRefused(Reason.FORGED, "not a survey link")
    try:
        (invite_id,) = verify(key, PURPOSE, token, count=1, now=now, source=SOURCE)
    except LinkExpired as exc:
        raise SurveyRefused(Reason.EXPIRED, str(exc.problems[0].message)) from None
    except InputError:
        raise SurveyRefused(Reason.FORGED, "not a survey link") from None
    if not invite_id.isdigit():
        raise SurveyRefused(Reason.FORGED, "not a survey link")
    invite = session.get(SurveyInvite, int(invite_id))
    if invite is None or not hmac.compare_digest(invite.token_hash, token_hash(token)):
        raise SurveyRefused(Reason.FORGED, "not a survey link")
    return invite
