"""Microsoft Teams: one Adaptive Card per notice, posted to a Workflows webhook.

The people inside read notices (approval requests, reminders, lapses, escalations, deadlines) in a
Teams channel or chat. Office 365 Connector "Incoming Webhook" URLs are being retired; their
successor is a Workflows (Power Automate) flow whose trigger is "When a Teams webhook request is
received". That trigger takes the same ``{"type": "message", "attachments": [...]}`` envelope and
posts the Adaptive Card it carries.

Setup
-----
1. In Teams, on the channel (or chat) that should receive notices: ``…`` → Workflows → the template
   "Post to a channel when a webhook request is received" (trigger: "When a Teams webhook request is
   received"). Choose the team and channel, save, and copy the URL the trigger shows. That URL ends in
   a ``sig=`` signature: whoever has it can post, so treat it as a password.
2. Give each destination a short name (``incident-room``: lower-case letters, digits and dashes,
   starting with a letter) and set ``CLARION_TEAMS_WEBHOOKS`` to a JSON object of names to URLs::

       CLARION_TEAMS_WEBHOOKS='{"incident-room": "https://…/workflows/…&sig=…"}'

   A responder's address on ``teams`` is the name, never the URL (people files, playbooks, the store
   and logs never hold it). When the variable is set, a name it does not list is refused.
3. With ``CLARION_TEAMS_WEBHOOKS`` unset, every name posts to the provider sandbox at
   ``{CLARION_SANDBOX_URL}/teams/workflows/<name>``.

Limits (learn.microsoft.com, "Create an Incoming Webhook", known issues and limitations): a message
is at most 28 KB (Teams answers 413 "Request Entity too large"); more than 4 requests a second are
throttled (429). The adapter builds the card,
measures its UTF-8 JSON and refuses one over 28 KB before any request; it never truncates. Workflows
answers ``202 Accepted`` (reported, not documented): any 2xx is success. There is no idempotency key
and no way to ask whether a card arrived: a resend after a doubtful attempt may post it twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, Self

import httpx
from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from channels.base import ChannelAdapter, http_error, transport_error
from clarion.channel_table import ChannelSpec, Form, Reach
from clarion.errors import ChannelError, ConfigError, PermanentChannelError
from clarion.outbox.port import Content, OutboundMessage, SendResult
from clarion.settings import Settings
from clarion.updates.limits import BYTES, GRAPHEMES, Limit

SETTING: Final = "CLARION_TEAMS_WEBHOOKS"
SANDBOX_PATH: Final = "/teams/workflows"
"""The sandbox double's prefix: ``{sandbox_url}/teams/workflows/<name>``."""

MAX_MESSAGE_BYTES: Final = 28 * 1024
"""Teams' documented cap on one webhook message (learn.microsoft.com): the whole JSON body, UTF-8."""
MAX_SUBJECT_GRAPHEMES: Final = 200
"""A sandbox choice, not a Teams limit: the heading is read at a glance, so a longer one is a preview
error for the template's author rather than a card nobody reads to the end."""
MAX_BODY_BYTES: Final = 24_000
"""The preview's bound on the body, 4,672 bytes under :data:`MAX_MESSAGE_BYTES`: room for the
envelope and heading block (about 450 bytes), a 200-grapheme heading (800 bytes of four-byte characters), the
link button (the link twice), about 42 bytes of TextBlock around each paragraph, and the growth JSON
and Markdown escaping add (a ``*`` goes out as ``\\\\*``, three bytes; a control character as six).
No bound on the text alone can be exact, so the adapter's check of the real payload against 28 KB is
the authority; this one only makes an ordinary notice that is too long a preview error."""

ADAPTIVE_CARD: Final = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA: Final = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION: Final = "1.4"  # what Microsoft's Workflows webhook examples declare
RUN_ID_HEADERS: Final = ("x-ms-workflow-run-id", "x-ms-request-id")
"""Where a 202 names the flow run it started. Not in Microsoft's docs: public clients of Logic Apps and
Power Automate request triggers read ``x-ms-workflow-run-id`` from it; ``x-ms-request-id`` otherwise."""

