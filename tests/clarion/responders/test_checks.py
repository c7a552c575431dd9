"""An approval request that a provider would refuse is a preview error naming person, channel,
locale and limit: Slack's Block Kit (sections, 50 blocks) and Teams' Adaptive Card (28 KB)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clarion.facts import load_facts
from clarion.outbox.notices import NoticeRenderer
from clarion.playbook import load_playbook
from clarion.responders.checks import approval_problems
from clarion.responders.notices import notice_contexts
from clarion.responders.people import people_of
from clarion.settings import get_settings
from clarion.updates.compose import compose
from faces.cli import app
from tests.helpers import EXAMPLES, PLAYBOOKS

LEGAL = "legal-on-call@example.com"


@pytest.fixture
def playbooks(tmp_path: Path) -> Path:
    """The shipped playbooks, with legal on call also reachable on Slack."""
    folder = tmp_path / "playbooks"
    shutil.copytree(PLAYBOOKS, folder)
    people = folder / "people" / "responders.yaml"
    text = people.read_text(encoding="utf-8")
    people.write_text(
        text.replace("      teams: legal-room", "      teams: legal-room\n      slack: C0LEGAL0001"),
        encoding="utf-8",
    )
    return folder


def _approval_body(templates: Path, body: str) -> None:
    """The internal approval request says ``body`` (a template)."""
    path = templates / "notice" / "responder-approval" / "internal" / "en" / "body.txt.j2"
    path.write_text("{{ reference }} waits for {{ role }}.\n\n" + body, encoding="utf-8")


AMPERSANDS = "{% for i in range(480) %}R&D {% endfor %}"
"""1 919 characters, within the body's 3 000; 3 839 once Slack's escaping makes each & an &amp;."""
PARAGRAPHS = "{% for i in range(1500) %}Line {{ i }}.\n\n{% endfor %}"
"""About 15 KB of text, within the body's 24 000 bytes; each paragraph a TextBlock of the card."""


def _problems(playbooks: Path) -> tuple[int, list[str]]:
    path = playbooks / "data-breach.yaml"
    playbook = load_playbook(path)
    facts = load_facts(EXAMPLES / "data-breach.yaml", playbook)
    people = people_of(playbook, path)
    assert people is not None
    settings = get_settings()
    render = NoticeRenderer(settings.templates_dir, notice_contexts(), sms_max_segments=3)
    renditions = compose(playbook, facts, settings)
    return approval_problems(
        playbook=playbook,
        people=people,
        reference=facts.reference,
        title=facts.title,
        renditions=renditions,
        render=render,
    )


def test_the_shipped_requests_reach_every_approver(playbooks: Path) -> None:
    checked, problems = _problems(playbooks)
    assert problems == []
    assert checked == 5  # legal: email, Teams, Slack; the DPO: email, the signed webhook


def test_a_request_over_a_slack_section_once_escaped_is_named(own_templates: Path, playbooks: Path) -> None:
    _approval_body(own_templates, AMPERSANDS)
    _, problems = _problems(playbooks)
    assert problems == [
        f"slack/en responder-approval to {LEGAL}: a paragraph is 3839 characters once escaped for Slack, "
        "a section holds 3000"
    ]


def test_a_card_over_teams_28_kb_is_named(own_templates: Path, playbooks: Path) -> None:
    _approval_body(own_templates, PARAGRAPHS)
    _, problems = _problems(playbooks)
    teams = [p for p in problems if p.startswith("teams/")]
    assert len(teams) == 1
    assert teams[0].startswith(f"teams/en responder-approval to {LEGAL}: the card is ")
    assert teams[0].endswith("bytes, Teams takes at most 28 KB (28672 bytes)")


def test_preview_fails_naming_the_request_and_the_limit(own_templates: Path, playbooks: Path) -> None:
    _approval_body(own_templates, AMPERSANDS)
    facts = str(EXAMPLES / "data-breach.yaml")
    result = CliRunner().invoke(app, ["preview", str(playbooks / "data-breach.yaml"), "--facts", facts])
    assert result.exit_code == 2, result.output
    assert f"approval request: slack/en responder-approval to {LEGAL}: a paragraph is" in result.output
    assert "a section holds 3000" in result.output
    assert "NOT ready" in result.output


def test_a_template_that_fails_is_a_problem_of_each_request_not_a_crash(
    own_templates: Path, playbooks: Path
) -> None:
    _approval_body(own_templates, "{{ no_such_value }}")
    checked, problems = _problems(playbooks)
    assert checked == 5
    internal = ("slack/en", "teams/en", "webhook/en")  # email has templates of its own
    assert sorted(p.split(" ", 1)[0] for p in problems) == sorted(internal)
    assert all("'no_such_value' is undefined" in p for p in problems)
