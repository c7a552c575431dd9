from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from clarion.errors import FactsError
from clarion.facts import Facts, load_facts
from clarion.files.yamlfile import format_loc
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


# ── issue 12: impossible and far-off times, control characters ─────────────────────────────────────

AS_OF_LINE = "as_of: 2026-11-23T09:00:00Z"
OUTSIDE = "is not between 2000-01-01 and 2100-01-01 (UTC): check the year"


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (
            "as_of: 2026-02-30T09:00:00Z",
            "Input should be a valid datetime or date, day value is outside expected range",
        ),
        (
            "as_of: 2026-02-30",
            "Input should be a valid datetime or date, day value is outside expected range",
        ),
        (
            "as_of: 2026-11-23T09:00:00+25:00",
            "Input should be a valid datetime or date, unexpected extra characters at the end of the input",
        ),
        ("as_of: 0001-01-01T00:00:00+01:00", f"0001-01-01T00:00:00+01:00 {OUTSIDE}"),
        ("as_of: 9999-12-31T23:59:59-01:00", f"9999-12-31T23:59:59-01:00 {OUTSIDE}"),
        ("as_of: 0001-01-01", "Input should have timezone info"),
        (
            "as_of: !!timestamp 2026-13-01T00:00:00Z",
            "Input should be a valid datetime or date, month value is outside expected range of 1-12",
        ),
    ],
    ids=[
        "feb-30",
        "feb-30-date-only",
        "offset-25h",
        "year-1",
        "year-9999",
        "date-without-zone",
        "explicit-tag",
    ],
)
def test_impossible_dates_are_validation_errors_with_lines(
    tmp_path: Path, breach: Playbook, written: str, message: str
) -> None:
    bad = replace_in(BREACH_FACTS, tmp_path / "f.yaml", AS_OF_LINE, written)
    assert problem_of(bad, breach) == f"{bad}:{line_of(bad, 'as_of:')}: as_of: {message}"


TIME_BOUNDS = [
    # (field written, value, field reported, message)
    ("as_of", "1970-01-01T00:00:00Z", "as_of", f"1970-01-01T00:00:00+00:00 {OUTSIDE}"),
    ("as_of", "2100-01-01T00:00:00Z", "as_of", f"2100-01-01T00:00:00+00:00 {OUTSIDE}"),
    ("next_update_by", "2126-11-23T09:00:00Z", "next_update_by", f"2126-11-23T09:00:00+00:00 {OUTSIDE}"),
    (
        "next_update_by",
        "2026-12-24T09:00:01Z",
        "next_update_by",
        "next_update_by is more than 31 days after as_of: promise an update sooner",
    ),
    ("next_update_by", "2026-11-23T09:00:00Z", "next_update_by", "next_update_by must be after as_of"),
    ("aware_at", "2021-11-22T08:05:00Z", "aware_at", "aware_at is more than 5 years before as_of"),
    ("aware_at", "1999-12-31T23:59:59Z", "aware_at", f"1999-12-31T23:59:59+00:00 {OUTSIDE}"),
    ("started_at", "2026-11-23T09:30:00Z", "started_at", "started_at is after as_of: it has not started yet"),
    ("started_at", "2020-01-01T00:00:00Z", "started_at", "started_at is more than 5 years before as_of"),
]


@pytest.mark.parametrize(
    ("field", "value", "reported", "message"), TIME_BOUNDS, ids=[f"{c[0]}={c[1]}" for c in TIME_BOUNDS]
)
def test_times_and_durations_are_bounded(
    tmp_path: Path, breach: Playbook, field: str, value: str, reported: str, message: str
) -> None:
    data = load_raw(BREACH_FACTS)
    data[field] = value
    bad = write_yaml(tmp_path / "f.yaml", data)
    assert problem_of(bad, breach) == f"{bad}:{line_of(bad, reported + ':')}: {reported}: {message}"


def test_times_at_the_bounds_are_accepted(tmp_path: Path, breach: Playbook) -> None:
    data = load_raw(BREACH_FACTS)
    data["next_update_by"] = "2026-12-24T09:00:00Z"  # 31 days exactly
    data["started_at"] = "2021-11-24T09:00:00Z"  # 5 × 365 days before as_of (2024 has 366)
    facts = load_facts(write_yaml(tmp_path / "f.yaml", data), breach)
    assert facts.next_update_by is not None and facts.started_at is not None


