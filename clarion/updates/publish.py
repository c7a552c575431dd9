"""Stage an update for delivery: check every audience, render what they need, fill the outbox.

:func:`stage_update` is the one domain entry point between "an approved update" and "workers send
it". It does the three steps in the order that keeps the promise *validate everything before
sending anything*:

1. read every audience source in full (CSV file or SQL query) and collect the problems of all rows,
   and the locale × time zone pairs its recipients need;
2. render every rendition those pairs and the broadcast channels need, and run the preflight
   (limits and consistency) over all of them;
3. only then store the update and its renditions and write one outbox row per message.

The status page is not an outbox channel: it is served from the store by the web app.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion import audit
from clarion.audiences.audience import AudienceSummary
from clarion.audiences.sources import Source, check_sources
from clarion.channel_table import spec_of
from clarion.errors import InputError, NotFound, Problem
from clarion.facts import Facts, check_components
from clarion.kinds import Channel, IncidentStatus, UpdateKind, UpdateState
from clarion.models import Incident, UpdateCreate, utcnow
from clarion.models import Rendition as RenditionRow
from clarion.models import Update as UpdateRow
from clarion.outbox import quiet_hours
from clarion.outbox.addresses import staging_mark
from clarion.outbox.fanout import (
    AudiencePlan,
    FanOutCount,
    enqueue_audience,
    enqueue_broadcast,
    store_renditions,
)
from clarion.outbox.prepared import Preparation
from clarion.playbook import Playbook
from clarion.settings import Settings
from clarion.updates import drafts
from clarion.updates.compose import promised_next_update
from clarion.updates.consistency import preflight
from clarion.updates.render import Renderer
from clarion.updates.rendition import Rendition

VOLUNTARY = frozenset({UpdateKind.BUILT})
"""Kinds of update no law or safety requires: they honour every unsubscribe, even to an audience whose
messages are otherwise mandatory ("you asked, we built it" is a courtesy, not a breach notice)."""


def in_scope(
    playbook: Playbook, sources: Mapping[str, Source], kind: UpdateKind
) -> tuple[Playbook, Mapping[str, Source]]:
    """The playbook and audiences an update of ``kind`` goes to: an acknowledgement goes out before
    any approval, so only on its own channels, and reads no audience (it reaches nobody in person)."""
    if kind is UpdateKind.ACKNOWLEDGEMENT and playbook.acknowledgement is not None:
        return playbook.acknowledging(), {}
    return playbook, sources


@dataclass
class Staged:
    incident_id: int
    update_id: int
    renditions: int
    audiences: dict[str, FanOutCount] = field(default_factory=dict)
    broadcasts: int = 0
    existing: bool = False
    """The update was staged before with the same facts: only missing messages were added."""
    number: int = 0
    """The update's number within its incident."""

    @property
    def planned(self) -> int:
        return sum(c.planned for c in self.audiences.values()) + self.broadcasts


@dataclass
class Draft:
    """An update stored with its renditions, checked and ready for approval; nothing enqueued yet."""

    incident_id: int
    update_id: int
    number: int
    renditions: list[Rendition]
    """What each channel will say, as rendered (for previews)."""
    existing: bool = False
    """The same content was drafted before (:mod:`clarion.updates.drafts`): this is that update."""


def draft_update(
    *,
    engine: sa.Engine,
    playbook: Playbook,
    facts: Facts,
    settings: Settings,
    sources: Mapping[str, Source],
    kind: UpdateKind = UpdateKind.UPDATE,
    state: UpdateState = UpdateState.DRAFT,
    renderer: Renderer | None = None,
    commander: str | None = None,
    new_update: bool = True,
    source: str = "facts",
) -> Draft:
    """Steps 1 and 2, then store: check every audience row, render and preflight every rendition,
    and store the update (in ``state``) with its renditions. Raises before storing anything when a
    row or a rendition is wrong. The same content for the same incident is the update already
    stored (see :mod:`clarion.updates.drafts`, also for ``new_update``; ``source`` names the facts)."""
    playbook, sources = in_scope(playbook, sources, kind)
    rendered, next_update_by = _render_checked(playbook, facts, settings, sources, renderer)
    stored = drafts.store_update(
        engine,
        playbook,
        facts,
        kind,
        next_update_by,
        state=state,
        commander=commander,
        new_update=new_update,
        source=source,
    )
    store_renditions(engine=engine, update_id=stored.update_id, renditions=rendered)  # idempotent
    return Draft(stored.incident_id, stored.update_id, stored.number, rendered, existing=stored.existing)


