"""SMS through Twilio Programmable Messaging: one ``POST .../Messages.json`` per message.

Setup
-----
* ``CLARION_TWILIO_ACCOUNT_SID`` (``AC…``) and ``CLARION_TWILIO_AUTH_TOKEN`` (Twilio Console → Account
  Info). Set both or neither: without them clarion talks to the provider sandbox at
  ``CLARION_SANDBOX_URL`` with :data:`SANDBOX_ACCOUNT_SID` / :data:`SANDBOX_AUTH_TOKEN`.
* The sender: ``CLARION_TWILIO_MESSAGING_SERVICE_SID`` (``MG…``, preferred: sender pool, opt-out
  handling) or ``CLARION_TWILIO_FROM_NUMBER`` (E.164, a short code or an alphanumeric sender ID).
  One of them is required with real credentials; the sandbox defaults to :data:`SANDBOX_FROM_NUMBER`.
* Delivery status comes back to ``{CLARION_PUBLIC_URL}/webhooks/twilio/status`` when the public URL is
  http(s) with a host name (Twilio must be able to reach it).
* ``ValidityPeriod`` defaults to 4 hours (Twilio: 10): stale crisis instructions must not arrive late.

Recipients must be numbers with their country code; each is checked and written as E.164 with
``phonenumbers`` before any request. Twilio answers ``21610`` when the recipient replied STOP; the
adapter reports that code and the engine withdraws SMS consent.

Reconciliation
--------------
Twilio has no idempotency key for messages, but it can list them: :meth:`SmsAdapter.reconcile` looks
for a message to the same number, with the same body and sender, created since the row's *first*
attempt (``first_attempt_at``): any earlier attempt of the row may be the one that arrived, so the
search never starts at a later claim.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Self
from urllib.parse import urlsplit

import httpx
import phonenumbers
from pydantic import SecretStr

from channels.base import ChannelAdapter, http_error, http_url, require, retry_after, transport_error
from clarion.channel_table import ChannelSpec, Form, Reach
from clarion.errors import (
    ChannelError,
    ConfigError,
    InDoubt,
    PermanentChannelError,
    RateLimited,
    RecipientOptedOut,
    TransientChannelError,
)
from clarion.kinds import Channel
from clarion.outbox.port import OutboundMessage, Presence, Reconciled, SendResult
from clarion.settings import Settings
from clarion.updates.limits import CONFIGURED, SEGMENTS, Limit

SANDBOX_ACCOUNT_SID: Final = "AC" + "0" * 32
SANDBOX_AUTH_TOKEN: Final = "sandbox-auth-token"  # noqa: S105 — the sandbox's public test credential
SANDBOX_FROM_NUMBER: Final = "+15005550006"
"""Twilio's own test ``From`` number; used against the sandbox when no sender is configured."""
DEFAULT_VALIDITY_PERIOD = 14_400
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
CLOCK_SKEW = timedelta(minutes=1)

OPTED_OUT: Final = "21610"
"""The error code of a recipient who replied STOP to this sender (the engine withdraws consent)."""
RATE_LIMITED: Final = "20429"  # too many concurrent requests: never processed, always safe to retry

_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")


def _checked_number(address: str) -> str:
    """The number in E.164, or ValueError."""
    number = e164(address)
    if number is None:
        raise ValueError(f"{address!r} is not a valid phone number with its country code (E.164)")
    return number


def _adapter(settings: Settings, *, client: httpx.Client, engine: object) -> SmsAdapter:
    return SmsAdapter.from_settings(settings, client=client)


SPEC: Final = ChannelSpec(
    name="sms",
    reach=Reach.PERSONAL,
    address="phone",
    form=Form.SHORT,
    fields={"body": "body.txt.j2"},
    one_line=True,
    limits=(Limit("body", SEGMENTS, CONFIGURED),),  # CLARION_SMS_MAX_SEGMENTS, or the playbook's
    adapter=_adapter,
    max_batch=50,
    no_duplicates=True,
    reconcile="lists the recipient's messages sent since the attempt and matches the body",
    settings=(
        "CLARION_TWILIO_ACCOUNT_SID",
        "CLARION_TWILIO_AUTH_TOKEN",
        "CLARION_TWILIO_MESSAGING_SERVICE_SID",
        "CLARION_TWILIO_FROM_NUMBER",
        "CLARION_TWILIO_BASE_URL",
        "CLARION_SMS_MAX_SEGMENTS",
    ),
    sandboxed=lambda settings: settings.twilio_account_sid is None and settings.twilio_auth_token is None,
    check_address=lambda address: _checked_number(address),
    provider="twilio",
    sandbox="channels.sandbox.twilio:router",
)


