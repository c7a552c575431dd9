"""The small closed vocabularies of clarion (and the time-zone name type), shared by playbooks,
models, settings and rendering."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import timedelta
from enum import StrEnum
from importlib.metadata import entry_points
from typing import Annotated, Any, ClassVar, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema


def check_time_zone(value: str) -> str:
    """``value`` when it names an IANA time zone, else ValueError."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: "Europe" is a folder
        raise ValueError(f"{value!r} is not an IANA time zone") from exc
    return value


#: A string field that must name an IANA time zone ("Europe/Berlin").
TimeZoneName = Annotated[str, AfterValidator(check_time_zone)]


class IncidentStatus(StrEnum):
    """Where the incident stands, as customers see it (Statuspage's four public states)."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class CadenceTier(StrEnum):
    """How often we promise to speak again."""

    URGENT = "urgent"
    IMPORTANT = "important"
    ROUTINE = "routine"

    @property
    def interval(self) -> timedelta:
        return _TIER_INTERVALS[self]


_TIER_INTERVALS = {
    CadenceTier.URGENT: timedelta(hours=1),
    CadenceTier.IMPORTANT: timedelta(days=1),
    CadenceTier.ROUTINE: timedelta(weeks=1),
}


class _ChannelNames(type):
    """Iterating ``Channel`` gives every known channel: the built-in ones in their order, then those
    other packages register (``clarion.channels`` entry points), by name."""

    def __iter__(cls) -> Iterator[Channel]:
        return iter(_known_channels().values())

    def __len__(cls) -> int:
        return len(_known_channels())


class Channel(str, metaclass=_ChannelNames):
    """A way clarion reaches people: a channel's name, checked against the channels that exist.

    Not a closed enum: a package adds a channel by naming it in the ``clarion.channels`` entry-point
    group (what a channel is, its spec, lives with its adapter: :mod:`clarion.channel_table`). The
    built-in channels are constants here because the core speaks of some by name (a survey goes by
    email or SMS). ``Channel("email") is Channel.EMAIL``: one object per name, so ``is`` works as
    it did with the enum.
    """

    __slots__ = ()

    EMAIL: ClassVar[Channel]
    SMS: ClassVar[Channel]
    MASTODON: ClassVar[Channel]
    BLUESKY: ClassVar[Channel]
    BANNER: ClassVar[Channel]
    STATUSPAGE: ClassVar[Channel]

    def __new__(cls, value: object) -> Channel:
        if isinstance(value, Channel):
            return value
        known = _known_channels()
        if isinstance(value, str) and value in known:
            return known[value]
        names = ", ".join(known)
        raise ValueError(f"{value!r} is not a channel; known: {names}")

    @property
    def value(self) -> str:
        """The name, as the enum this type replaced spelled it."""
        return str.__str__(self)

    def __str__(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Channel({str.__str__(self)!r})"

    def __reduce__(self) -> tuple[type[Channel], tuple[str]]:
        return Channel, (str.__str__(self),)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls,
            core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str.__str__, when_used="always"),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "enum": [c.value for c in _known_channels().values()]}


BUILT_IN_CHANNELS: Final = ("email", "sms", "mastodon", "bluesky", "banner", "statuspage")
ENTRY_POINT_GROUP: Final = "clarion.channels"
"""Where a package names its channels: ``name = "module:SPEC"`` (see :mod:`clarion.channel_table`)."""


def _make(name: str) -> Channel:
    made = str.__new__(Channel, name)
    return made


_BUILT_IN: Final = {name: _make(name) for name in BUILT_IN_CHANNELS}
Channel.EMAIL, Channel.SMS, Channel.MASTODON, Channel.BLUESKY, Channel.BANNER, Channel.STATUSPAGE = (
    _BUILT_IN.values()
)
FALLBACK_CHANNELS: Final = {Channel.EMAIL: Channel.SMS, Channel.SMS: Channel.EMAIL}
"""Where a must-reach audience's message that did not arrive goes next (:mod:`clarion.outbox.fallback`)."""


@functools.cache
def _known_channels() -> dict[str, Channel]:
    """The built-in channels, then every other channel an installed package names, by name. Read
    from the packages' metadata only: nothing is imported."""
    known = dict(_BUILT_IN)
    added = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)} - set(known))
    known.update((name, _make(name)) for name in added)
    return known


class UpdateKind(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    """The first word at declaration, pre-approved: we know, we are on it, next update by … (the
    playbook's ``acknowledgement``; broadcast and served channels only, before any approval)."""
    INITIAL = "initial"
    UPDATE = "update"
    HOLDING = "holding"
    RESOLUTION = "resolution"
    CORRECTION = "correction"
    BUILT = "built"
    """"You asked, we built it": a prevention commitment shipped, told to the same audience."""


class UpdateState(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    PUBLISHED = "published"


class DeliveryState(StrEnum):
    """A delivery's life: pending → claimed → accepted → delivered | bounced | failed."""

    PENDING = "pending"
    CLAIMED = "claimed"
    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


class DeadlineState(StrEnum):
    OPEN = "open"
    AT_RISK = "at_risk"
    MET = "met"
    MISSED = "missed"
    WAIVED = "waived"


class CommitmentState(StrEnum):
    """Where a prevention commitment stands; shipped and dropped are final."""

    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    SHIPPED = "shipped"
    DROPPED = "dropped"


class ConsentState(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


class ApprovalDecision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    EDITED = "edited"
