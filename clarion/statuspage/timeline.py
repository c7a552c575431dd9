"""One incident (or maintenance) as its page and the home page's card show it: the story, every
update, what changed between them, the promise of the next one and a human to talk to.

**Parts carried forward.** An update that does not repeat a part (a holding statement, say, or a
short follow-up) has not un-told it: the part shows as last told, marked with the update it came
from, instead of "we are still investigating" after the cause was published. A part never told is
said to be unknown, in the page's words (the ``unknown.*`` page strings), never left blank. A part
not told in the reader's language is shown in the one it was told in, marked with its ``lang``.

**What changed** compares each update with what the public knew just before it: the status, the
state of each component it names, and which parts are told for the first time or told differently.
Pure functions of the snapshot and a language: the static export gets the same page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from clarion.kinds import IncidentStatus, UpdateKind
from clarion.statuspage.components import Catalogue, ComponentStatus
from clarion.statuspage.promises import CommitmentView, commitment_views
from clarion.statuspage.record import PARTS, PublicIncident, PublishedUpdate
from clarion.statuspage.state import (
    STATUS_IMPACT,
    MaintenanceStatus,
    impact_of,
    maintenance_status,
    worst_impact,
)
from clarion.statuspage.wording import Stamp, Wording


@dataclass(frozen=True)
class StoryPart:
    """One of the four parts: its paragraphs (none: not known yet) and, when an earlier update told
    it, which one."""

    name: str
    paragraphs: tuple[str, ...]
    lang: str | None = None
    """The language it was told in, when not the page's."""
    told_in: int | None = None
    told_at: Stamp | None = None

    @property
    def known(self) -> bool:
        return bool(self.paragraphs)


@dataclass(frozen=True)
class ComponentState:
    id: str
    name: str
    state: ComponentStatus


@dataclass(frozen=True)
class ComponentChange:
    name: str
    before: ComponentStatus
    after: ComponentStatus


@dataclass(frozen=True)
class Changes:
    """What an update changed since the one before it."""

    status: tuple[IncidentStatus, IncidentStatus] | None
    components: tuple[ComponentChange, ...]
    new_parts: tuple[str, ...]
    changed_parts: tuple[str, ...]

    @property
    def anything(self) -> bool:
        return bool(self.status or self.components or self.new_parts or self.changed_parts)


@dataclass(frozen=True)
class UpdateView:
    number: int
    kind: UpdateKind
    status: IncidentStatus
    label: str
    """The page-string key of what this update was (its status, or a maintenance step)."""
    published: Stamp
    parts: tuple[StoryPart, ...]
    components: tuple[ComponentState, ...]
    promise: Stamp | None
    """The next update it promised (none for the last word on a closed matter)."""
    changes: Changes | None
    """None for the first update: nothing came before it."""

    @property
    def anchor(self) -> str:
        return f"update-{self.number}"


@dataclass(frozen=True)
class ContactView:
    phone: str | None
    tel: str | None
    email: str | None
    url: str | None
    hours: str | None

    @property
    def anything(self) -> bool:
        return bool(self.phone or self.email or self.url)


@dataclass(frozen=True)
class Promise:
    """The next update we promised, and whether the promise is already broken."""

    by: Stamp
    late: bool


@dataclass(frozen=True)
class IncidentView:
    reference: str
    title: str
    href: str
    status: IncidentStatus
    impact: str
    maintenance: MaintenanceStatus | None
    """The maintenance's status, or None for an incident."""
    window: tuple[Stamp, Stamp] | None
    started: Stamp
    ended: Stamp | None
    components: tuple[ComponentState, ...]
    story: tuple[StoryPart, ...]
    """The latest story, every part as last told."""
    updates: tuple[UpdateView, ...]
    """Newest first, as on Statuspage: the reader comes for the latest word."""
    promise: Promise | None
    contact: ContactView
    commitments: tuple[CommitmentView, ...] = ()
    """What we promised to change, with where each stands."""

    @property
    def is_open(self) -> bool:
        return self.ended is None

    @property
    def latest(self) -> UpdateView:
        return self.updates[0]

    @property
    def label(self) -> str:
        return f"maintenance.{self.maintenance}" if self.maintenance else f"status.{self.status}"


def paragraphs(text: str | None) -> tuple[str, ...]:
    """Blank lines part paragraphs; whitespace-only text is no text."""
    if not text:
        return ()
    blocks = (" ".join(line.strip() for line in block.splitlines()) for block in text.split("\n\n"))
    return tuple(b.strip() for b in blocks if b.strip())


def contact_view(update: PublishedUpdate) -> ContactView:
    given = update.contact
    phone = given.get("phone")
    url = given.get("url")
    return ContactView(
        phone=phone,
        tel="tel:" + "".join(c for c in phone if c.isdigit() or c == "+") if phone else None,
        email=given.get("email"),
        url=url if url and url.startswith(("https://", "http://")) else None,
        hours=given.get("hours"),
    )


def component_states(given: dict[str, ComponentStatus], catalogue: Catalogue) -> tuple[ComponentState, ...]:
    """Named components in the catalogue's order (names it does not list last, as written)."""
    listed = catalogue.by_id()
    order = {cid: index for index, cid in enumerate(listed)}
    ids = sorted(given, key=lambda cid: (order.get(cid, len(order)), cid))
    return tuple(ComponentState(c, listed[c].name if c in listed else c, given[c]) for c in ids)