_NAME: Final = re.compile(r"[a-z][a-z0-9-]{0,62}")
_PARAGRAPHS: Final = re.compile(r"\n[ \t]*\n\s*")

# Adaptive Card TextBlock ``text`` is Markdown (a CommonMark subset: **bold**, _italic_, lists,
# [title](url)). Escaped so a notice's words stay words and cannot forge a link: backslash, the
# emphasis, code and link brackets, heading and quote markers. Inside a bare URL only the link
# brackets are escaped, so the URL itself still reads (and autolinks) as it is. Some Teams mobile
# clients have shown the backslash of an escape (MicrosoftDocs/msteams-docs#5793): a stray "\" is
# the price of never rendering a link the notice did not mean.
_MARKDOWN: Final = re.compile(r"(?P<url>https?://\S+)|(?P<char>[\\`*_\[\]()#>])")


def escape_markdown(text: str) -> str:
    """``text`` with the Markdown that Adaptive Cards would interpret escaped."""

    def escape(match: re.Match[str]) -> str:
        url = match.group("url")
        if url is not None:
            return url.replace("[", "\\[").replace("]", "\\]")
        return "\\" + match.group("char")

    return _MARKDOWN.sub(escape, text)


def check_address(value: str) -> str:
    """A responder's address on Teams: the name of a workflow in ``CLARION_TEAMS_WEBHOOKS``. The
    value is never echoed: a URL pasted here is a credential."""
    name = value.strip()
    if name.lower().startswith(("http://", "https://")) or "sig=" in name:
        raise ValueError(
            f"a Teams address is a name, not a webhook URL: put the URL in {SETTING} under a name "
            "and give that name here"
        )
    if not _NAME.fullmatch(name):
        raise ValueError(
            "a Teams address is the name of a workflow in "
            f"{SETTING}: lower-case letters, digits and dashes, starting with a letter, at most 63"
        )
    return name


def checked_webhooks(webhooks: Mapping[str, SecretStr | str]) -> dict[str, SecretStr]:
    """Names to URLs, each name an address and each URL https; ValueError saying which name is wrong
    (a URL is never repeated)."""
    checked: dict[str, SecretStr] = {}
    for name, url in webhooks.items():
        if check_address(name) != name:
            raise ValueError(f"the name {name.strip()!r} has spaces around it")
        value = SecretStr(url) if isinstance(url, str) else url
        if not value.get_secret_value().startswith("https://"):
            raise ValueError(f"the URL of {name!r} is not an https URL")
        checked[name] = value
    return checked


class TeamsSettings(BaseSettings):
    """``CLARION_TEAMS_WEBHOOKS``: a JSON object of names to Workflows URLs. Unset: the sandbox."""

    model_config = SettingsConfigDict(  # errors never echo a refused value: the URLs are secrets
        env_prefix="CLARION_TEAMS_",
        env_file=".env",
        env_ignore_empty=True,  # CLARION_TEAMS_WEBHOOKS= is unset: the sandbox
        extra="ignore",
        hide_input_in_errors=True,
    )

    webhooks: dict[str, SecretStr] | None = None

    @field_validator("webhooks")
    @classmethod
    def _names_and_urls(cls, value: dict[str, SecretStr] | None) -> dict[str, SecretStr] | None:
        return None if value is None else checked_webhooks(value)


_SHAPE: Final = "must be a JSON object of names to https URLs"


def read_settings() -> TeamsSettings:
    """The channel's settings from the environment; ConfigError naming the variable (never a URL)."""
    try:
        return TeamsSettings()
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        why = "; ".join(_SHAPE if e["type"] == "dict_type" else str(e["msg"]) for e in errors)
        raise ConfigError(f"teams: {SETTING}: {why}") from None
    except SettingsError:
        raise ConfigError(f"teams: {SETTING}: {_SHAPE}") from None


def _adapter(settings: Settings, *, client: httpx.Client, engine: object) -> TeamsAdapter:
    return TeamsAdapter.from_settings(settings, client=client)


