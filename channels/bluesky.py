"""Bluesky (AT Protocol): one ``app.bsky.feed.post`` per message, under a record key that makes a
second post impossible.

Setup
-----
1. Sign in as the account that speaks for you, then Settings → Privacy and security → App passwords →
   Add. Never use the account password.
2. Set ``CLARION_BLUESKY_IDENTIFIER`` (the handle, e.g. ``status.example.com``, or the DID) and
   ``CLARION_BLUESKY_APP_PASSWORD``; ``CLARION_BLUESKY_PDS_URL`` only when the account is not hosted
   behind ``https://bsky.social``.
3. With none of them set, clarion posts to the provider sandbox (``CLARION_SANDBOX_URL``) as
   :data:`SANDBOX_IDENTIFIER` with :data:`SANDBOX_APP_PASSWORD`.

Sessions: one ``createSession`` on first use (it is limited to 30 per 5 minutes per account), shared
by every thread; an access token expires after two hours (HTTP 400 ``ExpiredToken``), is refreshed
with ``refreshSession``, and the call is made once more. Limits: text ≤ 300 graphemes and ≤ 3000
UTF-8 bytes, refused before any request; repo writes cost 3 points of 5000 an hour. Links are made
clickable with facets. Duplicates: the record key is a TID computed from the delivery
(:func:`channels.bluesky_post.make_tid`), so a resend of one delivery cannot make a second post.
Threads: a story too long for one post is the post and its replies, each reply under its own record
key and pointing at the thread's root and its parent; a resend looks each post up and posts only the
missing ones, and the reconcile asks for the last one.
The record itself is built in :mod:`channels.bluesky_post`.

Reference: docs.bsky.app (com.atproto.repo.createRecord, getRecord, rate limits) and the lexicons in
``channels/sandbox/schemas/``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Self

import httpx
from pydantic import SecretStr

from channels.base import (
    ChannelAdapter,
    http_error,
    http_url,
    require,
    secret,
    thread_error,
    transport_error,
)
from channels.bluesky_post import POST, make_tid, post_record
from clarion.channel_table import ChannelSpec, Form, Reach
from clarion.errors import (
    ChannelError,
    InDoubt,
    PermanentChannelError,
    TransientChannelError,
)
from clarion.kinds import Channel
from clarion.outbox.port import OutboundMessage, Presence, Reconciled, SendResult
from clarion.settings import Settings
from clarion.updates.limits import BYTES, GRAPHEMES, Limit

SANDBOX_IDENTIFIER: Final = "clarion.sandbox.test"
SANDBOX_APP_PASSWORD: Final = "sand-boxa-ppps-swrd"  # noqa: S105 — the sandbox's, public on purpose
DEFAULT_PDS_URL: Final = "https://bsky.social"

_CREATE_SESSION: Final = "com.atproto.server.createSession"
_REFRESH_SESSION: Final = "com.atproto.server.refreshSession"
_CREATE_RECORD: Final = "com.atproto.repo.createRecord"
_GET_RECORD: Final = "com.atproto.repo.getRecord"

# ── the adapter ───────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class _Session:
    did: str
    access: SecretStr
    refresh: SecretStr


class _SessionFailed(Exception):
    """No session to be had: every remaining message of the batch fails alike, and none was posted."""

    def __init__(self, error: ChannelError) -> None:
        super().__init__(str(error))
        self.error = error


def _adapter(settings: Settings, *, client: httpx.Client, engine: object) -> BlueskyAdapter:
    return BlueskyAdapter.from_settings(settings, client=client)


SPEC: Final = ChannelSpec(
    name="bluesky",
    reach=Reach.BROADCAST,
    form=Form.SHORT,
    fields={"body": "body.txt.j2"},
    thread=4,  # the first post, and a reply for each part it leaves to its pointer
    # app.bsky.feed.post text: maxGraphemes 300 and maxLength 3000 (UTF-8 bytes).
    limits=(Limit("body", GRAPHEMES, 300), Limit("body", BYTES, 3000)),
    adapter=_adapter,
    max_batch=10,  # one message per locale, posted one after another
    requests_per_second=0.45,  # 5000 points an hour, 3 per create
    no_duplicates=True,
    reconcile="looks the deterministic record key up with getRecord",
    settings=("CLARION_BLUESKY_PDS_URL", "CLARION_BLUESKY_IDENTIFIER", "CLARION_BLUESKY_APP_PASSWORD"),
    sandboxed=lambda settings: (
        not (settings.bluesky_pds_url or settings.bluesky_identifier or settings.bluesky_app_password)
    ),
    provider="bluesky",
    sandbox="channels.sandbox.bluesky:router",
)


class BlueskyAdapter(ChannelAdapter):
    """Posts each message as an ``app.bsky.feed.post``; ``provider_id`` is the record's ``at://`` URI."""

    spec = SPEC

    def __init__(
        self,
        *,
        pds_url: str | None,
        identifier: str | None,
        app_password: SecretStr | str | None,
        client: httpx.Client,
        requests_per_second: float | None = None,
    ) -> None:
        super().__init__(requests_per_second=requests_per_second)
        password = secret(app_password)
        require(pds_url, channel=self.channel, setting="CLARION_BLUESKY_PDS_URL")
        require(identifier, channel=self.channel, setting="CLARION_BLUESKY_IDENTIFIER")
        require(password, channel=self.channel, setting="CLARION_BLUESKY_APP_PASSWORD")
        assert pds_url is not None and identifier is not None and password is not None
        self._pds_url = http_url(pds_url, channel=Channel.BLUESKY, setting="CLARION_BLUESKY_PDS_URL")
        self._identifier = identifier
        self._password = password
        self._client = client
        self._lock = threading.Lock()
        self._session: _Session | None = None
        self._session_failures: weakref.WeakSet[ChannelError] = weakref.WeakSet()

    @classmethod
    def from_settings(cls, settings: Settings, *, client: httpx.Client) -> Self:
        """The configured account, or the provider sandbox when no Bluesky setting is given."""
        if settings.bluesky_pds_url or settings.bluesky_identifier or settings.bluesky_app_password:
            return cls(
                pds_url=settings.bluesky_pds_url or DEFAULT_PDS_URL,
                identifier=settings.bluesky_identifier,
                app_password=settings.bluesky_app_password,
                client=client,
            )
        return cls(
            pds_url=settings.sandbox_url,
            identifier=SANDBOX_IDENTIFIER,
            app_password=SANDBOX_APP_PASSWORD,
            client=client,
        )

    def _describe(self) -> str:
        return f"{self._identifier} at {self._pds_url}"

    # ── send ──────────────────────────────────────────────────────────────────────────────────────

    def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Post each message in turn. A rate limit or a failed sign-in ends the batch: the messages
        after it are not tried and carry the same error."""
        return self._send_each(messages, self._post_or_fail)

    def _post_or_fail(self, message: OutboundMessage) -> SendResult:
        try:
            return self._post(message)
        except _SessionFailed as failed:
            self._session_failures.add(failed.error)
            raise failed.error from failed

    def _ends_batch(self, error: ChannelError) -> bool:
        """Also a failed sign-in: no later message can be posted without a session."""
        return error in self._session_failures or super()._ends_batch(error)

    def _post(self, message: OutboundMessage) -> SendResult:
        """Post the message, and its thread's replies in order, each a reply to the one before.

        Every record is built (and so checked) before the first is posted. Each post has its own
        record key (:func:`_rkey`). A resend of a thread looks each post up first and posts only the
        ones that are not there, so a thread cut short by a crash is finished, never doubled."""
        texts = (message.content.text, *message.content.thread)
        records = [
            post_record(text, created_at=message.created_at, locale=message.content.locale) for text in texts
        ]
        root: dict[str, str] | None = None
        parent: dict[str, str] | None = None
        for number, record in enumerate(records, 1):
            if root is not None and parent is not None:
                record = {**record, "reply": {"root": root, "parent": parent}}
            try:
                found = self._find(message, number, texts[number - 1]) if len(texts) > 1 else None
                parent = found or self._create_post(message, number, record)
            except (ChannelError, _SessionFailed) as exc:
                if number == 1:
                    raise
                error = exc.error if isinstance(exc, _SessionFailed) else exc
                raise thread_error(error, number=number, total=len(texts)) from exc
            root = root or parent
        assert root is not None
        return SendResult(message.delivery_id, provider_id=root["uri"])

    def _create_post(self, message: OutboundMessage, number: int, record: dict[str, Any]) -> dict[str, str]:
        """Create post ``number`` of the message; its strong reference (``uri``, ``cid``)."""
        body = {
            "repo": self._current().did,
            "collection": POST,
            "rkey": _rkey(message, number),
            "record": record,
        }
        response = self._authorized(lambda token: self._xrpc("POST", _CREATE_RECORD, token, json=body))
        if response.status_code != 200:
            code, detail = _error_body(response)
            if response.status_code == 500:
                detail += "; the record key may already exist (a resend of this post): reconcile first"
            raise self._error(response, f"createRecord: {detail}", code)
        try:
            answer = response.json()
            ref = {"uri": answer["uri"], "cid": answer["cid"]}
            if not all(isinstance(value, str) for value in ref.values()):
                raise TypeError(ref)
        except (ValueError, KeyError, TypeError) as exc:
            raise InDoubt("post created but the answer is unreadable", channel=self.channel) from exc
        return ref

    def _find(self, message: OutboundMessage, number: int, text: str) -> dict[str, str] | None:
        """Post ``number`` of a thread as the PDS holds it (``uri``, ``cid``), or None when it is
        not there; only on a resend (before the first attempt nothing can be there)."""
        if not message.attempts:
            return None
        found = self._get(_rkey(message, number))
        if found is None:
            return None
        uri, cid, held = found
        if not cid:  # a reply needs the post's cid, which the PDS always gives: ask again later
            raise InDoubt(f"getRecord of post {number} gave no cid to reply to", channel=self.channel)
        if held != text:
            raise PermanentChannelError(
                f"record key {_rkey(message, number)} holds another post ({uri}): TID collision",
                channel=self.channel,
                code="RecordKeyTaken",
            )
        return {"uri": uri, "cid": cid}

    def _get(self, rkey: str) -> tuple[str, str, object] | None:
        """(uri, cid, text) of the post under ``rkey``; None on ``RecordNotFound``."""
        params = {"repo": self._current().did, "collection": POST, "rkey": rkey}
        response = self._authorized(lambda token: self._xrpc("GET", _GET_RECORD, token, params=params))
        code, detail = _error_body(response)
        if response.status_code == 400 and code == "RecordNotFound":
            return None
        if response.status_code != 200:
            raise self._error(response, f"getRecord: {detail}", code)
        try:
            found = response.json()
            uri, cid, text = found["uri"], found.get("cid"), found["value"]["text"]
            if not isinstance(uri, str):
                raise TypeError(uri)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InDoubt("getRecord answer is unreadable", channel=self.channel) from exc
        return uri, cid if isinstance(cid, str) else "", text

    # ── reconcile ─────────────────────────────────────────────────────────────────────────────────

    def reconcile(self, messages: Sequence[OutboundMessage]) -> list[Reconciled]:
        """Look the record key up with ``getRecord``: there → PRESENT, ``RecordNotFound`` → ABSENT.

        A record under the key whose text is not the message's means two deliveries got the same
        TID (same microsecond, same 10-bit clock id): that is raised as permanent, never reported
        as this message's post.
        """
        return self._reconcile_each(messages, self._lookup)

    def _lookup(self, message: OutboundMessage) -> Reconciled:
        """A thread is looked up by its last post (posted last, so the thread is whole when it is
        there); missing, the resend posts what is missing (:meth:`_post`)."""
        texts = (message.content.text, *message.content.thread)
        try:
            found = self._get(_rkey(message, len(texts)))
            if found is None:
                return Reconciled(message.delivery_id, Presence.ABSENT)
            uri, _, text = found
            if text != texts[-1]:
                raise PermanentChannelError(
                    f"record key {_rkey(message, len(texts))} holds another post ({uri}): TID collision",
                    channel=self.channel,
                    code="RecordKeyTaken",
                )
            if len(texts) > 1:
                uri = f"at://{self._current().did}/{POST}/{_rkey(message, 1)}"
        except _SessionFailed as failed:
            raise failed.error from failed
        return Reconciled(message.delivery_id, Presence.PRESENT, provider_id=uri)

    # ── sessions and requests ─────────────────────────────────────────────────────────────────────

    def _xrpc(self, method: str, nsid: str, token: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(
                method, f"{self._pds_url}/xrpc/{nsid}", headers={"Authorization": f"Bearer {token}"}, **kwargs
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, channel=self.channel) from exc

    def _authorized(self, call: Callable[[str], httpx.Response]) -> httpx.Response:
        """``call`` with the session's access token; on ``ExpiredToken``, renew and call once more."""
        session = self._current()
        response = call(session.access.get_secret_value())
        if response.status_code == 400 and _error_body(response)[0] == "ExpiredToken":
            session = self._renew(session)
            response = call(session.access.get_secret_value())
        if response.status_code == 401:
            with self._lock:  # revoked: the next call signs in afresh
                if self._session is session:
                    self._session = None
        return response

    def _current(self) -> _Session:
        with self._lock:
            if self._session is None:
                self._session = self._create()
            return self._session

    def _renew(self, stale: _Session) -> _Session:
        with self._lock:
            if self._session is not None and self._session is not stale:
                return self._session  # another thread renewed it meanwhile
            self._session = None
            self._session = self._refresh(stale) or self._create()
            return self._session

    def _refresh(self, stale: _Session) -> _Session | None:
        """A refreshed session, or None when refreshing failed in any way (then: sign in again)."""
        try:
            response = self._xrpc("POST", _REFRESH_SESSION, stale.refresh.get_secret_value())
            return _parse_session(response) if response.status_code == 200 else None
        except (ChannelError, ValueError, KeyError, TypeError):
            return None

    def _create(self) -> _Session:
        body = {"identifier": self._identifier, "password": self._password.get_secret_value()}
        try:
            response = self._client.post(f"{self._pds_url}/xrpc/{_CREATE_SESSION}", json=body)
        except httpx.TransportError as exc:  # no session, so certainly no post: never in doubt
            error = TransientChannelError(f"createSession: {type(exc).__name__}", channel=self.channel)
            raise _SessionFailed(error) from exc
        if response.status_code != 200:
            code, detail = _error_body(response)
            raise _SessionFailed(self._error(response, f"createSession: {detail}", code, posted=False))
        try:
            return _parse_session(response)
        except (ValueError, KeyError, TypeError) as exc:
            error = TransientChannelError("createSession answer is unreadable", channel=self.channel)
            raise _SessionFailed(error) from exc

    def _error(
        self, response: httpx.Response, message: str, code: str | None, posted: bool = True
    ) -> ChannelError:
        """Map an XRPC error. A token still expired after renewal is worth a later try; a 5xx on a
        call that cannot have posted is transient, not in doubt."""
        status = response.status_code
        if (not posted and status >= 500) or code == "ExpiredToken":
            return TransientChannelError(message, channel=self.channel, status_code=status, code=code)
        return http_error(response, channel=self.channel, message=message, code=code)


