"""The small closed vocabularies of clarion (and the time-zone name type), shared by playbooks,
models, settings and rendering."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


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


class Channel(StrEnum):
    """Every way clarion can reach people."""

    EMAIL = "email"
    SMS = "sms"
    MASTODON = "mastodon"
    BLUESKY = "bluesky"
    BANNER = "banner"
    STATUSPAGE = "statuspage"

    @property
    def personal(self) -> bool:
        """Sent to one recipient at a time (and so in the recipient's locale and time zone)."""
        return self in (Channel.EMAIL, Channel.SMS)


class UpdateKind(StrEnum):
    INITIAL = "initial"
    UPDATE = "update"
    HOLDING = "holding"
    RESOLUTION = "resolution"
    CORRECTION = "correction"


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


class ConsentState(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


class ApprovalDecision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    EDITED = "edited"