SPEC: Final = ChannelSpec(
    name="teams",
    reach=Reach.INTERNAL,
    form=Form.SHORT,
    fields={"subject": "subject.txt.j2", "body": "body.txt.j2"},
    limits=(
        Limit("subject", GRAPHEMES, MAX_SUBJECT_GRAPHEMES),  # a sandbox choice: read at a glance
        Limit("body", BYTES, MAX_BODY_BYTES),  # 28 KB less the card around it; see MAX_BODY_BYTES
    ),
    check_address=check_address,
    payload_problem=lambda content: payload_problem(content),  # defined below, with the card
    adapter=_adapter,
    max_batch=1,
    requests_per_second=4.0,  # Teams throttles webhooks above 4 requests a second
    no_duplicates=False,
    reconcile="cannot tell: a Workflows webhook has no idempotency key and no lookup, so a resend "
    "after a doubtful attempt may post the card twice",
    settings=(SETTING,),
    sandboxed=lambda settings: read_settings().webhooks is None,
    provider="teams",
    sandbox="channels.sandbox.teams:router",
)


def card(content: Content) -> dict[str, Any]:
    """The webhook payload: the envelope around one Adaptive Card, its heading, paragraphs and link.

    Checked against the Adaptive Cards schema explorer (adaptivecards.io/explorer, TextBlock and
    Action.OpenUrl): a TextBlock has ``type`` and ``text`` (required; a Markdown subset), ``wrap``
    (else the text is clipped to one line), ``weight`` (``bolder``) and ``size`` (``medium``), all
    since 1.0; ``style: "heading"`` (for screen readers) arrived in 1.5. The card declares 1.4, as the
    Workflows payload does; the renderer specification has parsers keep properties they do not know,
    so a 1.4 client shows the heading by its weight and size. Action.OpenUrl has ``url`` (required)
    and ``title`` since 1.0.
    """
    body: list[dict[str, Any]] = []
    if content.subject and content.subject.strip():
        body.append(
            {
                "type": "TextBlock",
                "text": escape_markdown(content.subject.strip()),
                "style": "heading",
                "weight": "bolder",
                "size": "medium",
                "wrap": True,
            }
        )
    for paragraph in _PARAGRAPHS.split(content.text.replace("\r\n", "\n").strip()):
        if paragraph.strip():
            body.append({"type": "TextBlock", "text": escape_markdown(paragraph.rstrip()), "wrap": True})
    adaptive: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if content.link:
        # The button shows where it leads, not a word of copy: Python holds no message text.
        title = content.link.split("://", 1)[-1]
        adaptive["actions"] = [{"type": "Action.OpenUrl", "title": title, "url": content.link}]
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": adaptive}],
    }


