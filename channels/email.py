"""Email through SendGrid: one ``POST /v3/mail/send`` carries up to 1000 recipients.

Setup
-----
* ``CLARION_SENDGRID_API_KEY``: an API key with the *Mail Send* permission (SendGrid → Settings →
  API Keys). Without it clarion talks to the provider sandbox at ``CLARION_SANDBOX_URL`` with the key
  :data:`SANDBOX_API_KEY`.
* ``CLARION_EMAIL_FROM`` / ``CLARION_EMAIL_FROM_NAME``: a verified Sender Identity (a single sender or
  an authenticated domain); SendGrid answers 403 for any other ``from``.
* ``CLARION_SENDGRID_BASE_URL``: ``https://api.eu.sendgrid.com`` for EU-pinned subusers.
* Delivery events come back through the signed Event Webhook (``CLARION_SENDGRID_EVENT_PUBLIC_KEY``);
  every event carries our ``custom_args`` (``delivery_id``, ``idempotency_key``: opaque ids, never
  personal data, since SendGrid stores them as non-PII).

What a request looks like
-------------------------
One personalization per message (``to`` is the bare address), with its ``custom_args`` and, for
messages a recipient may opt out of, RFC 8058 one-click unsubscribe headers. Messages with a
``mandatory_reason`` (legally required, life-safety) go in their own request with
``mail_settings.bypass_list_management`` and no unsubscribe header. Messages are grouped by content,
incident and severity, so one request always carries one subject and body (a notice, such as a
subscription's confirmation link, has words of its own and goes alone, categorised by its kind
instead of an incident). The message is built with the official ``sendgrid`` helpers (each
recipient's entry in the SDK's shape, as a plain dict) and sent with the injected
:class:`httpx.Client` (pooling, timeouts, injectable transports).

Reconciliation
--------------
SendGrid has no idempotency key and no message lookup without the paid Email Activity API, so
:meth:`~channels.base.ChannelAdapter.reconcile` keeps the base answer, ``UNKNOWN``: a resend after a
doubtful attempt may deliver twice, and the engine counts it as an uncertain send.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final, Self

import httpx
from pydantic import SecretStr
from sendgrid.helpers.mail import (
    BypassListManagement,
    Category,
    Content,
    From,
    Mail,
    MailSettings,
)
from sendgrid.helpers.mail.exceptions import ApiKeyIncludedException

from channels.base import ChannelAdapter, http_error, http_url, require, transport_error
from clarion.audiences.email_address import EmailNotValidError, normalized_email
from clarion.channel_table import ChannelSpec, Form, Reach
from clarion.errors import ChannelError, ConfigError, InDoubt, PermanentChannelError, TransientChannelError
from clarion.kinds import Channel
from clarion.outbox.port import Content as Rendition
from clarion.outbox.port import OutboundMessage, RequestSent, SendResult
from clarion.settings import Settings
from clarion.updates.limits import GRAPHEMES, Limit

SANDBOX_API_KEY: Final = "SG.sandbox"
"""The key :meth:`EmailAdapter.from_settings` presents to the provider sandbox."""
ONE_CLICK = "List-Unsubscribe=One-Click"

# Messages that may share a request: same rendition, incident and severity, same list handling.
_GroupKey = tuple[Rendition, str, str, bool]
_Item = tuple[OutboundMessage, str]


def _checked_email(address: str) -> str:
    """The address in normal form, or ValueError saying why it is not one."""
    try:
        return normalized_email(address)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def _adapter(settings: Settings, *, client: httpx.Client, engine: object) -> EmailAdapter:
    return EmailAdapter.from_settings(settings, client=client)


SPEC: Final = ChannelSpec(
    name="email",
    reach=Reach.PERSONAL,
    address="email",
    form=Form.LONG,
    fields={"subject": "subject.txt.j2", "body": "body.txt.j2", "html": "body.html.j2"},
    # RFC 5322 folds long headers, so there is no hard limit; but clients cut the visible subject
    # around 60-100 characters, and an apology's subject must be read whole. Body: no limit.
    limits=(Limit("subject", GRAPHEMES, 100),),
    adapter=_adapter,
    max_batch=1000,
    one_request_per_batch=True,
    request_bodies=lambda settings: EmailBodies(settings.email_from, settings.email_from_name),
    reconcile="cannot tell (no lookup without the paid Email Activity API): a resend after a doubtful "
    "attempt is counted as a blind resend; events of two copies show what the provider received",
    settings=(
        "CLARION_SENDGRID_API_KEY",
        "CLARION_SENDGRID_BASE_URL",
        "CLARION_SENDGRID_EVENT_PUBLIC_KEY",
        "CLARION_EMAIL_FROM",
        "CLARION_EMAIL_FROM_NAME",
    ),
    sandboxed=lambda settings: settings.sendgrid_api_key is None,
    check_address=lambda address: _checked_email(address),
    provider="sendgrid",
    sandbox="channels.sandbox.sendgrid:router",
)


class EmailBodies:
    """The ``/v3/mail/send`` body of one request, built once (at staging, :mod:`clarion.outbox.prepared`)
    and sent as built by every attempt (:meth:`EmailAdapter.send_prepared`)."""

    def __init__(self, from_email: str, from_name: str | None = None) -> None:
        self.from_email, self.from_name = from_email, from_name or None

    def __call__(self, messages: Sequence[OutboundMessage]) -> bytes | None:
        """The JSON of one request carrying ``messages``, or None when they cannot go as one as they
        stand (an address that is not one, a rendition without a subject, two groups, an address
        twice, content the SDK refuses): their claim then sends them through :meth:`EmailAdapter.send`,
        which answers for each message."""
        results: dict[int, SendResult] = {}
        groups = list(_grouped(messages, results).values())
        if results or len(groups) != 1 or len(_without_repeats(groups[0])) != 1:
            return None
        try:
            body = self.build([item for _, item in groups[0]])
        except ApiKeyIncludedException:
            return None
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    def build(self, items: Sequence[_Item]) -> dict[str, Any]:
        """The ``/v3/mail/send`` JSON for messages of one group, each with its checked address."""
        first = items[0][0]
        mail = Mail()
        mail.from_email = _address(From, self.from_email, self.from_name)
        mail.subject = first.content.subject
        mail.add_content(Content("text/plain", first.content.text))
        if first.content.html:
            mail.add_content(Content("text/html", first.content.html))
        if first.notice:  # a notice (a confirmation link) belongs to no incident
            names = ["clarion", f"notice-{first.notice}"]
        else:
            names = ["clarion", first.incident_reference, f"severity-{first.severity}"]
        categories = dict.fromkeys(names)
        for name in reversed(categories):  # the SDK inserts each category first
            mail.add_category(Category(name))
        if first.mandatory_reason:
            mail.mail_settings = MailSettings(bypass_list_management=BypassListManagement(True))
        body: dict[str, Any] = mail.get()
        body["personalizations"] = [_personalization(message, address) for message, address in items]
        return body


class EmailAdapter(ChannelAdapter):
    """SendGrid ``/v3/mail/send``. Cannot reconcile: see the module notes."""

    spec = SPEC

    def __init__(
        self,
        *,
        client: httpx.Client,
        api_key: SecretStr,
        from_email: str,
        from_name: str | None = None,
        base_url: str = "https://api.sendgrid.com",
        requests_per_second: float | None = None,
    ) -> None:
        super().__init__(requests_per_second=requests_per_second)
        require(api_key.get_secret_value(), channel=self.channel, setting="sendgrid_api_key")
        require(from_email, channel=self.channel, setting="email_from")
        try:
            normalized_email(from_email)
        except EmailNotValidError as exc:
            raise ConfigError(f"{self.channel}: email_from is not an email address ({exc})") from exc
        self.base_url = http_url(base_url, channel=Channel.EMAIL, setting="sendgrid_base_url")
        self.from_email, self.from_name = from_email, from_name or None
        self.prepare = EmailBodies(from_email, from_name)
        self._client = client
        self._api_key = api_key

    @classmethod
    def from_settings(cls, settings: Settings, *, client: httpx.Client) -> Self:
        """Real credentials when ``sendgrid_api_key`` is set, else the provider sandbox."""
        if settings.sendgrid_api_key is not None:
            api_key, base_url = settings.sendgrid_api_key, settings.sendgrid_base_url
        else:
            api_key = SecretStr(SANDBOX_API_KEY)
            base_url = http_url(settings.sandbox_url, channel=Channel.EMAIL, setting="sandbox_url")
        return cls(
            client=client,
            api_key=api_key,
            base_url=base_url,
            from_email=settings.email_from,
            from_name=settings.email_from_name,
        )

    def _describe(self) -> str:
        return self.base_url

    def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """One request per group of messages; invalid addresses are answered without a request.

        Raises the request's error when every message of the batch met it.
        """
        self._check_batch(messages)
        results: dict[int, SendResult] = {}
        requests: list[list[tuple[int, _Item]]] = []
        for items in _grouped(messages, results).values():
            requests.extend(_without_repeats(items))
        halt: ChannelError | None = None
        for request in requests:
            error, provider_id = halt, None
            if halt is None:
                error, provider_id = self._post([item for _, item in request])
                if _not_sent(error):  # the connection failed: the next request would fail alike
                    halt = error
            for index, (message, _) in request:
                results[index] = SendResult(message.delivery_id, provider_id=provider_id, error=error)
        ordered = [results[index] for index in range(len(messages))]
        first = ordered[0].error if ordered else None
        if requests and first is not None and all(r.error is first for r in ordered):
            raise first
        return ordered

    def build_body(self, items: Sequence[_Item]) -> dict[str, Any]:
        """The ``/v3/mail/send`` JSON for messages of one group, each with its checked address."""
        return self.prepare.build(items)

    def send_prepared(self, body: bytes) -> RequestSent:
        """Send a request whose body :class:`EmailBodies` built: one answer for all its messages."""
        error, provider_id = self._request(content=body)
        return RequestSent(provider_id=provider_id, error=error)

    # ── internals ─────────────────────────────────────────────────────────────────────────────────

    def _post(self, items: Sequence[_Item]) -> tuple[ChannelError | None, str | None]:
        """Send one request: ``(None, X-Message-Id)`` when accepted, else ``(error, None)``."""
        try:
            body = self.build_body(items)
        except ApiKeyIncludedException as exc:  # the SDK refuses content that looks like an API key
            refused = PermanentChannelError("the content contains a SendGrid API key", channel=self.channel)
            refused.__cause__ = exc
            return refused, None
        return self._request(content=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())

    def _request(self, *, content: bytes) -> tuple[ChannelError | None, str | None]:
        headers = {
            "Authorization": f"Bearer {self._api_key.get_secret_value()}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        try:
            response = self._client.post(f"{self.base_url}/v3/mail/send", content=content, headers=headers)
        except httpx.TransportError as exc:
            error = transport_error(exc, channel=self.channel)
            error.__cause__ = exc
            return error, None
        if response.is_success:
            return None, response.headers.get("X-Message-Id")
        return http_error(response, channel=self.channel, message=_error_message(response)), None


def _grouped(
    messages: Sequence[OutboundMessage], results: dict[int, SendResult]
) -> dict[_GroupKey, list[tuple[int, _Item]]]:
    """Messages that can be sent, by request group; the others get their result in ``results``."""
    groups: dict[_GroupKey, list[tuple[int, _Item]]] = {}
    for index, message in enumerate(messages):
        try:
            address = normalized_email(message.address or "")
        except EmailNotValidError as exc:
            error = PermanentChannelError(
                f"not an email address: {exc}", channel=Channel.EMAIL, code="invalid-address"
            )
            results[index] = SendResult(message.delivery_id, error=error)
            continue
        if not message.content.subject:
            error = PermanentChannelError(
                "the email rendition has no subject", channel=Channel.EMAIL, code="no-subject"
            )
            results[index] = SendResult(message.delivery_id, error=error)
            continue
        key = (message.content, message.incident_reference, message.severity, bool(message.mandatory_reason))
        groups.setdefault(key, []).append((index, (message, address)))
    return groups


def _address(kind: type[Any], email: str, name: str | None = None) -> Any:
    """An SDK address object, set field by field: the SDK's own parser would reread ``email``."""
    address = kind()
    address.email = email
    if name:
        address.name = name
    return address


