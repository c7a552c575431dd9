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

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion import audience as audiences
from clarion import audit
from clarion.audience import AudienceSummary, RecipientRow
from clarion.compose import promised_next_update
from clarion.consistency import preflight
from clarion.errors import InputError, NotFound, Problem
from clarion.facts import Facts
from clarion.kinds import Channel, IncidentStatus, UpdateKind, UpdateState
from clarion.models import Incident, IncidentCreate, UpdateCreate, utcnow
from clarion.models import Rendition as RenditionRow
from clarion.models import Update as UpdateRow
from clarion.outbox.fanout import (
    AudiencePlan,
    FanOutCount,
    enqueue_audience,
    enqueue_broadcast,
    store_renditions,
)
from clarion.playbook import Playbook
from clarion.render import Renderer, Rendition
from clarion.settings import Settings
from clarion.store import add_update, create_incident

PERSONAL = (Channel.EMAIL, Channel.SMS)
OUTBOX_BROADCAST = (Channel.MASTODON, Channel.BLUESKY)


@dataclass(frozen=True)
class Source:
    """Where an audience's recipients come from."""

    csv: Path | None = None
    sql: str | None = None
    database_url: str | None = None

    def check(self) -> AudienceSummary:
        if self.csv is not None:
            return audiences.check_csv(self.csv)
        assert self.sql is not None and self.database_url is not None
        return audiences.check_sql(self.database_url, self.sql)

    def rows(self) -> Iterator[RecipientRow]:
        if self.csv is not None:
            return audiences.read_csv(self.csv)
        assert self.sql is not None and self.database_url is not None
        return audiences.read_sql(self.database_url, self.sql)


@dataclass
class Staged:
    incident_id: int
    update_id: int
    renditions: int
    audiences: dict[str, FanOutCount] = field(default_factory=dict)
    broadcasts: int = 0

    @property
    def planned(self) -> int:
        return sum(c.planned for c in self.audiences.values()) + self.broadcasts


def playbook_sources(playbook: Playbook, playbook_path: Path, settings: Settings) -> dict[str, Source]:
    """The sources the playbook names (CSV paths are relative to the playbook file)."""
    found: dict[str, Source] = {}
    for name, spec in playbook.audiences.items():
        if spec.source is None:
            continue
        if spec.source.csv is not None:
            found[name] = Source(csv=(playbook_path.parent / spec.source.csv))
        else:
            url = settings.audience_database_url or settings.effective_database_url
            found[name] = Source(sql=spec.source.sql, database_url=url)
    return found


@dataclass
class Draft:
    """An update stored with its renditions, checked and ready for approval; nothing enqueued yet."""

    incident_id: int
    update_id: int
    number: int
    renditions: list[Rendition]
    """What each channel will say, as rendered (for previews)."""


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
) -> Draft:
    """Steps 1 and 2, then store: check every audience row, render and preflight every rendition,
    and store the update (in ``state``) with its renditions. Raises before storing anything when a
    row or a rendition is wrong."""
    rendered, next_update_by = _render_checked(playbook, facts, settings, sources, renderer)
    incident_id, update_id, number = _store_update(
        engine, playbook, facts, kind, next_update_by, state=state, commander=commander
    )
    store_renditions(engine=engine, update_id=update_id, renditions=rendered)
    return Draft(incident_id, update_id, number, rendered)


def enqueue_update(
    *,
    engine: sa.Engine,
    playbook: Playbook,
    update_id: int,
    settings: Settings,
    sources: Mapping[str, Source],
) -> Staged:
    """Step 3: write one outbox row per message of a drafted (and approved) update, and mark it
    published. The audiences are checked again first: a recipient who needs a locale or time zone
    the draft has no rendition for stops the update before any row is written."""
    summaries = _check_sources(playbook, sources)
    public_zone = _public_zone(playbook, settings)
    with Session(engine, expire_on_commit=False) as session:
        update = session.get(UpdateRow, update_id)
        if update is None:
            raise NotFound("update", str(update_id))
        if update.state is not UpdateState.APPROVED:
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
        ids = {
            (r.channel, r.locale, r.time_zone): r.id
            for r in session.exec(select(RenditionRow).where(RenditionRow.update_id == update_id))
            if r.id is not None
        }
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
    for name, spec in playbook.audiences.items():
        if name in sources:
            plan = AudiencePlan(
                update_id=update_id,
                audience=name,
                channels=spec.channels,
                renditions=ids,
                locales=playbook.locales,
                default_time_zone=public_zone,
                mandatory_reason=spec.mandatory,
            )
            staged.audiences[name] = enqueue_audience(engine=engine, plan=plan, rows=sources[name].rows())
        if Channel.BANNER in spec.channels:
            for locale in playbook.locales:
                enqueue_broadcast(
                    engine=engine,
                    update_id=update_id,
                    channel=Channel.BANNER,
                    audience=name,
                    rendition_id=ids[(Channel.BANNER, locale, public_zone)],
                    scope=f"{name}.{locale}",
                )
                staged.broadcasts += 1
    for channel in playbook.public_channels:
        if channel in OUTBOX_BROADCAST:
            for locale in playbook.locales:
                enqueue_broadcast(
                    engine=engine,
                    update_id=update_id,
                    channel=channel,
                    rendition_id=ids[(channel, locale, public_zone)],
                    scope=locale,
                )
                staged.broadcasts += 1
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
) -> Staged:
    """Check, render and enqueue one update to every audience and public channel of the playbook
    (no approval step: the draft is enqueued at once)."""
    draft = draft_update(
        engine=engine,
        playbook=playbook,
        facts=facts,
        settings=settings,
        sources=sources,
        kind=kind,
        state=UpdateState.APPROVED,
        renderer=renderer,
    )
    return enqueue_update(
        engine=engine, playbook=playbook, update_id=draft.update_id, settings=settings, sources=sources
    )


