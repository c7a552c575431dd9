from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from clarion.durations import parse_duration
from clarion.errors import PlaybookError
from clarion.kinds import CadenceTier, Channel, IncidentStatus
from clarion.playbook import Part, lint, load_playbook
from tests.helpers import PLAYBOOKS, line_of, load_raw, replace_in, shipped_playbooks, write_yaml

BREACH = PLAYBOOKS / "data-breach.yaml"


def test_ships_the_five_required_playbooks() -> None:
    assert {
        "data-breach",
        "outage",
        "degraded-performance",
        "scheduled-maintenance",
        "security-vulnerability",
    } <= set(shipped_playbooks())


@pytest.mark.parametrize("name", shipped_playbooks())
def test_every_shipped_playbook_is_valid(name: str) -> None:
    playbook = load_playbook(PLAYBOOKS / f"{name}.yaml")
    assert playbook.name == name
    assert playbook.channels


def test_data_breach_names_gdpr_and_needs_legal_and_dpo() -> None:
    playbook = load_playbook(BREACH)
    assert {"gdpr-art33", "gdpr-art34"} <= set(playbook.regimes)
    assert {step.role for step in playbook.approvals} >= {"legal", "dpo"}
    assert playbook.breach_facts
    fix = playbook.parts["en"][Part.FIX]
    assert fix.long is not None and "password_reset" in fix.long and "contact.phone" in fix.long
    assert len(playbook.locales) >= 2


def problem_of(path: Path) -> str:
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    return str(caught.value)


def test_wrong_enum_value_names_file_line_field_and_choices(tmp_path: Path) -> None:
    bad = replace_in(BREACH, tmp_path / "data-breach.yaml", "cadence: urgent", "cadence: hurly")
    line = line_of(bad, "cadence: hurly")
    assert problem_of(bad) == (
        f"{bad}:{line}: severities.sev1.cadence: 'hurly' is not one of urgent, important, routine"
    )


def test_misspelt_key_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    bad = replace_in(BREACH, tmp_path / "data-breach.yaml", "holding_statement:", "holding_statment:")
    message = problem_of(bad)
    line = line_of(bad, "holding_statment:")
    assert f":{line}: holding_statment: unknown key (did you mean 'holding_statement'?)" in message
    # the real key is now missing too, and that is reported in the same run
    assert "holding_statement: required field is missing" in message


def test_misspelt_nested_key(tmp_path: Path) -> None:
    bad = replace_in(
        BREACH, tmp_path / "data-breach.yaml", "    backup: general-counsel", "    bakup: general-counsel"
    )
    line = line_of(bad, "bakup:")
    assert f":{line}: approvals[0].bakup: unknown key (did you mean 'backup'?)" in problem_of(bad)