def test_counts_are_bounded(tmp_path: Path, breach: Playbook) -> None:
    bad = replace_in(
        BREACH_FACTS, tmp_path / "f.yaml", "affected_count: 8200", "affected_count: 8200000000000"
    )
    assert problem_of(bad, breach) == (
        f"{bad}:{line_of(bad, 'affected_count:')}: impact.affected_count: "
        "Input should be less than or equal to 1000000000000"
    )


UNSAFE_TEXT = [
    # (key path, value, field reported, what is found)
    (("title",), "Outage \x1b[2J", "title", "control character U+001B (ESC) at character 8"),
    (
        ("organisation",),
        "\x1b]0;pwned\x07Acme",
        "organisation",
        "control character U+001B (ESC) at character 1",
    ),
    (
        ("story", "en", "apology"),
        "Sorry\r\nOK",
        "story.en.apology",
        "control character U+000D (CR) at character 6",
    ),
    (
        ("impact", "regions"),
        ["eu", "us\u202e"],
        "impact.regions[1]",
        "bidirectional control U+202E (RIGHT-TO-LEFT OVERRIDE) at character 3",
    ),
    (
        ("breach", "dpo_contact"),
        "dpo\x9b31m",
        "breach.dpo_contact",
        "control character U+009B (CSI) at character 4",
    ),
    (("contact", "hours"), "24/7\x00", "contact.hours", "control character U+0000 (NUL) at character 5"),
    # the renderer marks the story's parts with noncharacters: facts cannot forge a part's presence
    (("story", "en", "cause"), "A \ufdd2bad change", "story.en.cause", "noncharacter U+FDD2 at character 3"),
]


@pytest.mark.parametrize(("where", "value", "field", "found"), UNSAFE_TEXT, ids=[c[2] for c in UNSAFE_TEXT])
def test_control_characters_are_refused_in_every_text_input(
    tmp_path: Path, breach: Playbook, where: tuple[str, ...], value: Any, field: str, found: str
) -> None:
    data = load_raw(BREACH_FACTS)
    parent = data
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = value

    # a file: named by file, line and field, before anything is validated
    bad = write_yaml(tmp_path / "f.yaml", data)
    line = line_of(bad, f"{where[-1]}:") + (2 if field.endswith("[1]") else 0)  # a list item: its own line
    assert problem_of(bad, breach) == f"{bad}:{line}: {field}: {found}: write text without it"

    # the same facts as a form or a request (no file): the model refuses them, at the same field
    form = json.loads(json.dumps(data, default=str))
    with pytest.raises(ValidationError) as caught:
        Facts.model_validate(form)
    assert [(format_loc(e["loc"]), e["msg"]) for e in caught.value.errors()] == [
        (field, f"{found}: write text without it")
    ]
    # tab and newline stay allowed in long text
    parent[where[-1]] = "line one\n\tline two" if isinstance(value, str) else ["eu"]
    assert load_facts(write_yaml(tmp_path / "g.yaml", data), breach).title


def test_keys_with_control_characters_are_refused(tmp_path: Path, breach: Playbook) -> None:
    data = load_raw(BREACH_FACTS)
    data["links"]["faq\x1b[2J"] = "https://acme.example/faq"
    bad = write_yaml(tmp_path / "f.yaml", data)
    assert problem_of(bad, breach) == (
        f"{bad}:{line_of(bad, 'faq')}: links.faq\\x1b[2J: the key holds a control character U+001B (ESC) "
        "at character 4: write text without it"
    )


def test_the_facts_schema_refuses_control_characters_too() -> None:
    """A server that checks parameters against the JSON schema (Prefect's) refuses them as well."""
    schema = Facts.model_json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    form = json.loads(json.dumps(load_raw(BREACH_FACTS), default=str))
    assert list(validator.iter_errors(form)) == []
    form["story"]["en"]["apology"] = {"text": "Sorry \x1b[2J", "short": "ok\n\tfine"}
    form["links"]["x\x07"] = "https://acme.example/x"
    errors = sorted(validator.iter_errors(form), key=lambda e: list(e.absolute_path))
    assert [list(e.absolute_path) for e in errors] == [["links"], ["story", "en", "apology", "text"]]
