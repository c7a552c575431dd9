"""The demo's commitments: promised at resolution, one shipped, told as "you asked, we built it".

The resolution names two prevention commitments (in the facts' ``commitments``, due in two and four
weeks of the incident's clock). After the survey the platform lead ships the first, as
``clarion commitments ship … --asked`` does: the change is recorded, then a ``commitment-shipped`` run
publishes the follow-up update on every channel and the status page, which the demo waits for and
counts in the store.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from faces.console import console

out = console()
STEP_TIMEOUT = 180.0
OWNER = "platform-lead@acme.example"
BUILT_NOTE = "Storage permission changes now need a second reviewer, enforced by our deployment pipeline."


def incident_now(engine: Any, reference: str) -> Any:
    """Now on the incident's clock (which runs faster than the wall clock in the demo)."""
    from sqlmodel import Session, select

    from clarion.incidents.clock import IncidentClock
    from clarion.models import Incident
    from clarion.settings import get_settings

    with Session(engine) as session:
        incident = session.exec(select(Incident).where(Incident.reference == reference)).one()
        return IncidentClock(incident.declared_at, get_settings().time_scale).now()


def promised(engine: Any, reference: str) -> list[dict[str, Any]]:
    """The two commitments the resolution names, due two and four weeks from the incident's now."""
    now = incident_now(engine, reference)
    return [
        {
            "id": "C1",
            "owner": OWNER,
            "due": (now + timedelta(days=14)).date().isoformat(),
            "text": {
                "en": "Every change to storage permissions gets a second reviewer.",
                "de": "Jede Änderung an Speicherberechtigungen bekommt eine zweite Prüfung.",
            },
        },
        {
            "id": "C2",
            "owner": "commander@acme.example",
            "due": (now + timedelta(days=28)).date().isoformat(),
            "text": {
                "en": "An alarm fires within a minute when any bucket becomes public.",
                "de": "Ein Alarm meldet binnen einer Minute, wenn ein Speicher öffentlich wird.",
            },
        },
    ]


def ship_and_tell(api: Any, stack: Any, engine: Any, reference: str) -> None:
    """Ship C1 and wait for its follow-up to be published; say how many it reached."""
    from sqlmodel import Session, col, func, select

    from clarion.commitments import changes
    from clarion.incidents.clock import IncidentClock
    from clarion.kinds import DeliveryState, UpdateKind
    from clarion.models import Delivery, Incident, Update
    from clarion.settings import get_settings
    from flows.deployments import COMMITMENT_SHIPPED

    with Session(engine, expire_on_commit=False) as session:
        incident = session.exec(select(Incident).where(Incident.reference == reference)).one()
        now = IncidentClock(incident.declared_at, get_settings().time_scale).now()
        changes.ship(
            session=session, reference=reference, key="C1", note=BUILT_NOTE, asked=True, actor=OWNER, now=now
        )
    out.print(
        f"· commitment C1 shipped (`clarion commitments ship {reference} C1 --note … --asked`); "
        "C2 stays planned, its owner will be reminded before its day",
        markup=False,
    )
    run = api.create_run(COMMITMENT_SHIPPED.full_name, {"reference": reference, "key": "C1"})
    deadline = time.monotonic() + STEP_TIMEOUT
    while (state := api.read_run(run.id).state_type) not in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
        stack.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"the follow-up run did not finish within {STEP_TIMEOUT:.0f} s")
        time.sleep(0.3)
    if state != "COMPLETED":
        raise TimeoutError(f"the follow-up run ended {state}")
    done = (DeliveryState.ACCEPTED, DeliveryState.DELIVERED)
    with Session(engine) as session:
        counts = session.exec(
            select(Delivery.channel, func.count())
            .join(Update, col(Update.id) == col(Delivery.update_id))
            .where(Update.incident_id == incident.id, Update.kind == UpdateKind.BUILT)
            .where(col(Delivery.state).in_(done))
            .group_by(Delivery.channel)
        ).all()
    told = ", ".join(f"{channel}: {n}" for channel, n in sorted(counts, key=lambda c: str(c[0])))
    out.print(
        f'· "you asked, we built it" went out as an update of its own: {told or "nothing accepted"}',
        markup=False,
    )
