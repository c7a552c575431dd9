"""What the sandbox accepts and how it misbehaves: :class:`SandboxConfig` and the sandbox credentials.

The credentials below are the sandbox's own, documented here so that anyone can point a client at it
without an account anywhere. SendGrid takes any key that starts with ``SG.`` unless
``sendgrid_api_key`` names one; the others must match exactly.

Faults (``fault_rate`` > 0) apply to provider endpoints only, never to ``/_sandbox/*``:

* ``"503"``: answered 503 before anything is processed; nothing is recorded.
* ``"500_after_accept"``: the message is processed and recorded, then the answer is a 500 (the
  ambiguous case: the provider has it, the client is told it failed).
* ``"timeout"``: the sandbox hangs ``hang_seconds`` (or until the client gives up) before
  answering 504; nothing is recorded.
* ``"drop"``: the message is processed and **recorded**, then the connection is cut in the middle of
  the response (headers promise a body that never comes): the answer is lost on the way back.
* ``"429"``: the provider's own 429 (its body and rate headers, as a ``rate_limit`` refusal gives),
  before anything is processed; nothing is recorded. Counted as a fault, never in ``rejected``, so
  ``rejected["429"]`` stays the refusals of ``rate_limit`` alone: the clients' pace, not the dice.

``seed`` makes the sequence of faults and latencies reproducible for a given order of requests.

Delivery events (``sendgrid_event_url``, ``event_delay_ms``, ``bounce_rate``, ``drop_rate``,
``sms_failure_rate``, ``sms_undelivered_rate``): what becomes of accepted messages, posted signed as
the providers sign them (:mod:`channels.sandbox.events`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Provider = str
"""A provider the sandbox stands in for: the ``provider`` of a channel spec with a sandbox double."""
FaultKind = Literal["503", "500_after_accept", "timeout", "drop", "429"]

SCHEMAS: Final = Path(__file__).resolve().parent / "schemas"
"""The official schemas and lexicons the sandbox validates against (do not edit them)."""

PROVIDERS: Final[tuple[Provider, ...]] = ("sendgrid", "twilio", "mastodon", "bluesky")
"""The providers whose error bodies and rate-limit headers the sandbox speaks in their own shape;
every other double (Slack, Teams, the signed webhook, a package's) gets ``Retry-After`` and a plain
answer (:mod:`channels.sandbox.responses`)."""


def known_providers() -> tuple[Provider, ...]:
    """Every provider with a sandbox double in the channel table, another package's too."""
    from clarion.channel_table import channel_table

    found = {spec.provider for spec in channel_table().values() if spec.provider and spec.sandbox}
    return tuple(sorted(found))


def _known(names: Iterable[str]) -> None:
    unknown = sorted(set(names) - set(known_providers()))
    if unknown:
        raise ValueError(f"unknown provider {', '.join(unknown)}; known: {', '.join(known_providers())}")


FAULT_KINDS: Final[tuple[FaultKind, ...]] = ("503", "500_after_accept", "timeout", "drop", "429")

SENDGRID_SANDBOX_KEY: Final = "SG.sandbox"
"""A key the sandbox accepts by default (so does any other key starting ``SG.``)."""
TWILIO_SANDBOX_SID: Final = "AC" + "0" * 32
TWILIO_SANDBOX_TOKEN: Final = "sandbox-auth-token"  # noqa: S105 — a public, documented sandbox credential
TWILIO_SANDBOX_FROM: Final = "+15005550006"
"""The number the sandbox reports as sender when a Messaging Service picked it."""
MASTODON_SANDBOX_TOKEN: Final = "sandbox-mastodon-token"  # noqa: S105 — public sandbox credential
BLUESKY_SANDBOX_HANDLE: Final = "clarion.sandbox.test"
BLUESKY_SANDBOX_DID: Final = "did:plc:clarionsandboxaaaaaaaaaa"
BLUESKY_SANDBOX_PASSWORD: Final = "sand-boxa-ppps-swrd"  # noqa: S105 — public sandbox app password


MAX_JSON_DEPTH = 64
"""Deepest JSON a provider endpoint parses (the providers' own bodies nest a handful of levels)."""


class SandboxConfig(BaseModel):
    """Credentials, limits and faults of a running sandbox. Change it at runtime with
    ``POST /_sandbox/config`` (a partial JSON object) or ``SandboxHandle.configure``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Credentials
    sendgrid_api_key: str | None = Field(
        default=None, description="The only accepted SendGrid key; None accepts any key starting 'SG.'."
    )
    twilio_account_sid: str = Field(default=TWILIO_SANDBOX_SID, pattern=r"^AC[0-9a-fA-F]{32}$")
    twilio_auth_token: str = TWILIO_SANDBOX_TOKEN
    mastodon_access_token: str = MASTODON_SANDBOX_TOKEN
    bluesky_handle: str = BLUESKY_SANDBOX_HANDLE
    bluesky_did: str = BLUESKY_SANDBOX_DID
    bluesky_app_password: str = BLUESKY_SANDBOX_PASSWORD

    # Provider behaviour
    twilio_opted_out: tuple[str, ...] = Field(
        default=(), description="Numbers that replied STOP: sends to them fail with 21610."
    )
    mastodon_max_characters: int = Field(default=500, ge=1)
    mastodon_characters_reserved_per_url: int = Field(default=23, ge=0)
    bluesky_access_ttl_seconds: float = Field(
        default=7200.0, gt=0, description="Lifetime of an accessJwt (the PDS default is 120 minutes)."
    )
    keep_text: bool = Field(default=True, description="Keep subjects and texts in the inbox.")

    # Delivery events (channels.sandbox.events): what became of accepted messages, posted signed
    sendgrid_event_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="Where SendGrid's Event Webhook posts (None: nowhere).",
    )
    event_delay_ms: float = Field(
        default=100.0, ge=0, le=600_000, description="From acceptance to the events."
    )
    bounce_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Share of emails that bounce.")
    drop_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Share of emails SendGrid drops.")
    sms_failure_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Share of SMS that fail.")
    sms_undelivered_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of SMS the carrier does not deliver."
    )

    # Misbehaviour
    latency_ms: float = Field(default=0.0, ge=0, le=60_000)
    latency_jitter_ms: float = Field(default=0.0, ge=0, le=60_000)
    rate_limit: dict[Provider, Annotated[int, Field(ge=1, le=1_000_000)]] = Field(
        default_factory=dict, description="Requests per second (sliding 1 s window) before a 429."
    )
    fault_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    fault_kinds: tuple[FaultKind, ...] = Field(default=("503",), min_length=1)
    hang_seconds: float = Field(default=60.0, ge=0, le=3_600)
    seed: int | None = None
    providers: tuple[Provider, ...] | None = Field(
        default=None, description="Where faults apply (None: every provider)."
    )

    @field_validator("rate_limit")
    @classmethod
    def _rate_limited_providers(cls, value: dict[Provider, int]) -> dict[Provider, int]:
        _known(value)
        return value

    @field_validator("providers")
    @classmethod
    def _faulted_providers(cls, value: tuple[Provider, ...] | None) -> tuple[Provider, ...] | None:
        if value is not None:
            _known(value)
        return value

    @model_validator(mode="after")
    def _shares(self) -> SandboxConfig:
        if self.bounce_rate + self.drop_rate > 1 or self.sms_failure_rate + self.sms_undelivered_rate > 1:
            raise ValueError(
                "bounce_rate + drop_rate, and sms_failure_rate + sms_undelivered_rate, are at most 1"
            )
        return self

    def updated(self, changes: dict[str, object]) -> SandboxConfig:
        """A validated copy with ``changes`` applied (unknown keys are refused)."""
        return SandboxConfig.model_validate({**self.model_dump(), **changes})
