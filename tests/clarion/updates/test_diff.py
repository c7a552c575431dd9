from __future__ import annotations

from clarion.facts import PartText, load_facts
from clarion.kinds import IncidentStatus
from clarion.playbook import load_playbook
from clarion.updates.diff import Change, diff_facts
from tests.helpers import EXAMPLES, PLAYBOOKS


def facts():
    return load_facts(EXAMPLES / "data-breach.yaml", load_playbook(PLAYBOOKS / "data-breach.yaml"))


def test_no_changes() -> None:
    assert diff_facts(facts(), facts()) == []


def test_status_part_and_count_changes_are_listed() -> None:
    before = facts()
    story = before.story["en"]
    prevention = PartText(text="Every storage permission change now needs a second reviewer.", short=None)
    after = before.model_copy(
        update={
            "status": IncidentStatus.MONITORING,
            "as_of": before.as_of.replace(hour=10),  # moves every update: not a change in the story
            "impact": before.impact.model_copy(update={"affected_count": 8400}),
            "story": {**before.story, "en": story.model_copy(update={"prevention": prevention})},
        }
    )
    changes = {c.path: c for c in diff_facts(before, after)}
    assert set(changes) == {"status", "impact.affected_count", "story.en.prevention.text"}
    assert changes["status"] == Change("status", "identified", "monitoring")
    assert changes["story.en.prevention.text"].kind == "added"
    assert changes["impact.affected_count"].kind == "changed"


def test_long_text_gets_a_line_diff() -> None:
    before = facts()
    story = before.story["en"]
    assert story.cause.text is not None
    cause = story.cause.model_copy(update={"text": story.cause.text.replace("last night", "on Sunday night")})
    after = before.model_copy(
        update={"story": {**before.story, "en": story.model_copy(update={"cause": cause})}}
    )
    (change,) = diff_facts(before, after)
    lines = change.text_diff()
    assert any(line.startswith("-") and "last night" in line for line in lines)
    assert any(line.startswith("+") and "on Sunday night" in line for line in lines)


def test_short_values_have_no_line_diff() -> None:
    assert Change("status", "identified", "monitoring").text_diff() == []