def payload(content: Content) -> bytes:
    """The card as UTF-8 JSON, refused (PermanentChannelError) when over Teams' 28 KB: never cut."""
    channel = SPEC.name
    if content.link is not None and not content.link.startswith(("https://", "http://")):
        raise PermanentChannelError("the link is not an http(s) URL; not posted", channel=channel)
    built = card(content)
    if not built["attachments"][0]["content"]["body"]:
        raise PermanentChannelError("nothing to post: no subject and no text", channel=channel)
    try:
        encoded = json.dumps(built, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PermanentChannelError("text is not valid Unicode (lone surrogate)", channel=channel) from exc
    if len(encoded) > MAX_MESSAGE_BYTES:
        raise PermanentChannelError(
            f"the card is {len(encoded)} bytes, Teams takes at most 28 KB ({MAX_MESSAGE_BYTES} bytes) "
            "per message; not posted",
            channel=channel,
        )
    return encoded


def payload_problem(content: Content) -> str | None:
    """What Teams would refuse in the Adaptive Card for ``content`` (over 28 KB), or None; built
    offline, for the preview and for staging."""
    try:
        payload(content)
    except PermanentChannelError as exc:
        return (
            str(exc).removeprefix(f"{SPEC.name}: ").removesuffix("; not posted").removesuffix(" per message")
        )
    return None


class TeamsAdapter(ChannelAdapter):
    """Posts each message as one Adaptive Card to the workflow its address names; ``provider_id`` is
    the flow run the workflow started, when it says."""

    spec = SPEC

    def __init__(
        self,
        *,
        client: httpx.Client,
        webhooks: Mapping[str, SecretStr | str] | None,
        sandbox_url: str,
        requests_per_second: float | None = None,
    ) -> None:
        super().__init__(requests_per_second=requests_per_second)
        self._client = client
        self._sandbox_url = sandbox_url.rstrip("/")
        self._webhooks: dict[str, SecretStr] | None = None
        if webhooks is not None:
            try:
                self._webhooks = checked_webhooks(webhooks)
            except ValueError as exc:
                raise ConfigError(f"teams: {SETTING}: {exc}") from None

    @classmethod
    def from_settings(cls, settings: Settings, *, client: httpx.Client) -> Self:
        """The workflows ``CLARION_TEAMS_WEBHOOKS`` names, or the sandbox when it is unset."""
        return cls(client=client, webhooks=read_settings().webhooks, sandbox_url=settings.sandbox_url)

    @property
    def sandboxed(self) -> bool:
        return self._webhooks is None

    def _describe(self) -> str:
        if self._webhooks is None:
            return f"sandbox {self._sandbox_url}{SANDBOX_PATH}"
        return "workflows: " + (", ".join(sorted(self._webhooks)) or "none")

    # ── send ──────────────────────────────────────────────────────────────────────────────────────

    def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Post each message (one per batch); the base maps every failure to its error."""
        return self._send_each(messages, self._post)

    def _post(self, message: OutboundMessage) -> SendResult:
        name, url = self._destination(message.address)
        body = payload(message.content)
        try:
            response = self._client.post(
                url.get_secret_value(), content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, channel=self.channel) from exc
        if response.is_success:
            run = next((response.headers[h] for h in RUN_ID_HEADERS if response.headers.get(h)), None)
            return SendResult(message.delivery_id, provider_id=run, provider_status=str(response.status_code))
        raise self._error(response, name, url)

    def _destination(self, address: str | None) -> tuple[str, SecretStr]:
        """(name, URL) of the workflow an address names."""
        if address is None:
            raise PermanentChannelError(
                "no address: a Teams notice goes to a workflow named in " + SETTING, channel=self.channel
            )
        try:
            name = check_address(address)
        except ValueError as exc:
            raise PermanentChannelError(str(exc), channel=self.channel) from None
        if self._webhooks is None:
            return name, SecretStr(f"{self._sandbox_url}{SANDBOX_PATH}/{name}")
        url = self._webhooks.get(name)
        if url is None:
            raise PermanentChannelError(f"no workflow named {name!r} in {SETTING}", channel=self.channel)
        return name, url

    def _error(self, response: httpx.Response, name: str, url: SecretStr) -> ChannelError:
        """A refusal mapped to the error tree, with the workflow's name and never its URL."""
        status = response.status_code
        code, said = _workflow_error(response)
        said = _redact(said, url)
        if status == 413:
            message = f"Request Entity too large: Teams takes at most 28 KB ({MAX_MESSAGE_BYTES} bytes)"
        elif status in (401, 403, 404):
            message = f"workflow {name!r} refused the post ({said}): its URL in {SETTING} is wrong or revoked"
        else:
            message = f"workflow {name!r}: {said}"
        # A redirect is no answer: the URL the trigger shows is the one to post to.
        permanent = True if 300 <= status < 400 else None
        return http_error(response, channel=self.channel, message=message, code=code, permanent=permanent)


def _workflow_error(response: httpx.Response) -> tuple[str | None, str]:
    """(code, message) of a Workflows error, ``{"error": {"code", "message"}}``; else the text."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        if isinstance(message, str) and message:
            return (code if isinstance(code, str) else None), message[:300]
    text = response.text.strip()[:300]
    return None, text or response.reason_phrase or "error"


def _redact(text: str, url: SecretStr) -> str:
    """``text`` without the URL or any of its query values (the ``sig=`` among them)."""
    secret = url.get_secret_value()
    pieces = [secret, *(v for _, _, v in (p.partition("=") for p in secret.partition("?")[2].split("&")))]
    for piece in sorted((p for p in pieces if len(p) >= 8), key=len, reverse=True):
        text = text.replace(piece, "…")
    return text
