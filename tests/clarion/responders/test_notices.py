"""Telling responders: who gets which notice on which channel, once, and every kind renders in its
channels within their limits."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from clarion.channel_table import Reach, channel_table
from clarion.kinds import Channel
from clarion.models import Delivery, Notice
from clarion.outbox.notices import NoticeData, NoticeRenderer
from clarion.playbook import Playbook
from clarion.responders import notices, who
from clarion.responders.notices import Telling, tell
from clarion.responders.people import People, load_people
from clarion.updates.limits import sms_count
from tests.helpers import PLAYBOOKS, TEMPLATES

PEOPLE = load_people(PLAYBOOKS / "people" / "responders.yaml")
RENDER = NoticeRenderer(TEMPLATES, notices.notice_contexts(), sms_max_segments=3)

PARAMS: dict[str, dict[str, Any]] = {
    notices.APPROVAL: {
        "title": "Customer contact details exposed",
        "update": 2,
        "role": "legal",
        "preview": "[INC-0042] Customer contact details exposed\nWe exposed some contact details. Sorry.",
        "command": "clarion approve INC-0042 --as legal",
        "ui_url": "http://127.0.0.1:4200/runs/flow-run/0b7f",
        "expires": "2026-12-06 18:00 UTC",
    },
    notices.ESCALATION: {
        "title": "Customer contact details exposed",
        "update": 2,
        "role": "dpo",
        "approvers": "dpo@example.com",
        "command": "clarion approve INC-0042 --as dpo",
        "ui_url": "",
    },
    notices.REMINDER: {
        "title": "Checkout is failing",
        "update": 1,
        "due": "2026-12-06 17:00 UTC",
        "command": "clarion update INC-0042 --facts <facts.yaml>",
    },
    notices.LAPSE: {
        "title": "Checkout is failing",
        "update": 1,
        "due": "2026-12-06 17:00 UTC",
        "holding": False,
        "problem": "",
        "command": "clarion update INC-0042 --facts <facts.yaml>",
    },
    notices.DEADLINE: {
        "regime": "gdpr-art33",
        "stage": "authority",
        "recipient": "the lead supervisory authority",
        "due": "2026-12-09 09:00 UTC",
        "threshold": 75,
        "missed": False,
        "left": "18 h",
        "command": "clarion notify-regulator INC-0042 --regime gdpr-art33 --stage authority",
    },
    notices.COMMITMENT_REMINDER: {
        "title": "Customer contact details exposed",
        "key": "C1",
        "text": "Every change to storage permissions gets a second reviewer.",
        "owner": "platform-lead@example.com",
        "due": "2026-12-20",
        "state": "planned",
        "command": 'clarion commitments ship INC-0042 C1 --note "…"',
    },
    notices.COMMITMENT_OVERDUE: {
        "title": "Customer contact details exposed",
        "key": "C2",
        "text": "Public-bucket alarms on every storage account.",
        "owner": "platform-lead@example.com",
        "due": "2026-12-20",
        "state": "in progress",
        "command": 'clarion commitments ship INC-0042 C2 --note "…"',
    },
}


def notice(kind: str, channel: Channel, **more: Any) -> NoticeData:
    params = {"reference": "INC-0042", "person": "Legal on call", "person_id": "legal-on-call@example.com"}
    return NoticeData(1, kind, channel, "en", "x", "INC-0042/t", {**params, **PARAMS[kind], **more})


@pytest.mark.parametrize("kind", notices.KINDS)
@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.SMS])
def test_every_kind_renders_on_email_and_sms_within_the_limits(kind: str, channel: Channel) -> None:
    content = RENDER(notice(kind, channel))
    assert "INC-0042" in content.text
    if channel is Channel.SMS:
        assert "\n" not in content.text and sms_count(content.text).segments <= 3
    else:
        assert content.subject and "INC-0042" in content.subject


INTERNAL = [c for c, spec in channel_table().items() if spec.reach is Reach.INTERNAL]


@pytest.mark.parametrize("kind", notices.KINDS)
@pytest.mark.parametrize("channel", INTERNAL, ids=str)
def test_every_kind_renders_on_every_internal_channel_in_the_shared_words(
    kind: str, channel: Channel
) -> None:
    """An internal channel (Slack, Teams, a signed webhook, one a package adds) without templates of
    its own for a notice is told in ``internal/``'s words, within its own limits."""
    content = RENDER(notice(kind, channel))
    assert content.subject and content.subject.startswith("[INC-0042]")
    assert "INC-0042" in content.text


