"""``clarion declare``'s first word: the playbook's acknowledgement, published from the command itself.

The declare flow is a Prefect run: the runner's poll and a new Python process stand between the
command and its first line, seconds a commander watching the status page should not wait for words
that need nobody's approval. So when the playbook names an acknowledgement, the command opens the
incident and publishes the acknowledgement in the store (the status page shows it at once), sends
the banner's rows, and then starts the flow with the incident's reference; the flow takes the
incident as it finds it (:func:`clarion.incidents.lifecycle.acknowledged_only`) and declares the
rest. Everything the command checks, it checks before this, the acknowledgement's renditions too: a
facts file with a problem, or a title too long for the banner, opens nothing.
"""

from __future__ import annotations

import time

from sqlmodel import Session

from channels.delivery import run_worker
from clarion.channel_table import spec_of
from clarion.incidents import acknowledgement
from clarion.incidents.clock import IncidentClock
from clarion.incidents.lifecycle import open_declared
from clarion.models import utcnow
from clarion.playbook import Playbook, load_playbook, resolve_playbook
from clarion.settings import get_settings
from clarion.statuspage.export import export_site
from clarion.statuspage.snapshot import take_snapshot
from clarion.store import get_engine, require_current
from faces.console import out
from flows.models import Declaration


def acknowledge_first(checked: Declaration) -> Declaration:
    """Publish the acknowledgement when the playbook names one; the declaration to start the flow
    with (naming the incident just opened), or ``checked`` unchanged."""
    settings = get_settings()
    playbook: Playbook = load_playbook(resolve_playbook(checked.playbook, settings.playbooks_dir))
    policy = playbook.acknowledgement
    if policy is None:
        return checked
    started = time.perf_counter()
    engine = require_current(get_engine())
    given = checked.facts
    acknowledgement.check(
        given.complete(reference=given.reference or "INC-0000", as_of=utcnow()), playbook, settings
    )
    with Session(engine, expire_on_commit=False) as session:
        incident = open_declared(
            session=session,
            playbook=playbook,
            facts=given,
            commander=checked.commander,
            jurisdictions=checked.jurisdictions,
        )
        session.commit()
    clock = IncidentClock(incident.declared_at, settings.time_scale)
    acknowledgement.publish(
        engine=engine, incident=incident, playbook=playbook, settings=settings, as_of=clock.now()
    )
    sent = [c for c in policy.channels if spec_of(c).sent]
    if sent:
        run_worker(settings, engine, name=f"declare-{incident.reference}", channels=sent, max_wait=0)
    if settings.statuspage_export_dir is not None:
        export_site(take_snapshot(engine, settings, utcnow()), settings.statuspage_export_dir)
    where = ", ".join(c.value for c in policy.channels)
    out.print(
        f"acknowledged {incident.reference} on {where} in {time.perf_counter() - started:.1f} s "
        "(the playbook's words: no approval needed)",
        markup=False,
    )
    return checked.model_copy(update={"facts": given.model_copy(update={"reference": incident.reference})})