def enqueue_update(
    *,
    engine: sa.Engine,
    playbook: Playbook,
    update_id: int,
    settings: Settings,
    sources: Mapping[str, Source],
    preparation: Preparation | None = None,
) -> Staged:
    """Step 3: write one outbox row per message of a drafted (and approved) update, and mark it
    published. The audiences are checked again first: a recipient who needs a locale or time zone
    the draft has no rendition for stops the update before any row is written. With ``preparation``
    each provider request's body is built as it is sealed (:mod:`clarion.outbox.prepared`), so
    every attempt sends it as built; without, a claim builds it from the rows."""
    public_zone = _public_zone(playbook, settings)
    with Session(engine, expire_on_commit=False) as session:
        update = session.get(UpdateRow, update_id)
        if update is None:
            raise NotFound("update", str(update_id))
        republish = update.state is UpdateState.PUBLISHED  # staged again: add only what is missing
        if update.state is not UpdateState.APPROVED and not republish:
            raise InputError(
                [
                    Problem(
                        playbook.name,
                        None,
                        "update",
                        f"update {update.number} is {update.state.value}: only an approved update is sent",
                    )
                ]
            )
        incident_id = update.incident_id
        playbook, sources = in_scope(playbook, sources, update.kind)
        required = update.kind not in VOLUNTARY
        severity, status = update.facts.get("severity"), update.status
        touched = _touched(update.facts)
        ids = {
            (r.channel, r.locale, r.time_zone): r.id
            for r in session.exec(select(RenditionRow).where(RenditionRow.update_id == update_id))
            if r.id is not None
        }
    summaries = check_sources(playbook, sources, touched)
    missing = sorted(_wanted(playbook, summaries, public_zone) - set(ids))
    if missing:
        raise InputError(
            [
                Problem(
                    playbook.name,
                    None,
                    "audiences",
                    f"no {c.value} rendition in {loc}, {tz}: "
                    "the audience changed since the draft; post the update again",
                )
                for c, loc, tz in missing
            ]
        )
    staged = Staged(incident_id, update_id, renditions=len(ids))
    mark = staging_mark(engine)  # what this run writes lies above: a merge, not "already staged"
    for name, spec in playbook.audiences.items():
        if name in sources:
            mandatory = spec.mandatory if required else None
            plan = AudiencePlan(
                update_id=update_id,
                audience=name,
                channels=spec.channels,
                renditions=ids,
                locales=playbook.locales,
                default_time_zone=public_zone,
                mandatory_reason=mandatory,
                quiet=quiet_hours.plan_for(playbook, severity=severity, status=status, mandatory=mandatory),
                fallback_after=int(spec.fallback_after.total_seconds()) if spec.fallback_after else None,
                request_size=settings.outbox_claim_size,
            )
            staged.audiences[name] = enqueue_audience(
                engine=engine,
                plan=plan,
                rows=sources[name].rows(touched),
                since=mark,
                preparation=preparation,
            )
        for channel in _served_and_sent(spec.channels):  # the banner: one message per audience and locale
            for locale in playbook.locales:
                enqueue_broadcast(
                    engine=engine,
                    update_id=update_id,
                    channel=channel,
                    audience=name,
                    rendition_id=ids[(channel, locale, public_zone)],
                    scope=f"{name}.{locale}",
                )
                staged.broadcasts += 1
    for channel in playbook.public_channels:
        if spec_of(channel).sent:  # Mastodon, Bluesky; the status page is served from the store
            for locale in playbook.locales:
                enqueue_broadcast(
                    engine=engine,
                    update_id=update_id,
                    channel=channel,
                    rendition_id=ids[(channel, locale, public_zone)],
                    scope=locale,
                )
                staged.broadcasts += 1
    if not republish:
        _mark_published(engine, update_id)
    return staged


def stage_update(
    *,
    engine: sa.Engine,
    playbook: Playbook,
    facts: Facts,
    settings: Settings,
    sources: Mapping[str, Source],
    kind: UpdateKind = UpdateKind.UPDATE,
    renderer: Renderer | None = None,
    new_update: bool = False,
    source: str = "facts",
    preparation: Preparation | None = None,
) -> Staged:
    """Check, render and enqueue one update to every audience and public channel of the playbook
    (no approval step: the draft is enqueued at once). Staging the same facts again is the same
    update, and adds only messages that are missing; different facts for an incident that has an
    update already need ``new_update`` (:mod:`clarion.updates.drafts`). ``preparation``: see
    :func:`enqueue_update`."""
    draft = draft_update(
        engine=engine,
        playbook=playbook,
        facts=facts,
        settings=settings,
        sources=sources,
        kind=kind,
        state=UpdateState.APPROVED,
        renderer=renderer,
        new_update=new_update,
        source=source,
    )
    staged = enqueue_update(
        engine=engine,
        playbook=playbook,
        update_id=draft.update_id,
        settings=settings,
        sources=sources,
        preparation=preparation,
    )
    staged.existing, staged.number = draft.existing, draft.number
    return staged


def check_draft(
    *, playbook: Playbook, facts: Facts, settings: Settings, sources: Mapping[str, Source]
) -> None:
    """Everything :func:`draft_update` checks (every audience row, every rendition's limits and
    consistency), storing nothing: a declaration runs it before it creates the incident."""
    _render_checked(playbook, facts, settings, sources, None)


