"""The secrets of subscriptions, all derived from the signing key: links, codes, form tokens, digests.

Links are :mod:`clarion.audiences.signing` tokens, each bound to its own purpose (a manage link never passes
as a confirmation link) and expiring:

* the **confirmation link** names the confirmation and expires with it (:data:`CONFIRM_TTL`);
* the **code page** link names the confirmation an SMS code was sent for (:data:`CODE_TTL`);
* the **manage link** names the subscriber and its *generation*, bumped whenever a subscription
  starts or ends, so the link of an ended subscription stops working (:data:`MANAGE_TTL`).

A token is a pure function of the key and what it names (its expiry included), so the worker that
sends a notice renders the same link however often it retries, and nothing that works as a link is
ever stored. The **SMS code** is derived the same way (:func:`sms_code`: six digits of an HMAC of the
confirmation's id), so a copy of the store without the key gives no code away either.

**Form tokens** protect every form against cross-site posts (double submit, signed): the page sets a
random cookie and puts a token signed over the cookie's value in the form; a post is accepted only
when the token is genuine, unexpired and names the cookie that came with it. Another site can make a
browser post, but can neither read the cookie nor sign a token for it.

**Digests** (:func:`keyed_digest`) stand for an address or a client's IP address where one must be
counted or recorded without being kept (rate limits, audit details): keyed, so a short input such as
an IPv4 address cannot be recovered by trying them all.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from clarion.audiences.signing import sign, verify
from clarion.errors import InputError, LinkExpired
from clarion.subscriptions.refusals import Reason, Refused

CONFIRM_TTL = timedelta(hours=24)
"""How long an email's confirmation link works."""
CODE_TTL = timedelta(minutes=15)
"""How long an SMS code (and its page) works."""
MANAGE_TTL = timedelta(days=365)
"""How long a manage link works after it was made (a new one comes with every confirmation)."""
FORM_TTL = timedelta(hours=2)
"""How long a form may stay open before it must be loaded again."""
CODE_DIGITS = 6
MAX_CODE_ATTEMPTS = 5
"""Wrong codes before a confirmation is spent (a new request sends a new code)."""

_CONFIRM, _CODE_PAGE, _MANAGE, _FORM = (
    "subscription-confirm",
    "subscription-code",
    "subscription-manage",
    "subscription-form",
)


def _number(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise Refused(Reason.FORGED, "names nothing")
    return int(text)


def _read(key: bytes, purpose: str, token: str, *, count: int, now: datetime) -> list[str]:
    try:
        return verify(key, purpose, token, count=count, now=now, source="subscription link")
    except LinkExpired as exc:
        raise Refused(Reason.EXPIRED, f"the link expired on {exc.expired_at:%Y-%m-%d %H:%M} UTC") from None
    except InputError:
        raise Refused(Reason.FORGED, "not a valid link") from None


def confirm_token(key: bytes, confirmation_id: int, *, expires_at: datetime) -> str:
    return sign(key, _CONFIRM, [str(confirmation_id)], expires_at=expires_at)


def read_confirm_token(key: bytes, token: str, *, now: datetime) -> int:
    """The confirmation a genuine, unexpired link names; :class:`Refused` (forged, expired) otherwise."""
    (confirmation,) = _read(key, _CONFIRM, token, count=1, now=now)
    return _number(confirmation)


def code_page_token(key: bytes, confirmation_id: int, *, expires_at: datetime) -> str:
    return sign(key, _CODE_PAGE, [str(confirmation_id)], expires_at=expires_at)


def read_code_page_token(key: bytes, token: str, *, now: datetime) -> int:
    (confirmation,) = _read(key, _CODE_PAGE, token, count=1, now=now)
    return _number(confirmation)


def manage_token(key: bytes, subscriber_id: int, generation: int, *, expires_at: datetime) -> str:
    return sign(key, _MANAGE, [str(subscriber_id), str(generation)], expires_at=expires_at)


def read_manage_token(key: bytes, token: str, *, now: datetime) -> tuple[int, int]:
    """(subscriber, generation) a genuine, unexpired manage link names."""
    subscriber, generation = _read(key, _MANAGE, token, count=2, now=now)
    return _number(subscriber), _number(generation)


def sms_code(key: bytes, confirmation_id: int) -> str:
    """The code sent for a confirmation: :data:`CODE_DIGITS` digits of an HMAC of its id."""
    digest = hmac.new(key, f"clarion sms-code\x00{confirmation_id}".encode(), hashlib.sha256).digest()
    return str(int.from_bytes(digest[:8], "big") % 10**CODE_DIGITS).zfill(CODE_DIGITS)


def code_matches(key: bytes, confirmation_id: int, typed: str) -> bool:
    """Whether ``typed`` (spaces and dashes ignored) is the confirmation's code; constant time."""
    cleaned = "".join(ch for ch in typed if ch not in " -")[:32]
    return hmac.compare_digest(cleaned.encode(), sms_code(key, confirmation_id).encode())


def _cookie_digest(cookie: str) -> str:
    """What a form token names of its cookie: a digest, so the page never shows the cookie itself."""
    return hashlib.blake2b(cookie.encode(), digest_size=16, person=b"clarion-form").hexdigest()


def form_token(key: bytes, cookie: str, *, now: datetime) -> str:
    """The token a form carries, signed over (a digest of) the value of the reader's form cookie."""
    return sign(key, _FORM, [_cookie_digest(cookie)], expires_at=now + FORM_TTL)


def form_token_ok(key: bytes, token: str, cookie: str | None, *, now: datetime) -> bool:
    """Whether a posted form's token is genuine, unexpired, and names the cookie that came with it."""
    if not cookie or not token:
        return False
    try:
        (named,) = verify(key, _FORM, token, count=1, now=now, source="form")
    except InputError:
        return False
    return hmac.compare_digest(named.encode(), _cookie_digest(cookie).encode())


def keyed_digest(key: bytes, purpose: str, text: str) -> str:
    """32 hex digits standing for ``text`` (an address, an IP address) in records that must not hold it."""
    return hashlib.blake2b(
        text.encode(), key=hashlib.sha256(key).digest(), person=purpose.encode()[:16]
    ).hexdigest()[:32]
