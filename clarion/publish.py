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

import sqlalchemy as sa
from sqlmodel import Session, select

from clarion import audience as audiences
from clarion.audience import AudienceSummary, RecipientRow
from clarion.compose import promised_next_update
from clarion.consistency import preflight
from clarion.errors import InputError, Problem
from clarion.facts import Facts
from clarion.kinds import Channel, UpdateKind, UpdateState
from clarion.models import Incident, IncidentCreate, UpdateCreate, utcnow
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
    """Check, render and enqueue one update to every audience and public channel of the playbook."""
    unknown = sorted(set(sources) - set(playbook.audiences))
    if unknown:
        raise InputError(
            [Problem(playbook.name, None, "audiences", f"no audience named {n!r}") for n in unknown]
        )
    summaries = {name: source.check() for name, source in sources.items()}  # step 1: every row checked

    renderer = renderer or Renderer(
        playbook, settings.templates_dir, sms_max_segments=settings.sms_max_segments
    )
    next_update_by = promised_next_update(playbook, facts)
    public_zone = playbook.public_time_zone or settings.public_time_zone
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
    rendered: list[Rendition] = [
        renderer.render(facts, next_update_by=next_update_by, channel=c, locale=loc, time_zone=tz)
        for c, loc, tz in sorted(wanted)
    ]
    preflight(rendered)  # step 2: every rendition fits and agrees

    incident_id, update_id = _store_update(engine, playbook, facts, kind, next_update_by)  # step 3
    ids = store_renditions(engine=engine, update_id=update_id, renditions=rendered)
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
    return staged


def _store_update(
    engine: sa.Engine, playbook: Playbook, facts: Facts, kind: UpdateKind, next_update_by: datetime
) -> tuple[int, int]:
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
                ),
            )
        parts = {
            part: {
                loc: {"text": getattr(s, part).text, "short": getattr(s, part).short}
                for loc, s in facts.story.items()
            }
            for part in ("apology", "cause", "fix", "prevention")
        }
        update_in = UpdateCreate.model_validate(
            {
                "kind": kind,
                "status": facts.status,
                "next_update_by": next_update_by,
                "facts": json.loads(facts.model_dump_json()),
                **parts,
            }
        )
        update = add_update(session=session, incident=incident, update_in=update_in)
        update.state = UpdateState.PUBLISHED
        update.published_at = utcnow()
        canonical = json.dumps({"parts": parts, "facts": update.facts}, sort_keys=True, ensure_ascii=False)
        update.content_hash = hashlib.sha256(canonical.encode()).hexdigest()
        incident.status = facts.status
        session.add_all([incident, update])
        session.commit()
        assert incident.id is not None and update.id is not None
        return incident.id, update.id