def _render_checked(
    playbook: Playbook,
    facts: Facts,
    settings: Settings,
    sources: Mapping[str, Source],
    renderer: Renderer | None,
) -> tuple[list[Rendition], datetime]:
    """Check every audience row, render every rendition they and the public channels need, and run
    the preflight (limits and consistency) over all of them; raises before anything is stored."""
    check_components(facts, settings.components_path)
    summaries = check_sources(playbook, sources, facts.impact.components)
    renderer = renderer or Renderer(
        playbook, settings.templates_dir, sms_max_segments=settings.sms_max_segments
    )
    next_update_by = promised_next_update(playbook, facts)
    public_zone = _public_zone(playbook, settings)
    rendered = [
        renderer.render(facts, next_update_by=next_update_by, channel=c, locale=loc, time_zone=tz)
        for c, loc, tz in sorted(_wanted(playbook, summaries, public_zone))
    ]
    preflight(rendered)
    return rendered, next_update_by


def _touched(facts: Mapping[str, object]) -> list[str]:
    """The components a stored update's facts name (status page subscribers hear of those)."""
    impact = facts.get("impact")
    touched = impact.get("components") if isinstance(impact, Mapping) else None
    return [str(c) for c in touched] if isinstance(touched, list) else []


def _public_zone(playbook: Playbook, settings: Settings) -> str:
    return playbook.public_time_zone or settings.public_time_zone


def _wanted(
    playbook: Playbook, summaries: Mapping[str, AudienceSummary], public_zone: str
) -> set[tuple[Channel, str, str]]:
    """Every (channel, locale, time zone) the audiences and the public channels need."""
    wanted: set[tuple[Channel, str, str]] = set()
    for name, spec in playbook.audiences.items():
        for channel in spec.rendered_channels:
            if spec_of(channel).personal:
                if name in summaries:
                    for locale, zone in summaries[name].variants:
                        use = locale if locale in playbook.locales else playbook.locales[0]
                        wanted.add((channel, use, zone or public_zone))
            elif spec_of(channel).sent:
                wanted.update((channel, locale, public_zone) for locale in playbook.locales)
    for channel in playbook.public_channels:
        if spec_of(channel).sent:
            wanted.update((channel, locale, public_zone) for locale in playbook.locales)
    return wanted


def _served_and_sent(channels: list[Channel]) -> list[Channel]:
    """An audience's channels that are sent once per locale rather than to each person (the banner)."""
    return [c for c in channels if not spec_of(c).personal and spec_of(c).sent]


def _mark_published(engine: sa.Engine, update_id: int) -> None:
    with Session(engine) as session:
        update = session.get(UpdateRow, update_id)
        assert update is not None
        incident = session.get(Incident, update.incident_id)
        assert incident is not None
        update.state = UpdateState.PUBLISHED
        update.published_at = utcnow()
        incident.status = update.status
        incident.severity = str(update.facts.get("severity", incident.severity))
        incident.title = str(update.facts.get("title", incident.title))
        if update.status is IncidentStatus.RESOLVED and incident.resolved_at is None:
            incident.resolved_at = update.published_at
        session.add_all([incident, update])
        audit.append(
            session=session,
            actor="clarion",
            action="update.published",
            subject=f"{incident.reference}/update-{update.number}",
            details={
                "kind": update.kind.value,
                "status": update.status.value,
                "content_hash": update.content_hash,
            },
        )
        session.commit()


def redraft_update(
    *,
    engine: sa.Engine,
    playbook: Playbook,
    update_id: int,
    facts: Facts,
    settings: Settings,
    sources: Mapping[str, Source],
    renderer: Renderer | None = None,
) -> Draft:
    """Replace a draft's content with ``facts`` (an approver's edit), checked as a new draft is.

    Only an unpublished draft can change: once published, an update is immutable and a correction
    is a new update.
    """
    rendered, next_update_by = _render_checked(playbook, facts, settings, sources, renderer)
    with Session(engine) as session:
        update = session.get(UpdateRow, update_id)
        if update is None:
            raise NotFound("update", str(update_id))
        if update.state not in (UpdateState.DRAFT, UpdateState.PENDING_APPROVAL):
            raise InputError(
                [
                    Problem(
                        playbook.name,
                        None,
                        "update",
                        f"update {update.number} is {update.state.value}: only a draft can be edited",
                    )
                ]
            )
        content, digest = drafts.content(facts, update.kind, next_update_by, playbook)
        for name, value in UpdateCreate.model_validate(content).model_dump().items():
            setattr(update, name, value)
        update.content_hash = digest
        session.execute(sa.delete(RenditionRow).where(col(RenditionRow.update_id) == update_id))
        session.add(update)
        session.commit()
        incident_id, number = update.incident_id, update.number
    store_renditions(engine=engine, update_id=update_id, renditions=rendered)
    return Draft(incident_id, update_id, number, rendered)
