"""A rendition: one channel × locale × time zone rendering of an update, and the key facts it carries.

Made by :class:`clarion.updates.render.Renderer`; checked by :mod:`clarion.updates.consistency`
(the key facts, the four parts) and stored by the outbox's fan-out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from clarion.kinds import Channel, IncidentStatus
from clarion.playbook import Part
from clarion.story.marks import POINTERS
from clarion.updates.limits import Measurement


@dataclass(frozen=True)
class Carried:
    """The key facts every rendition of one update must carry, identically."""

    reference: str
    status: IncidentStatus
    next_update_by: datetime
    link: str

    def as_json(self) -> dict[str, str]:
        return {
            "reference": self.reference,
            "status": self.status.value,
            "next_update_by": self.next_update_by.astimezone(UTC).isoformat(),
            "link": self.link,
        }


@dataclass(frozen=True)
class Rendition:
    """One channel × locale × time zone rendering of an update, measured against its limits."""

    channel: Channel
    locale: str
    time_zone: str
    fields: Mapping[str, str]
    carried: Carried
    markers: Mapping[str, str] = field(default_factory=dict)
    measurements: tuple[Measurement, ...] = ()
    told: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Per field, the text each story block showed, as read (:mod:`clarion.story.marks`)."""
    pointed: tuple[Part, ...] = ()
    """The parts left to the pointer to the status page, because the whole story did not fit."""
    expected: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per part the facts tell in this locale, the texts of which one its block must show."""
    thread: tuple[str, ...] = ()
    """Replies to the body, in order, on a channel that threads (``ChannelSpec.thread``): one for
    each part the body leaves to its pointer, telling it as the whole story would have."""

    @property
    def subject(self) -> str | None:
        return self.fields.get("subject")

    @property
    def body(self) -> str:
        return self.fields.get("body", "")

    @property
    def can_point(self) -> bool:
        """Whether the templates have a pointer block, so parts can be left to it."""
        return any(POINTERS in blocks for blocks in self.told.values())

    @property
    def fits(self) -> bool:
        return all(m.fits for m in self.measurements)

    @property
    def binding(self) -> Measurement | None:
        """The measurement that matters most: the first one over its limit, else the first one."""
        over = [m for m in self.measurements if not m.fits]
        return over[0] if over else (self.measurements[0] if self.measurements else None)
