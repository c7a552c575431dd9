"""What a channel is, in one value: :class:`ChannelSpec`, declared by the channel's own module.

A spec says whom the channel reaches (:class:`Reach`), the text form its templates tell the story in
(:class:`Form`), the fields it renders and their limits, how its provider takes batches and at what
rate, whether a resend can duplicate, the settings it reads, its sandbox double, and how its provider's
webhooks map to delivery events. The core derives every set it once kept by hand from the specs
(:mod:`clarion.channel_table.table`); a package adds a channel by publishing a spec under the
``clarion.channels`` entry-point group, without editing clarion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol

from clarion.updates.limits import Limit

if TYPE_CHECKING:
    import sqlalchemy as sa

    from clarion.outbox.port import Content, RequestBodies, Sender
    from clarion.settings import Settings


class Reach(StrEnum):
    """Whom a channel's messages reach."""

    PERSONAL = "personal"
    """Each person of an audience, one message each, in their locale and time zone (email, SMS)."""
    BROADCAST = "broadcast"
    """The public, one post per locale (Mastodon, Bluesky)."""
    SERVED = "served"
    """Shown where people look, not sent to anyone: to an audience (the in-app banner) or to the
    public (the status page)."""
    INTERNAL = "internal"
    """The people inside: the commander, approvers and deadline owners, never a customer."""


class Form(StrEnum):
    """How a channel's templates tell the four parts: the ``long`` or ``short`` story blocks."""

    LONG = "long"
    SHORT = "short"


class AdapterFactory(Protocol):
    """Builds a channel's sender from settings. HTTP adapters use ``client`` (an ``httpx.Client``);
    the banner uses ``engine``; each ignores what it does not need."""

    def __call__(self, settings: Settings, *, client: Any, engine: sa.Engine) -> Sender: ...


@dataclass(frozen=True)
class ChannelSpec:
    """One channel, whole. Everything beyond the name, reach and fields has a default that suits a
    simple HTTP channel with no limits."""

    name: str
    """The channel's name: the entry point's name, the templates' folder, the playbooks' word."""
    reach: Reach
    form: Form
    fields: Mapping[str, str]
    """Each rendered field and its template file: ``body`` (text), ``subject`` (one line), ``html``
    (autoescaped)."""
    address: Literal["email", "phone"] | None = None
    """Which of a recipient's addresses a personal channel sends to (a normalised email address, or an
    E.164 phone number)."""
    check_address: Callable[[str], str] | None = None
    """For a channel that reaches people one address at a time (personal or internal): the address as
    it is stored (normalised), or ValueError saying what is wrong with it. A responder's address is
    checked with it where it is written (file, line, field)."""
    one_line: bool = False
    """The body is folded to one line (SMS, the banner)."""
    payload_problem: Callable[[Content], str | None] | None = None
    """What the provider would refuse in the message it gets for these words (a Block Kit section
    over 3 000 characters, an Adaptive Card over 28 KB), or None: the real payload built offline, so
    preview and staging refuse what the adapter would, before anything is sent."""
    thread: int = 1
    """Most posts one message may take. Above 1, a story that does not fit one post is posted as a
    thread: the first post points to the status page for the parts it leaves out, and a reply to it
    tells each of those parts (Mastodon, Bluesky). The adapter posts the replies in order, each under
    its own idempotency key."""
    limits: tuple[Limit, ...] = ()
    """What each field may hold, the most commonly binding first (:mod:`clarion.updates.limits`)."""
    public: bool = False
    """A served channel the public sees (the status page), listed under a playbook's
    ``public_channels`` rather than an audience's channels. Broadcast channels are always public."""
    adapter: AdapterFactory | None = None
    """Builds the sender; None for a channel served from the store and never sent (the status page)."""
    max_batch: int = 1
    """Most messages one send takes (SendGrid: 1000 personalizations)."""
    one_request_per_batch: bool = False
    """One provider request carries the whole batch."""
    request_bodies: Callable[[Settings], RequestBodies] | None = None
    """For a channel that sends whole requests: builds each request's body once, when its audience
    is staged (:mod:`clarion.outbox.prepared`), and its adapter sends it as built; None: bodies are
    built from the rows at every attempt."""
    requests_per_second: float | None = None
    """The provider's published rate, kept by default; None when it publishes none."""
    no_duplicates: bool = False
    """The provider can always be asked whether a message arrived, so a resend never duplicates."""
    reconcile: str = "cannot tell: a resend after a doubtful attempt is counted as a blind resend"
    """How the adapter finds out whether a message whose attempt ended in doubt arrived (for people)."""
    settings: tuple[str, ...] = ()
    """The environment variables the channel reads (``CLARION_SENDGRID_API_KEY``…)."""
    sandboxed: Callable[[Settings], bool] = field(default=lambda settings: False)
    """True when the settings leave the provider's credentials unset, so the sandbox stands in."""
    provider: str | None = None
    """The provider's name in the sandbox and in webhook routes (``sendgrid``)."""
    sandbox: str | None = None
    """The sandbox double, as ``"module:attr"`` of a ``router(state) -> fastapi.APIRouter`` that speaks
    the provider's contract (named, not imported: only the sandbox loads it)."""
    templates: Path | None = None
    """The folder of the channel's templates (``<locale>/<file>``); None: ``templates/<name>/``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))
        if not self.fields:
            raise ValueError(f"channel {self.name!r}: a spec renders at least one field")
        unknown = sorted(set(self.fields) - {"body", "subject", "html"})
        if unknown:
            raise ValueError(f"channel {self.name!r}: unknown fields {', '.join(unknown)}")
        stray = sorted({limit.field for limit in self.limits} - set(self.fields))
        if stray:
            raise ValueError(
                f"channel {self.name!r}: limits on fields it does not render: {', '.join(stray)}"
            )
        if self.max_batch < 1:
            raise ValueError(f"channel {self.name!r}: max_batch must be >= 1")
        if self.thread < 1:
            raise ValueError(f"channel {self.name!r}: thread must be >= 1")
        if (self.address is not None) != (self.reach is Reach.PERSONAL):
            raise ValueError(
                f"channel {self.name!r}: a personal channel names the address it sends to, no other"
            )
        if self.reach is not Reach.SERVED and self.adapter is None:
            raise ValueError(f"channel {self.name!r}: only a served channel may have no adapter")

    @property
    def personal(self) -> bool:
        """Sent to one person at a time, in their locale and time zone."""
        return self.reach is Reach.PERSONAL

    @property
    def sent(self) -> bool:
        """The delivery engine sends it (it has an adapter)."""
        return self.adapter is not None

    @property
    def for_audiences(self) -> bool:
        """Listed under a playbook audience's channels (personal, or served to the audience)."""
        return self.reach is Reach.PERSONAL or (self.reach is Reach.SERVED and not self.public)

    @property
    def for_public(self) -> bool:
        """Listed under a playbook's ``public_channels``."""
        return self.reach is Reach.BROADCAST or (self.reach is Reach.SERVED and self.public)