def touched(incident: PublicIncident) -> dict[str, ComponentStatus]:
    """The components to name: while an incident is open, those its latest update names, as it
    states them; once over (or for a maintenance), every one it ever named, at its worst."""
    if not incident.resolved and not incident.is_maintenance:
        return incident.latest.components
    worst: dict[str, ComponentStatus] = {}
    for update in incident.updates:
        for cid, state in update.components.items():
            if cid not in worst or state.rank > worst[cid].rank:
                worst[cid] = state
    return worst


def impact(incident: PublicIncident) -> str:
    """Statuspage's impact, over the whole incident: a resolving update that names no component
    does not make a past major outage minor."""
    return worst_impact([impact_of(incident), *(STATUS_IMPACT[s] for s in touched(incident).values())])


Told = tuple[str, str]
"""A part's text and the language it was told in."""


def _told(update: PublishedUpdate, part: str, locale: str) -> Told | None:
    """The text :meth:`PublishedUpdate.text` shows for ``locale``, and which language that is."""
    text = update.text(part, locale)
    if text is None:
        return None
    given = update.parts.get(part) or {}
    spoken = (c for c in (locale, "en", *given) if any((given.get(c) or {}).values()))
    return text, next(spoken, locale)


def _other(lang: str, locale: str) -> str | None:
    return None if lang == locale else lang


def _carried(known: Told | None, locale: str) -> tuple[tuple[str, ...], str | None]:
    return (paragraphs(known[0]), _other(known[1], locale)) if known else ((), None)


def _label(incident: PublicIncident, update: PublishedUpdate) -> str:
    if not incident.is_maintenance:
        return f"status.{update.status}"
    if update.status is IncidentStatus.RESOLVED:
        return f"maintenance.{MaintenanceStatus.COMPLETED}"
    return "maintenance.announced" if update.number == incident.first.number else "maintenance.update"


def _changes(
    before: PublishedUpdate, after: PublishedUpdate, known: dict[str, Told], said: dict[str, Told],
    catalogue: Catalogue, maintenance: bool,
) -> Changes:  # fmt: skip
    status = (before.status, after.status) if before.status != after.status and not maintenance else None
    names = {c.id: c.name for c in component_states({**before.components, **after.components}, catalogue)}
    moved = tuple(
        ComponentChange(
            name,
            before.components.get(cid, ComponentStatus.OPERATIONAL),
            after.components.get(cid, ComponentStatus.OPERATIONAL),
        )
        for cid, name in names.items()
        if before.components.get(cid) != after.components.get(cid)
    )
    new = tuple(p for p in PARTS if p in said and p not in known)
    changed = tuple(p for p in PARTS if p in said and p in known and said[p][0] != known[p][0])
    return Changes(status, moved, new, changed)


def incident_view(
    incident: PublicIncident, catalogue: Catalogue, now: datetime, words: Wording
) -> IncidentView:
    """The page of ``incident`` in ``words``' language, as the snapshot taken at ``now`` sees it."""
    locale = words.locale
    maintenance = incident.is_maintenance
    known: dict[str, Told] = {}
    told: dict[str, tuple[int, Stamp]] = {}
    views: list[UpdateView] = []
    previous: PublishedUpdate | None = None
    for update in incident.updates:
        published = words.moment(update.published_at)
        said = {p: given for p in PARTS if (given := _told(update, p, locale))}
        changes = _changes(previous, update, known, said, catalogue, maintenance) if previous else None
        parts = tuple(
            StoryPart(p, paragraphs(said[p][0]), _other(said[p][1], locale))
            if p in said
            else StoryPart(p, *_carried(known.get(p), locale), *told.get(p, (None, None)))
            for p in PARTS
        )
        known.update(said)
        told.update(dict.fromkeys(said, (update.number, published)))
        closing = update.status is IncidentStatus.RESOLVED
        views.append(
            UpdateView(
                number=update.number,
                kind=update.kind,
                status=update.status,
                label=_label(incident, update),
                published=published,
                parts=parts,
                components=component_states(update.components, catalogue),
                promise=None if closing else words.moment(update.next_update_by),
                changes=changes,
            )
        )
        previous = update
    latest = incident.latest
    ended = incident.ended_at
    window = incident.window
    return IncidentView(
        reference=incident.reference,
        title=incident.title_in(locale),
        href=f"/incidents/{incident.reference}",
        status=incident.status,
        impact=impact(incident),
        maintenance=maintenance_status(incident, now) if maintenance else None,
        window=(words.moment(window.starts_at), words.moment(window.ends_at)) if window else None,
        started=words.moment(incident.first.published_at),
        ended=words.moment(ended) if ended else None,
        components=component_states(touched(incident), catalogue),
        story=views[-1].parts,
        updates=tuple(reversed(views)),
        promise=None
        if incident.resolved
        else Promise(words.moment(latest.next_update_by), latest.next_update_by <= now),
        contact=contact_view(latest),
        commitments=commitment_views(incident.commitments, now, words),
    )