class SmsAdapter(ChannelAdapter):
    """Twilio ``Messages.json``: sends one by one, reconciles by listing messages."""

    spec = SPEC

    def __init__(
        self,
        *,
        client: httpx.Client,
        account_sid: str,
        auth_token: SecretStr,
        messaging_service_sid: str | None = None,
        from_number: str | None = None,
        base_url: str = "https://api.twilio.com",
        status_callback: str | None = None,
        validity_period: int = DEFAULT_VALIDITY_PERIOD,
        requests_per_second: float | None = None,
    ) -> None:
        super().__init__(requests_per_second=requests_per_second)
        require(account_sid, channel=self.channel, setting="twilio_account_sid")
        if not _ACCOUNT_SID.fullmatch(account_sid):
            raise ConfigError(f"{self.channel}: twilio_account_sid must be AC and 32 hex digits")
        require(auth_token.get_secret_value(), channel=self.channel, setting="twilio_auth_token")
        if messaging_service_sid and not _SERVICE_SID.fullmatch(messaging_service_sid):
            raise ConfigError(f"{self.channel}: twilio_messaging_service_sid must be MG and 32 hex digits")
        if not (messaging_service_sid or from_number):
            raise ConfigError(
                f"{self.channel}: twilio_messaging_service_sid or twilio_from_number is not set"
            )
        if from_number and from_number.startswith("+"):
            from_number = e164(from_number)
            if from_number is None:
                raise ConfigError(f"{self.channel}: twilio_from_number is not a valid phone number")
        if not 1 <= validity_period <= 36_000:
            raise ConfigError(f"{self.channel}: validity_period must be 1 to 36000 seconds")
        if status_callback is not None and not _callback_url_ok(status_callback):
            raise ConfigError(f"{self.channel}: status callback {status_callback!r} needs http(s) and a host")
        self.base_url = http_url(base_url, channel=Channel.SMS, setting="twilio_base_url")
        self.account_sid = account_sid
        self._messages_url = f"{self.base_url}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = httpx.BasicAuth(account_sid, auth_token.get_secret_value())
        self.messaging_service_sid, self.from_number = messaging_service_sid or None, from_number or None
        self.status_callback, self.validity_period = status_callback, validity_period
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings, *, client: httpx.Client) -> Self:
        """Real credentials when both Twilio settings are set, else the provider sandbox."""
        sid, token = settings.twilio_account_sid, settings.twilio_auth_token
        if sid is None and token is None:
            sid, token = SANDBOX_ACCOUNT_SID, SecretStr(SANDBOX_AUTH_TOKEN)
            base_url = http_url(settings.sandbox_url, channel=Channel.SMS, setting="sandbox_url")
            service = settings.twilio_messaging_service_sid
            from_number = settings.twilio_from_number or (None if service else SANDBOX_FROM_NUMBER)
        else:
            require(sid, channel=cls.channel, setting="twilio_account_sid")
            require(token, channel=cls.channel, setting="twilio_auth_token")
            base_url, from_number = settings.twilio_base_url, settings.twilio_from_number
        public = settings.public_url.rstrip("/")
        return cls(
            client=client,
            account_sid=sid or "",
            auth_token=token or SecretStr(""),
            messaging_service_sid=settings.twilio_messaging_service_sid,
            from_number=from_number,
            base_url=base_url,
            status_callback=public + STATUS_CALLBACK_PATH if _callback_url_ok(public) else None,
        )

    def _describe(self) -> str:
        return f"{self.base_url} account {self.account_sid[:6]}…"

    def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """One request per message, in order.

        Invalid numbers are answered without a request. After a failure that would meet every
        following message alike (the connection failed, a rate limit, rejected credentials), the rest
        get the same error without a request: none of them reached Twilio.
        """
        self._check_batch(messages)
        results: list[SendResult] = []
        halt: ChannelError | None = None
        for message in messages:
            to = e164(message.address)
            if to is None:
                error = PermanentChannelError(
                    "not a valid phone number with country code", channel=self.channel, code="invalid-number"
                )
                results.append(SendResult(message.delivery_id, error=error))
            elif halt is not None:
                results.append(SendResult(message.delivery_id, error=halt))
            else:
                results.append(result := self._create(message, to))
                halt = result.error if _halts(result.error) else None
        return results

    def reconcile(self, messages: Sequence[OutboundMessage]) -> list[Reconciled]:
        """PRESENT with Twilio's sid when a matching message exists, else ABSENT.

        A lookup that fails answers with its error for that message alone (see
        :meth:`~channels.base.ChannelAdapter._reconcile_each`).
        """
        return self._reconcile_each(messages, self._find)

    # ── internals ─────────────────────────────────────────────────────────────────────────────────

    def _form(self, message: OutboundMessage, to: str) -> dict[str, str]:
        form = {"To": to, "Body": message.content.text, "ValidityPeriod": str(self.validity_period)}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        elif self.from_number:
            form["From"] = self.from_number
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        return form

    def _create(self, message: OutboundMessage, to: str) -> SendResult:
        try:
            response = self._client.post(self._messages_url, data=self._form(message, to), auth=self._auth)
        except httpx.TransportError as exc:
            error = transport_error(exc, channel=self.channel)
            error.__cause__ = exc
            return SendResult(message.delivery_id, error=error)
        if not response.is_success:
            return SendResult(message.delivery_id, error=self._error(response))
        data = _json(response)
        sid, status = data.get("sid"), data.get("status")
        return SendResult(
            message.delivery_id,
            provider_id=str(sid) if sid else None,
            provider_status=str(status) if status else None,
        )

    def _error(self, response: httpx.Response) -> ChannelError:
        """Twilio's ``{"code", "message", "more_info", "status"}`` mapped, its code kept as a string.

        Twilio's refusals come with 4xx statuses and are permanent: 21610 (opted out), 21211, 21408,
        21606, 21612, 21614, 21617 (recipient unreachable from this sender), 20003 (credentials).
        20429 is a rate limit whatever the status.
        """
        data = _json(response)
        code = str(data["code"]) if data.get("code") is not None else None
        message = str(data.get("message") or response.reason_phrase or f"HTTP {response.status_code}")
        if code == OPTED_OUT:
            return RecipientOptedOut(
                message, channel=self.channel, status_code=response.status_code, code=code
            )
        if code == RATE_LIMITED:
            return RateLimited(
                message,
                channel=self.channel,
                status_code=response.status_code,
                code=code,
                retry_after=retry_after(response.headers),
            )
        return http_error(response, channel=self.channel, message=message, code=code)

    def _find(self, message: OutboundMessage) -> Reconciled:
        to = e164(message.address)
        if to is None:  # never sent: send() does not send to an invalid number
            return Reconciled(message.delivery_id, Presence.ABSENT)
        since = _aware(message.first_attempt_at or message.created_at) - CLOCK_SKEW
        url: str = self._messages_url
        # No DateSent filter: a message Twilio still holds queued has no date_sent, and a filter on
        # it would miss the very message a crash left in doubt. One number's messages are few.
        query = {"To": to}
        if not self.messaging_service_sid and self.from_number:
            query["From"] = self.from_number
        params: dict[str, str] | None = query
        while True:
            page = self._get(url, params)
            for item in page.get("messages") or []:
                if isinstance(item, dict) and self._same(item, message, since):
                    return Reconciled(message.delivery_id, Presence.PRESENT, provider_id=item.get("sid"))
            next_page = page.get("next_page_uri")
            if not next_page:
                return Reconciled(message.delivery_id, Presence.ABSENT)
            url, params = f"{self.base_url}{next_page}", None

    def _get(self, url: str, params: dict[str, str] | None) -> dict[str, Any]:
        try:
            response = self._client.get(url, params=params, auth=self._auth)
        except httpx.TransportError as exc:
            raise transport_error(exc, channel=self.channel) from exc
        if not response.is_success:
            raise self._error(response)
        return _json(response)

    def _same(self, item: dict[str, Any], message: OutboundMessage, since: datetime) -> bool:
        """Same body and sender, created at or after ``since``."""
        if item.get("body") != message.content.text:
            return False
        if self.messaging_service_sid:
            if item.get("messaging_service_sid") != self.messaging_service_sid:
                return False
        elif item.get("from") != self.from_number:
            return False
        try:
            created = email.utils.parsedate_to_datetime(str(item.get("date_created")))
        except (TypeError, ValueError):
            return True  # Twilio always dates its messages; when it does not, do not risk a duplicate
        return _aware(created) >= since


def e164(address: str | None) -> str | None:
    """``address`` as E.164 when it is a valid number with its country code, else None."""
    if not address:
        return None
    try:
        number = phonenumbers.parse(address, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _halts(error: ChannelError | None) -> bool:
    """Would every following message meet this error alike? A rate limit, rejected credentials, or a
    connection that failed before the request left (``transport_error``: transient, not in doubt)."""
    if isinstance(error, RateLimited) or (error is not None and error.status_code in (401, 403)):
        return True
    not_sent = isinstance(error, TransientChannelError) and not isinstance(error, InDoubt)
    return not_sent and error is not None and error.status_code is None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _aware(moment: datetime) -> datetime:
    """Stored timestamps are UTC; a naive one is read as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _callback_url_ok(url: str) -> bool:
    """Twilio only calls back http(s) URLs with a host name, and no underscore in it."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "_" not in (parts.hostname or "")