def test_missing_required_field_names_the_parent_line(tmp_path: Path) -> None:
    data = load_raw(BREACH)
    del data["severities"]["sev2"]["description"]
    bad = write_yaml(tmp_path / "data-breach.yaml", data)
    line = line_of(bad, "sev2:")
    assert f"{bad}:{line}: severities.sev2.description: required field is missing" in problem_of(bad)


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    data = load_raw(BREACH)
    data["severities"]["sev1"]["cadence"] = "sometimes"
    data["survey"]["delay"] = "soon"
    data["audiences"]["all-customers"]["channels"] = ["mastodon"]
    message = problem_of(write_yaml(tmp_path / "data-breach.yaml", data))
    assert "severities.sev1.cadence" in message
    assert "survey.delay: 'soon' is not a duration" in message
    assert "audiences.all-customers.channels: mastodon reach the public" in message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: broken\nseverities:\n  sev1: [unclosed\n", encoding="utf-8")
    assert f"{bad}:4: YAML syntax" in problem_of(bad)


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    bad = replace_in(
        BREACH, tmp_path / "data-breach.yaml", "kind: data-breach\n", "kind: data-breach\nkind: outage\n"
    )
    line = line_of(bad, "kind: outage")
    assert f":{line}: kind: duplicate key" in problem_of(bad)


def test_name_must_match_file(tmp_path: Path) -> None:
    copy = replace_in(BREACH, tmp_path / "other.yaml", "name: data-breach", "name: data-breach")
    assert "name: 'data-breach' must match the file name 'other'" in problem_of(copy)


def test_overrides_for_unknown_locale(tmp_path: Path) -> None:
    data = load_raw(BREACH)
    data["parts"]["fr"] = {"fix": {"long": "x"}}
    message = problem_of(write_yaml(tmp_path / "data-breach.yaml", data))
    assert "parts: overrides for fr, which is not in locales" in message


def test_unknown_locale_and_time_zone(tmp_path: Path) -> None:
    data = load_raw(BREACH)
    data["locales"] = ["en", "xx-nowhere"]
    data["public_time_zone"] = "Mars/Olympus"
    message = problem_of(write_yaml(tmp_path / "data-breach.yaml", data))
    assert "'xx-nowhere' is not a known locale" in message
    assert "'Mars/Olympus' is not an IANA time zone" in message


def test_audience_source_needs_exactly_one(tmp_path: Path) -> None:
    data = load_raw(BREACH)
    data["audiences"]["affected-customers"]["source"] = {"csv": "a.csv", "sql": "select 1"}
    message = problem_of(write_yaml(tmp_path / "data-breach.yaml", data))
    assert "audiences.affected-customers.source: give exactly one of csv, sql or subscribers" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("3d", timedelta(days=3)),
        ("1w", timedelta(weeks=1)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_cadence_steps_down_by_status() -> None:
    policy = load_playbook(BREACH).severities["sev1"]
    assert policy.tier_for(IncidentStatus.INVESTIGATING) is CadenceTier.URGENT
    assert policy.tier_for(IncidentStatus.IDENTIFIED) is CadenceTier.URGENT
    assert policy.tier_for(IncidentStatus.MONITORING) is CadenceTier.IMPORTANT
    assert policy.tier_for(IncidentStatus.RESOLVED) is CadenceTier.ROUTINE


def test_channels_are_the_union_of_audiences_and_public() -> None:
    assert load_playbook(BREACH).channels == [
        Channel.EMAIL,
        Channel.SMS,
        Channel.MASTODON,
        Channel.BLUESKY,
        Channel.BANNER,
        Channel.STATUSPAGE,
    ]


def test_lint_reports_each_file(tmp_path: Path) -> None:
    good = replace_in(BREACH, tmp_path / "data-breach.yaml", "title:", "title:")
    bad = replace_in(BREACH, tmp_path / "bad" / "data-breach.yaml", "cadence: urgent", "cadence: hurly")
    results = dict(lint([tmp_path, bad]))
    assert results[good] is None
    assert isinstance(results[bad], PlaybookError)


@pytest.mark.parametrize(
    "snippet",
    [
        '{% import "_macros/en.j2" as m %}{{ m.cause(parts.cause, "long") }}',
        '{% include "sms/en/body.txt.j2" %}',
        "{%- extends 'x' %}",
        "{% from '_macros/en.j2' import cause %}",
    ],
)
def test_overrides_cannot_load_other_templates(tmp_path: Path, snippet: str) -> None:
    data = load_raw(BREACH)
    data["parts"]["en"]["fix"]["long"] = snippet
    message = problem_of(write_yaml(tmp_path / "data-breach.yaml", data))
    assert "parts.en.fix.long:" in message and "is not allowed in a part override" in message


# ── issue 12: durations without bounds ─────────────────────────────────────────────────────────────

DURATIONS = [
    # (line in the shipped playbook, replacement, field reported, message)
    (
        "timeout: 2h",
        "timeout: 0m",
        "approvals[0].timeout",
        "0 is shorter than 5 minutes (it must be between 5 minutes and 7 days)",
    ),
    (
        "timeout: 2h",
        "timeout: 4m",
        "approvals[0].timeout",
        "4 minutes is shorter than 5 minutes (it must be between 5 minutes and 7 days)",
    ),
    (
        "timeout: 2h",
        "timeout: 8d",
        "approvals[0].timeout",
        "8 days is longer than 7 days (it must be between 5 minutes and 7 days)",
    ),
    ("timeout: 2h", "timeout: -60", "approvals[0].timeout", "a duration cannot be negative"),
    ("grace: 10m", "grace: 2d", "holding_statement.grace", "2 days is longer than 1 day"),
    ("delay: 7d", "delay: 999999999d", "survey.delay", "'999999999d' is longer than 10 years"),
    (
        "delay: 7d",
        "delay: 99999999999999999999999999w",
        "survey.delay",
        "'99999999999999999999999999w' is longer than 10 years",
    ),
    ("delay: 7d", "delay: 91d", "survey.delay", "91 days is longer than 90 days"),
    (
        "delay: 7d",
        "delay: 9000000000000000000",
        "survey.delay",
        "Input should be a valid timedelta, durations may not exceed 999,999,999 days",
    ),
    ("delay: 7d", "delay: 315360001", "survey.delay", "315360001 seconds is longer than 10 years"),
    (
        "expires_after: 14d",
        "expires_after: 0d",
        "survey.expires_after",
        "0 is shorter than 1 day (it must be between 1 day and 1 year)",
    ),
    (
        "expires_after: 14d",
        "expires_after: 53w",
        "survey.expires_after",
        "371 days is longer than 1 year (it must be between 1 day and 1 year)",
    ),
    (
        "max_consecutive: 3",
        "max_consecutive: 1000000",
        "holding_statement.max_consecutive",
        "Input should be less than or equal to 100",
    ),
]


@pytest.mark.parametrize(("old", "new", "field", "message"), DURATIONS, ids=[c[1] for c in DURATIONS])
def test_times_and_durations_are_bounded(
    tmp_path: Path, old: str, new: str, field: str, message: str
) -> None:
    bad = replace_in(BREACH, tmp_path / "data-breach.yaml", old, new)
    assert problem_of(bad) == f"{bad}:{line_of(bad, new)}: {field}: {message}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5m", timedelta(minutes=5)),
        ("7d", timedelta(days=7)),
        ("3650d", timedelta(days=3650)),
        ("521w", timedelta(weeks=521)),
    ],
)
def test_durations_up_to_ten_years_are_read(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_control_characters_in_a_playbook_are_refused(tmp_path: Path) -> None:
    bad = replace_in(
        BREACH,
        tmp_path / "data-breach.yaml",
        "title: Personal data breach",
        'title: "Data breach\\x1b]0;owned\\x07"',
    )
    assert problem_of(bad) == (
        f"{bad}:{line_of(bad, 'title:')}: title: control character U+001B (ESC) at character 12: "
        "write text without it"
    )
