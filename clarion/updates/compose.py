"""Compose an update: render every channel × locale the playbook uses, ready for preflight."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from clarion.channel_table import spec_of
from clarion.facts import Facts
from clarion.incidents.cadence import next_update_due
from clarion.playbook import Playbook
from clarion.settings import Settings
from clarion.updates.render import Renderer
from clarion.updates.rendition import Rendition


def promised_next_update(playbook: Playbook, facts: Facts) -> datetime:
    """The facts' explicit promise, or as_of plus the cadence interval for severity and status."""
    return facts.next_update_by or next_update_due(playbook, facts.severity, facts.status, facts.as_of)


def compose(
    playbook: Playbook, facts: Facts, settings: Settings, *, locales: Sequence[str] | None = None
) -> list[Rendition]:
    """One rendition per channel × locale. Personal channels (email, SMS) show times in the
    recipient's time zone when the facts name one; broadcast channels use the public time zone."""
    renderer = Renderer(playbook, settings.templates_dir, sms_max_segments=settings.sms_max_segments)
    next_update_by = promised_next_update(playbook, facts)
    public_zone = playbook.public_time_zone or settings.public_time_zone
    personal_zone = facts.recipient.time_zone or public_zone
    renditions = []
    for locale in locales or playbook.locales:
        for channel in playbook.channels:
            zone = personal_zone if spec_of(channel).personal else public_zone
            renditions.append(
                renderer.render(
                    facts, next_update_by=next_update_by, channel=channel, locale=locale, time_zone=zone
                )
            )
    return renditions