def test_an_approval_request_carries_the_preview_the_exact_command_and_the_ui_link() -> None:
    content = RENDER(notice(notices.APPROVAL, Channel.EMAIL))
    assert "clarion approve INC-0042 --as legal --by legal-on-call@example.com" in content.text
    assert "We exposed some contact details. Sorry." in content.text
    assert "http://127.0.0.1:4200/runs/flow-run/0b7f" in content.text
    assert content.subject == "[INC-0042] Approval needed from legal: update 2"


def test_an_overdue_commitment_says_so_and_names_its_owner_and_promise() -> None:
    content = RENDER(notice(notices.COMMITMENT_OVERDUE, Channel.EMAIL))
    assert content.subject == "[INC-0042] OVERDUE: commitment C2 was due 2026-12-20"
    assert "platform-lead@example.com" in content.text and "Public-bucket alarms" in content.text
    assert "still in progress" in content.text


def test_a_missed_deadline_says_missed_and_at_risk_says_what_is_left() -> None:
    missed = RENDER(notice(notices.DEADLINE, Channel.EMAIL, missed=True))
    at_risk = RENDER(notice(notices.DEADLINE, Channel.EMAIL))
    assert missed.subject is not None and missed.subject.startswith("[INC-0042] MISSED: gdpr-art33/authority")
    assert "75% of the time" in (at_risk.subject or "") and "18 h left" in at_risk.text


# ── whom, where, once ───────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def breach() -> Playbook:
    from clarion.playbook import load_playbook

    return load_playbook(PLAYBOOKS / "data-breach.yaml")


def test_whom_each_moment_concerns(breach: Playbook) -> None:
    assert who.approvers(breach, ["legal"]) == ["legal-on-call@example.com"]
    assert who.backups(breach, ["dpo"]) == ["deputy-dpo@example.com"]
    assert who.everyone(breach, "commander@acme.example", escalate=False) == [
        "commander@acme.example",
        "legal-on-call@example.com",
        "dpo@example.com",
    ]
    assert who.everyone(breach, None, escalate=True)[-2:] == [
        "general-counsel@example.com",
        "deputy-dpo@example.com",
    ]


def staged(engine: sa.Engine) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        return sorted((n.kind, n.channel.value, n.address) for n in session.exec(select(Notice)))


def test_a_notice_goes_once_per_person_and_channel_however_often_it_is_told(sqlite_engine: sa.Engine) -> None:
    telling = Telling(
        notices.REMINDER,
        "update-1",
        ["commander@acme.example", "nobody@example.com"],
        {"reference": "INC-0042"},
    )
    first = tell(engine=sqlite_engine, people=PEOPLE, reference="INC-0042", telling=telling)
    again = tell(engine=sqlite_engine, people=PEOPLE, reference="INC-0042", telling=telling)

    assert (first.staged, first.already, first.unreachable) == (2, 0, ["nobody@example.com"])
    assert (again.staged, again.already) == (0, 2)
    assert staged(sqlite_engine) == [  # their internal channel and email; no SMS for a reminder
        ("responder-reminder", "email", "commander@acme.example"),
        ("responder-reminder", "slack", "C0INCIDENT1"),
    ]
    with Session(sqlite_engine) as session:
        assert len(session.exec(select(Delivery)).all()) == 2


def test_urgent_notices_also_go_by_sms(sqlite_engine: sa.Engine) -> None:
    telling = Telling(notices.DEADLINE, "gdpr-art33/authority/1/100", ["dpo@example.com"], {}, urgent=True)
    tell(engine=sqlite_engine, people=PEOPLE, reference="INC-0042", telling=telling)
    assert staged(sqlite_engine) == [
        ("responder-deadline", "email", "dpo@example.com"),
        ("responder-deadline", "sms", "+14155550103"),
        ("responder-deadline", "webhook", "privacy-desk"),  # and their internal channel
    ]


def test_a_notice_that_does_not_render_stages_nothing(sqlite_engine: sa.Engine) -> None:
    telling = Telling(
        notices.APPROVAL, "update-1/legal", ["legal-on-call@example.com"], {"reference": "INC-0042"}
    )
    with pytest.raises(Exception, match=r"undefined|no such"):
        tell(engine=sqlite_engine, people=PEOPLE, reference="INC-0042", telling=telling, check=RENDER)
    assert staged(sqlite_engine) == []


def test_an_unknown_kind_is_refused(sqlite_engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        tell(
            engine=sqlite_engine,
            people=People([], "people.yaml"),
            reference="INC-0042",
            telling=Telling("responder-gossip", "x", [], {}),
        )