def _personalization(message: OutboundMessage, address: str) -> dict[str, Any]:
    """One recipient's ``personalizations[]`` entry, exactly as the SDK's ``Personalization.get()``
    writes it (``tests/channels/test_email.py`` holds the two side by side); plain dicts, since the
    SDK's objects cost about 15 µs per recipient, a tenth of a 1000-recipient request's budget.
    """
    entry: dict[str, Any] = {"to": [{"email": address}]}
    if not message.mandatory_reason and message.unsubscribe_url:
        entry["headers"] = {
            "List-Unsubscribe": f"<{message.unsubscribe_url}>",
            "List-Unsubscribe-Post": ONE_CLICK,
        }
    entry["custom_args"] = {
        "delivery_id": str(message.delivery_id),
        "idempotency_key": message.idempotency_key,
    }
    return entry


def _not_sent(error: ChannelError | None) -> bool:
    """True for a transport failure before the request left (mapped by ``transport_error``)."""
    return (
        isinstance(error, TransientChannelError)
        and not isinstance(error, InDoubt)
        and error.status_code is None
    )


def _without_repeats(items: list[tuple[int, _Item]]) -> list[list[tuple[int, _Item]]]:
    """Split a group so no request names an address twice (SendGrid rejects the whole request)."""
    requests: list[tuple[set[str], list[tuple[int, _Item]]]] = []
    for entry in items:
        address = entry[1][1].casefold()
        target = next((r for r in requests if address not in r[0]), None)
        if target is None:
            target = (set(), [])
            requests.append(target)
        target[0].add(address)
        target[1].append(entry)
    return [entries for _, entries in requests]


def _error_message(response: httpx.Response) -> str:
    """SendGrid's first error, ``message (field x)``, or the status line when the body says nothing."""
    try:
        first = response.json()["errors"][0]
        message, field = str(first["message"]), first.get("field")
    except (ValueError, LookupError, TypeError, AttributeError):
        return response.reason_phrase or f"HTTP {response.status_code}"
    return f"{message} (field {field})" if field else message