# ── helpers (the Mastodon adapter keeps its own copies of the first two) ──────────────────────────────


def _rkey(message: OutboundMessage, number: int) -> str:
    """The record key of post ``number`` (from 1) of ``message``: the first under the delivery's own
    key, each reply a microsecond later under ``<key>/<number>``, so the thread's keys sort in order."""
    if number == 1:
        return make_tid(message.created_at, message.idempotency_key)
    return make_tid(
        message.created_at + timedelta(microseconds=number - 1), f"{message.idempotency_key}/{number}"
    )


def _parse_session(response: httpx.Response) -> _Session:
    data = response.json()
    fields = (data["did"], data["accessJwt"], data["refreshJwt"])
    if not all(isinstance(field, str) and field for field in fields):
        raise TypeError("session fields must be strings")
    return _Session(did=fields[0], access=SecretStr(fields[1]), refresh=SecretStr(fields[2]))


def _error_body(response: httpx.Response) -> tuple[str | None, str]:
    """(``error``, ``message``) of an XRPC error body; the status line when the body is not one."""
    try:
        data = response.json()
    except ValueError:
        data = None
    code, message = (data.get("error"), data.get("message")) if isinstance(data, dict) else (None, None)
    code = code if isinstance(code, str) and code else None
    parts = [part for part in (code, message) if isinstance(part, str) and part]
    return code, ": ".join(parts) or response.reason_phrase or f"HTTP {response.status_code}"
