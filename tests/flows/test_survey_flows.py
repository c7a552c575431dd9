"""The survey end to end on a Prefect test server: a resolution schedules it, its run invites the people
the incident reached (not the unsubscribed, not the never-messaged), answers come in through the page,
the report counts exactly what was posted, the reminder goes only to those who did not answer, and
reopening the incident cancels a survey not sent yet."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import select

from channels.sandbox.runner import SandboxHandle
from clarion.audiences import consent
from clarion.kinds import Channel
from clarion.models import Incident, Recipient, utcnow
from clarion.settings import get_settings
from clarion.surveys.report import survey_report
from faces.web.app import create_app
from flows.incident import post_update, resolve_incident
from flows.models import UpdateRequest
from flows.surveys import send_survey, survey_step
from tests.faces.web.subscribe_helpers import TestClient
from tests.flows.conftest import start
from tests.flows.test_incident_flows import DPO, LEGAL, approve_breach, scheduled, session
from tests.helpers import customers

LINK = re.compile(r"https?://\S+/survey/([A-Za-z0-9._-]+)")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _resolve(status: str | None = None) -> None:
    call = (
        (lambda: resolve_incident(UpdateRequest(reference="INC-0001")))
        if status is None
        else (lambda: post_update(UpdateRequest(reference="INC-0001", status=status)))
    )
    running = start(call)
    running.answer(running.wait_paused(), role="legal", approver=LEGAL, approved=True)
    running.answer(running.wait_paused(), role="dpo", approver=DPO, approved=True)
    assert running.join()["state"] == "published"


def _survey_mails(sandbox: SandboxHandle, *, reminders: bool = False) -> dict[str, str]:
    """address → token of the survey invitations (or of the reminders), in whichever language."""
    found = {}
    for record in customers(sandbox.inbox("email")):
        match = LINK.search(record.text or "")
        reminder = (record.subject or "").startswith(("Reminder", "Erinnerung"))
        if match and reminder == reminders:
            assert str(record.address) not in found, f"{record.address} got two"
            found[str(record.address)] = match.group(1)
    return found


def _post(client: TestClient, token: str, *, form_of: str | None = None, **answer: str) -> int:
    """Open the form (of ``form_of``'s link when given: an answered link shows no form) and post."""
    client.cookies.clear()
    page = client.get(f"/survey/{form_of or token}")
    assert page.status_code == 200, page.text
    csrf = CSRF.search(page.text)
    assert csrf is not None
    return client.post(
        f"/survey/{token}", data={"csrf": csrf.group(1), **answer}, follow_redirects=False
    ).status_code


def test_resolution_survey_answers_report_and_reminder(sandbox: SandboxHandle) -> None:
    approve_breach(sandbox)
    reached = {r.address for r in customers(sandbox.inbox("email"))}
    with session() as s:
        unsubscribed = s.exec(select(Recipient).where(Recipient.email == sorted(reached)[0])).one()
        assert unsubscribed.id is not None
        consent.withdraw(
            session=s, recipient_id=unsubscribed.id, channel=Channel.EMAIL, source="unsubscribe", at=utcnow()
        )
        s.add(Recipient(external_id="never-told", email="never@acme.example"))
        s.commit()
    _resolve()

    run = scheduled("INC-0001")["INC-0001 · survey"]
    assert run.state_type.value == "SCHEDULED"
    delay = run.expected_start_time - utcnow()
    assert timedelta(days=6, hours=23) < delay <= timedelta(days=7)  # the playbook's delay
    result = send_survey(**run.parameters)
    invited = _survey_mails(sandbox)
    assert set(invited) == reached - {unsubscribed.email} and result["invited"] == len(invited)
    assert "never@acme.example" not in invited
    # the same run again (a retry): nobody is invited twice
    send_survey(**run.parameters)
    assert _survey_mails(sandbox) == invited

    tokens = list(invited.values())
    with TestClient(create_app(get_settings())) as client:
        assert (
            _post(client, tokens[0], informed="5", trust="4", text="Thank you, I feel reassured now.") == 303
        )
        assert (
            _post(client, tokens[1], informed="2", trust="1", text="Sure, like last time. I doubt it.") == 303
        )
        assert (
            _post(client, tokens[2], informed="3", trust="3", contact="yes", contact_channel="phone") == 303
        )
        assert _post(client, tokens[0], form_of=tokens[3], informed="1", trust="1") == 409  # once

    with session() as s:
        incident = s.exec(select(Incident)).one()
        report = survey_report(session=s, incident=incident)
    assert (report.invited, report.answered) == (len(invited), 3)
    assert report.informed == {1: 0, 2: 1, 3: 1, 4: 0, 5: 1} and report.trust == {
        1: 1,
        2: 0,
        3: 1,
        4: 1,
        5: 0,
    }
    assert report.followups_open == 1 and report.positive == 1 and report.negative == 1

    assert survey_step("INC-0001", "remind")["reminded"] == len(invited) - 3
    reminded = _survey_mails(sandbox, reminders=True)
    assert set(reminded) == set(invited) - {a for a, t in invited.items() if t in tokens[:3]}
    assert survey_step("INC-0001", "remind")["reminded"] == 0  # once


def test_reopening_cancels_the_survey_not_sent_yet(sandbox: SandboxHandle) -> None:
    approve_breach(sandbox)
    _resolve()
    assert scheduled("INC-0001")["INC-0001 · survey"].state_type.value == "SCHEDULED"
    _resolve(status="investigating")
    run = scheduled("INC-0001")["INC-0001 · survey"]
    assert run.state_type.value == "CANCELLED"
    assert send_survey(**run.parameters)["skipped"].startswith("the incident is not resolved")
