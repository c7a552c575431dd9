"""Prevention commitments end to end on a Prefect test server: a breach with two commitments, one shipped
(a "you asked, we built it" update reaches every affected person who consents, once, and the status page
shows it) and one overdue (its owner is reminded before its day, then escalated with the commander)."""

from __future__ import annotations

from datetime import date
from typing import Any

import yaml
from sqlmodel import select

from channels.sandbox.runner import SandboxHandle
from clarion.audiences import consent
from clarion.commitments import changes
from clarion.kinds import Channel, CommitmentState, UpdateKind
from clarion.models import Commitment, Recipient, Update, utcnow
from faces.web.app import create_app
from flows.commitments import commitment_check, commitment_shipped
from flows.incident import declare_incident
from flows.models import Declaration
from tests.faces.web.subscribe_helpers import TestClient
from tests.flows.conftest import facts_file, start
from tests.flows.test_incident_flows import DPO, LEGAL, scheduled, session
from tests.helpers import customers

REF = "INC-0901"
COMMANDER = "commander@acme.example"
OWNER_C1 = "platform-lead@acme.example"  # not in the people file: told by email
OWNER_C2 = "comms-on-call@example.com"  # in the people file: email, and SMS when urgent
PROMISES: list[dict[str, Any]] = [
    {
        "id": "C1",
        "owner": OWNER_C1,
        "due": "2027-12-20",
        "text": {
            "en": "Every change to storage permissions gets a second reviewer.",
            "de": "Jede Änderung an Speicherrechten bekommt eine zweite Prüfung.",
        },
    },
    {
        "id": "C2",
        "owner": OWNER_C2,
        "due": "2026-11-30",
        "text": {"en": "Alarms on every public bucket.", "de": "Alarme für jeden öffentlichen Speicher."},
    },
]
BUILT = "Storage permission changes now need two reviewers."


def _declare() -> None:
    """The example breach as declared on 2026-11-23 (its facts' as_of), with two commitments."""
    data = yaml.safe_load(facts_file("data-breach").read_text(encoding="utf-8"))
    for key in ("aware_at", "started_at", "next_update_by"):
        data.pop(key, None)
    data["reference"] = REF  # its runs' names differ from the other tests' INC-0001 (one Prefect server)
    data["commitments"] = PROMISES
    running = start(
        lambda: declare_incident(Declaration(playbook="data-breach", facts=data, commander=COMMANDER))
    )
    running.answer(running.wait_paused(), role="legal", approver=LEGAL, approved=True)
    running.answer(running.wait_paused(), role="dpo", approver=DPO, approved=True)
    assert running.join()["state"] == "published"


def _follow_ups(sandbox: SandboxHandle, channel: str) -> list[Any]:
    words = ("we have built it", "Sie ist umgesetzt", "is built", "ist umgesetzt")
    return [r for r in customers(sandbox.inbox(channel)) if any(w in (r.text or "") for w in words)]


def test_one_commitment_ships_and_is_told_once_the_other_is_reminded_then_escalated(
    sandbox: SandboxHandle,
) -> None:
    _declare()
    with session() as s:
        rows = {r.key: r for r in s.exec(select(Commitment))}
    assert {k: r.state for k, r in rows.items()} == {
        "C1": CommitmentState.PLANNED,
        "C2": CommitmentState.PLANNED,
    }
    runs = scheduled(REF)
    assert {"INC-0901 · commitment C1 · remind", "INC-0901 · commitment C2 · escalate"} <= set(runs)

    # C2: the owner is reminded before its day, then escalated with the commander once it has passed
    reminded = commitment_check(REF, "C2", "remind", date(2026, 11, 30))
    assert reminded["told"] == 1 and reminded["unreachable"] == []
    reminders = [r for r in sandbox.inbox("email") if "Commitment C2 is due 2026-11-30" in (r.subject or "")]
    assert [r.address for r in reminders] == [OWNER_C2]
    escalated = commitment_check(REF, "C2", "escalate", date(2026, 11, 30))
    assert escalated["told"] >= 4  # owner by email and SMS, commander by email, SMS and Slack
    overdue = [r for r in sandbox.inbox("email") if "OVERDUE: commitment C2" in (r.subject or "")]
    assert sorted(r.address for r in overdue) == sorted([OWNER_C2, COMMANDER])
    assert any("C2" in (r.text or "") for r in sandbox.inbox("sms") if r.address == "+14155550104")
    assert commitment_check(REF, "C2", "escalate", date(2026, 11, 30))["told"] == 0  # once
    assert commitment_check(REF, "C1", "escalate", date(2027, 12, 20))["told"] == 0  # not due

    # C1 ships; one person has withdrawn their email consent since the first update
    reached = sorted(r.address for r in customers(sandbox.inbox("email")))
    with session() as s:
        gone = s.exec(select(Recipient).where(Recipient.email == reached[0])).one()
        assert gone.id is not None
        consent.withdraw(
            session=s, recipient_id=gone.id, channel=Channel.EMAIL, source="unsubscribe", at=utcnow()
        )
        changes.ship(
            session=s,
            reference=REF,
            key="C1",
            note=BUILT,
            asked=True,
            actor="platform-lead",
            now=utcnow(),
        )
    before = len(sandbox.inbox())
    assert commitment_shipped(REF, "C1")["state"] == "published"
    mails = _follow_ups(sandbox, "email")
    assert sorted(str(r.address) for r in mails) == reached[1:]  # everyone reached, once, but the one
    assert all(BUILT in (r.text or "") for r in mails)
    assert any("Many of you asked for this" in (r.text or "") for r in mails)
    assert _follow_ups(sandbox, "sms")  # the playbook's other channels too
    again = commitment_shipped(REF, "C1")  # a second run of the same: nothing new
    assert again["state"] == "published" and len(_follow_ups(sandbox, "email")) == len(mails)
    assert len(sandbox.inbox()) >= before

    with session() as s:
        built = s.exec(select(Update).where(Update.kind == UpdateKind.BUILT)).all()
        c1 = s.exec(select(Commitment).where(Commitment.key == "C1")).one()
    assert len(built) == 1 and c1.followup_update == built[0].number

    page = TestClient(create_app()).get(f"/incidents/{REF}")
    assert page.status_code == 200
    html = page.text
    assert "What we promised" in html and BUILT in html
    assert "Every change to storage permissions gets a second reviewer." in html
    assert "Overdue" in html and "Alarms on every public bucket." in html
    assert "You asked, we built it" in html
    assert OWNER_C1 not in html and OWNER_C2 not in html  # owners are people inside
