from __future__ import annotations

from pathlib import Path

import pytest

from clarion.errors import FactsError
from clarion.facts import load_facts
from clarion.playbook import Playbook, load_playbook
from tests.helpers import EXAMPLES, PLAYBOOKS, line_of, load_raw, replace_in, write_yaml

BREACH_FACTS = EXAMPLES / "data-breach.yaml"


@pytest.fixture
def breach() -> Playbook:
    return load_playbook(PLAYBOOKS / "data-breach.yaml")


def problem_of(path: Path, playbook: Playbook) -> str:
    with pytest.raises(FactsError) as caught:
        load_facts(path, playbook)
    return str(caught.value)


def test_example_loads(breach: Playbook) -> None:
    facts = load_facts(BREACH_FACTS, breach)
    assert facts.reference == "INC-0042"
    assert set(facts.story) == {"en", "de"}
    assert facts.story["en"].cause.known and not facts.story["en"].prevention.known


def test_plain_string_is_shorthand_for_text(tmp_path: Path, breach: Playbook) -> None:
    data = load_raw(BREACH_FACTS)
    data["story"]["en"]["prevention"] = "We will add a second review to storage permission changes."
    facts = load_facts(write_yaml(tmp_path / "f.yaml", data), breach)
    assert facts.story["en"].prevention.text == "We will add a second review to storage permission changes."
    assert facts.story["en"].prevention.brief == facts.story["en"].prevention.text


def test_naive_datetime_is_refused_with_its_line(tmp_path: Path, breach: Playbook) -> None:
    bad = replace_in(
        BREACH_FACTS, tmp_path / "f.yaml", "as_of: 2026-11-23T09:00:00Z", "as_of: 2026-11-23T09:00:00"
    )
    assert f"{bad}:{line_of(bad, 'as_of:')}: as_of: Input should have timezone info" in problem_of(
        bad, breach
    )


def test_severity_must_be_one_of_the_playbooks(tmp_path: Path, breach: Playbook) -> None:
    bad = replace_in(BREACH_FACTS, tmp_path / "f.yaml", "severity: sev1", "severity: sev9")
    assert f":{line_of(bad, 'severity:')}: severity: 'sev9' is not one of sev1, sev2" in problem_of(
        bad, breach
    )


def test_every_playbook_locale_needs_a_story(tmp_path: Path, breach: Playbook) -> None:
    data = load_raw(BREACH_FACTS)
    del data["story"]["de"]
    assert "story: no story in de, which playbook data-breach ships in" in problem_of(
        write_yaml(tmp_path / "f.yaml", data), breach
    )


def test_breach_playbook_needs_breach_facts(tmp_path: Path, breach: Playbook) -> None:
    data = load_raw(BREACH_FACTS)
    del data["breach"]
    assert "breach: playbook data-breach needs the regulator-facing breach facts" in problem_of(
        write_yaml(tmp_path / "f.yaml", data), breach
    )


def test_apology_is_never_empty(tmp_path: Path, breach: Playbook) -> None:
    data = load_raw(BREACH_FACTS)
    data["story"]["en"]["apology"] = {"short": "Sorry."}
    assert "story.en: apology.text must say what happened" in problem_of(
        write_yaml(tmp_path / "f.yaml", data), breach
    )


def test_a_human_contact_path_is_required(tmp_path: Path, breach: Playbook) -> None:
    data = load_raw(BREACH_FACTS)
    data["contact"] = {"hours": "9-5"}
    message = problem_of(write_yaml(tmp_path / "f.yaml", data), breach)
    assert "contact: give at least one of phone, email or url" in message


def test_next_update_must_be_in_the_future(tmp_path: Path, breach: Playbook) -> None:
    data = load_raw(BREACH_FACTS)
    data["next_update_by"] = "2026-11-23T08:00:00Z"
    assert "next_update_by must be after as_of" in problem_of(write_yaml(tmp_path / "f.yaml", data), breach)


def test_unknown_recipient_time_zone(tmp_path: Path, breach: Playbook) -> None:
    data = load_raw(BREACH_FACTS)
    data["recipient"]["time_zone"] = "Europe/Atlantis"
    message = problem_of(write_yaml(tmp_path / "f.yaml", data), breach)
    assert (
        f":{line_of(write_yaml(tmp_path / 'f.yaml', data), 'Europe/Atlantis')}: recipient.time_zone:"
        in message
    )


def test_links_the_playbook_needs_are_checked_when_facts_load(tmp_path: Path, breach: Playbook) -> None:
    data = load_raw(BREACH_FACTS)
    data["links"] = {"faq": "https://acme.example/faq"}
    bad = write_yaml(tmp_path / "f.yaml", data)
    assert (
        f"{bad}:{line_of(bad, 'links:')}: links: playbook data-breach needs links.password_reset"
        in problem_of(bad, breach)
    )


def test_contact_email_must_be_an_address(tmp_path: Path, breach: Playbook) -> None:
    bad = replace_in(
        BREACH_FACTS, tmp_path / "f.yaml", "email: privacy@acme.example", "email: privacy at acme"
    )
    assert (
        f":{line_of(bad, 'privacy at acme')}: contact.email: value is not a valid email address"
        in problem_of(bad, breach)
    )


def test_we_cannot_publish_before_we_know(tmp_path: Path, breach: Playbook) -> None:
    data = load_raw(BREACH_FACTS)
    data["aware_at"] = "2026-11-23T10:00:00Z"  # after as_of 09:00
    assert "aware_at is after as_of" in problem_of(write_yaml(tmp_path / "f.yaml", data), breach)
