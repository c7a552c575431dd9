"""An incident with known timings, written straight into a migrated store, for the report's tests.

Awareness at ``T``. Every time below is after it:

=========  =====================================================================================
+0:05      declared
+0:30      update 1 (initial) drafted; legal approves at +0:35 (5 min), the DPO at +0:38 (8 min)
+0:40      update 1 published, promising the next by +2:00; emails to ada (delivered), bob
           (accepted at +0:40:30), cy (bounced, accepted at +0:41), dee (suppressed); the first
           email accepted at +0:40 (ada's); SMS to ada accepted at +0:42, to eve failed
+2:00      update 2 drafted; legal approves at +2:10 (10 min), the DPO at +2:20 (20 min)
+2:25      update 2 published (25 min after the promise: the one broken), promising +3:25;
           email to ada delivered
+3:20      update 3 (holding) published, promising +4:20: kept
+4:00      update 4 (resolution) published, promising +5:00 (after the resolution: not counted);
           the incident resolved
=========  =====================================================================================

GDPR Art. 33's initial notice was due at +72:00 and met at +75:00 (3 h late); Art. 34's
communication was due at +72:00 and met at +24:00 (48 h early). Commitment C1 was due on day
T + 7 and shipped on T + 6; C2 was due on T + 3 and is still in progress at :data:`NOW` (T + 10 d):
overdue. The status page and the banner showed update 1 (renditions, no deliveries).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from clarion import store
from clarion.kinds import (
    ApprovalDecision,
    Channel,
    CommitmentState,
    DeadlineState,
    DeliveryState,
    IncidentStatus,
    UpdateKind,
    UpdateState,
)
from clarion.models import (
    Approval,
    Commitment,
    Deadline,
    Delivery,
    IncidentCreate,
    Recipient,
    Rendition,
    Update,
)

T = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NOW = T + timedelta(days=10)
HOSTILE = "Checkout <script>alert(1)</script> | *down* [link](http://evil.example) `x`"


def at(hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
    return T + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def known_incident(
    engine: sa.Engine, *, reference: str = "INC-0042", title: str = "Checkout is failing", start: datetime = T
) -> str:
    """Write the incident of the module docstring (shifted to awareness at ``start``); its reference."""
    shift = start - T

    def when(hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
        return at(hours, minutes, seconds) + shift

    with store.session_scope(engine) as session:
        incident = store.create_incident(
            session=session,
            incident_in=IncidentCreate(
                reference=reference, playbook="data-breach", severity="sev1", title=title, aware_at=when()
            ),
        )
        incident.declared_at, incident.resolved_at = when(minutes=5), when(hours=4)
        incident.status = IncidentStatus.RESOLVED
        session.add(incident)
        assert incident.id is not None
        people = {}
        for name in ("ada", "bob", "cy", "dee", "eve"):
            person = Recipient(
                external_id=f"{reference}-{name}", email=f"{name}@example.com", phone_e164="+4915112345678"
            )
            session.add(person)
            session.flush()
            people[name] = person.id
        plan = [  # number, kind, drafted, published, promise
            (1, UpdateKind.INITIAL, when(minutes=30), when(minutes=40), when(hours=2)),
            (2, UpdateKind.UPDATE, when(hours=2), when(hours=2, minutes=25), when(hours=3, minutes=25)),
            (
                3,
                UpdateKind.HOLDING,
                when(hours=3, minutes=20),
                when(hours=3, minutes=20),
                when(hours=4, minutes=20),
            ),
            (4, UpdateKind.RESOLUTION, when(hours=3, minutes=50), when(hours=4), when(hours=5)),
        ]
        ids = {}
        for number, kind, drafted, published, promise in plan:
            update = Update(
                incident_id=incident.id,
                number=number,
                kind=kind,
                status=IncidentStatus.RESOLVED if number == 4 else IncidentStatus.INVESTIGATING,
                apology={"en": {"text": "We are sorry.", "short": "Sorry."}},
                next_update_by=promise,
                state=UpdateState.PUBLISHED,
                created_at=drafted,
                published_at=published,
            )
            session.add(update)
            session.flush()
            ids[number] = update.id
        for channel in (Channel.STATUSPAGE, Channel.BANNER, Channel.EMAIL):
            session.add(
                Rendition(
                    update_id=ids[1],
                    channel=channel,
                    locale="en",
                    time_zone="UTC",
                    body="…",
                    length=1,
                    measure="characters",
                )
            )
        deliveries = [  # update, channel, who, state, accepted at
            (1, Channel.EMAIL, "ada", DeliveryState.DELIVERED, when(minutes=40)),
            (1, Channel.EMAIL, "bob", DeliveryState.ACCEPTED, when(minutes=40, seconds=30)),
            (1, Channel.EMAIL, "cy", DeliveryState.BOUNCED, when(minutes=41)),
            (1, Channel.EMAIL, "dee", DeliveryState.SUPPRESSED, None),
            (1, Channel.SMS, "ada", DeliveryState.ACCEPTED, when(minutes=42)),
            (1, Channel.SMS, "eve", DeliveryState.FAILED, None),
            (2, Channel.EMAIL, "ada", DeliveryState.DELIVERED, when(hours=2, minutes=26)),
        ]
        for number, channel, name, state, accepted_at in deliveries:
            session.add(
                Delivery(
                    update_id=ids[number],
                    recipient_id=people[name],
                    channel=channel,
                    idempotency_key=f"{reference}/{number}/{channel}/{name}",
                    state=state,
                    accepted_at=accepted_at,
                )
            )
        approvals = [  # update, role, decided
            (1, "legal", when(minutes=35)),
            (1, "dpo", when(minutes=38)),
            (2, "legal", when(hours=2, minutes=10)),
            (2, "dpo", when(hours=2, minutes=20)),
        ]
        for number, role, decided in approvals:
            session.add(
                Approval(
                    update_id=ids[number],
                    role=role,
                    approver=f"{role}@example.com",
                    decision=ApprovalDecision.APPROVED,
                    decided_at=decided,
                )
            )
        for regime, stage, met in (
            ("gdpr-art33", "initial", when(75)),
            ("gdpr-art34", "communication", when(24)),
        ):
            session.add(
                Deadline(
                    incident_id=incident.id,
                    regime=regime,
                    stage=stage,
                    recipient="supervisory authority",
                    starts_at=when(),
                    due_at=when(72),
                    state=DeadlineState.MET,
                    met_at=met,
                    submitted_by="dpo@example.com",
                )
            )
        day = when().date()
        commitments = [  # key, text, due, state, changed
            ("C1", "Second review of every access change.", 7, CommitmentState.SHIPPED, when(6 * 24)),
            ("C2", "Alerts on bulk exports.", 3, CommitmentState.IN_PROGRESS, None),
        ]
        for key, text, due_in_days, state, changed_at in commitments:
            session.add(
                Commitment(
                    incident_id=incident.id,
                    key=key,
                    texts={"en": text},
                    owner="ic@example.com",
                    due_on=day + timedelta(days=due_in_days),
                    state=state,
                    changed_at=changed_at,
                )
            )
    return reference