def _render_checked(
    playbook: Playbook,
    facts: Facts,
    settings: Settings,
    sources: Mapping[str, Source],
    renderer: Renderer | None,
) -> tuple[list[Rendition], datetime]:
    """Check every audience row, render every rendition they and the public channels need, and run
    the preflight (limits and consistency) over all of them; raises before anything is stored."""
    summaries = _check_sources(playbook, sources)
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


def _check_sources(playbook: Playbook, sources: Mapping[str, Source]) -> dict[str, AudienceSummary]:
    unknown = sorted(set(sources) - set(playbook.audiences))
    if unknown:
        raise InputError(
            [Problem(playbook.name, None, "audiences", f"no audience named {n!r}") for n in unknown]
        )
    return {name: source.check() for name, source in sources.items()}  # every row checked


def _public_zone(playbook: Playbook, settings: Settings) -> str:
    return playbook.public_time_zone or settings.public_time_zone


def _wanted(
    playbook: Playbook, summaries: Mapping[str, AudienceSummary], public_zone: str
) -> set[tuple[Channel, str, str]]:
    """Every (channel, locale, time zone) the audiences and the public channels need."""
    wanted: set[tuple[Channel, str, str]] = set()
    for name, spec in playbook.audiences.items():
        for channel in spec.channels:
            if channel in PERSONAL and name in summaries:
                for locale, zone in summaries[name].variants:
                    use = locale if locale in playbook.locales else playbook.locales[0]
                    wanted.add((channel, use, zone or public_zone))
            elif channel is Channel.BANNER:
                wanted.update((channel, locale, public_zone) for locale in playbook.locales)
    for channel in playbook.public_channels:
        if channel in OUTBOX_BROADCAST:
            wanted.update((channel, locale, public_zone) for locale in playbook.locales)
    return wanted


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


def _store_update(
    engine: sa.Engine,
    playbook: Playbook,
    facts: Facts,
    kind: UpdateKind,
    next_update_by: datetime,
    *,
    state: UpdateState,
    commander: str | None,
) -> tuple[int, int, int]:
    with Session(engine, expire_on_commit=False) as session:
        incident = session.exec(select(Incident).where(Incident.reference == facts.reference)).first()
        if incident is None:
            incident = create_incident(
                session=session,
                incident_in=IncidentCreate(
                    reference=facts.reference,
                    playbook=playbook.name,
                    severity=facts.severity,
                    title=facts.title,
                    status=facts.status,
                    aware_at=facts.aware_at or facts.as_of,
                    started_at=facts.started_at,
                    public_time_zone=playbook.public_time_zone or "UTC",
                    commander=commander,
                ),
            )
        content, digest = _content(facts, kind, next_update_by)
        update = add_update(
            session=session, incident=incident, update_in=UpdateCreate.model_validate(content)
        )
        update.state = state
        update.content_hash = digest
        session.add_all([incident, update])
        session.commit()
        assert incident.id is not None and update.id is not None
        return incident.id, update.id, update.number


def _content(facts: Facts, kind: UpdateKind, next_update_by: datetime) -> tuple[dict[str, Any], str]:
    """An update's stored content (the four parts per locale, the facts) and its sha256."""
    parts = {
        part: {
            loc: {"text": getattr(s, part).text, "short": getattr(s, part).short}
            for loc, s in facts.story.items()
        }
        for part in ("apology", "cause", "fix", "prevention")
    }
    stored_facts = json.loads(facts.model_dump_json())
    canonical = json.dumps({"parts": parts, "facts": stored_facts}, sort_keys=True, ensure_ascii=False)
    content = {
        "kind": kind,
        "status": facts.status,
        "next_update_by": next_update_by,
        "facts": stored_facts,
        **parts,
    }
    return content, hashlib.sha256(canonical.encode()).hexdigest()


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
        content, digest = _content(facts, update.kind, next_update_by)
        for name, value in UpdateCreate.model_validate(content).model_dump().items():
            setattr(update, name, value)
        update.content_hash = digest
        session.execute(sa.delete(RenditionRow).where(col(RenditionRow.update_id) == update_id))
        session.add(update)
        session.commit()
        incident_id, number = update.incident_id, update.number
    store_renditions(engine=engine, update_id=update_id, renditions=rendered)
    return Draft(incident_id, update_id, number, rendered)
