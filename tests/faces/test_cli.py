from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clarion.playbook import load_playbook
from clarion.settings import get_settings
from faces.cli import app
from tests.helpers import EXAMPLES, PLAYBOOKS, line_of, load_raw, replace_in, shipped_playbooks, write_yaml

runner = CliRunner()
CLARION = str(Path(sys.executable).with_name("clarion"))


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def playbook_locales() -> list[tuple[str, str]]:
    return [
        (name, loc)
        for name in shipped_playbooks()
        for loc in load_playbook(PLAYBOOKS / f"{name}.yaml").locales
    ]


@pytest.mark.parametrize(("name", "locale"), playbook_locales())
def test_preview_of_every_shipped_playbook_and_locale_exits_0(name: str, locale: str) -> None:
    code, output = run("preview", name, "--facts", str(EXAMPLES / f"{name}.yaml"), "--locale", locale)
    assert code == 0, output
    assert "ready to send" in output


def test_preview_through_the_installed_command() -> None:
    done = subprocess.run(
        [CLARION, "preview", "data-breach", "--facts", str(EXAMPLES / "data-breach.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for column in ("channel", "locale", "length", "limit", "SMS", "fits", "consistent"):
        assert column in done.stdout
    assert "GSM-7" in done.stdout
    assert "Reset your password: https://acme.example/reset" in done.stdout  # the texts are printed
    assert "12 renditions, ready to send" in done.stdout


def test_sms_over_the_segment_limit_exits_2_naming_channel_and_numbers(tmp_path: Path) -> None:
    data = load_raw(EXAMPLES / "data-breach.yaml")
    data["story"]["en"]["apology"]["short"] = "We are sorry. " + "Your data was exposed. " * 12
    facts = write_yaml(tmp_path / "long-sms.yaml", data)
    code, output = run("preview", "data-breach", "--facts", str(facts), "--locale", "en")
    assert code == 2
    # the septets depend on how CLDR abbreviates the zone ("GMT", or "+0000" since Babel 2.19)
    assert re.search(r"over limit: sms/en body: 4 segments \(GSM-7, [0-9]{3} septets\), limit 3", output)
    # cause, fix and prevention were left to the pointer first, and still the apology is too long
    assert "sms/en: the whole story did not fit: cause, fix, prevention left to the pointer" in output
    assert "NOT ready" in output


def test_preview_of_bad_facts_exits_2_with_file_line_field(tmp_path: Path) -> None:
    bad = replace_in(
        EXAMPLES / "data-breach.yaml", tmp_path / "f.yaml", "status: identified", "status: fixed"
    )
    code, output = run("preview", "data-breach", "--facts", str(bad))
    assert code == 2
    assert f"{bad}:{line_of(bad, 'status: fixed')}: status: 'fixed' is not one of investigating" in output


def test_preview_of_a_template_attack_exits_2(tmp_path: Path) -> None:
    playbook = replace_in(
        PLAYBOOKS / "data-breach.yaml",
        tmp_path / "data-breach.yaml",
        "{{ super() }} Reset your password",
        "{{ ''.__class__.__mro__ }} Reset your password",
    )
    code, output = run("preview", str(playbook), "--facts", str(EXAMPLES / "data-breach.yaml"))
    assert code == 2  # refused when the playbook is read, before anything renders
    assert f"{playbook}:" in output
    assert "parts.en.fix.short: ''.__class__: names starting with '_' are not allowed" in output
    assert "<class" not in output  # nothing of Python's internals leaked into the output


def test_preview_shows_what_changed_since_the_previous_update(tmp_path: Path) -> None:
    data = load_raw(EXAMPLES / "data-breach.yaml")
    data["status"] = "monitoring"
    data["story"]["en"]["prevention"] = "Every storage permission change now needs a second reviewer."
    data["story"]["de"]["prevention"] = "Jede Änderung an Speicherrechten braucht jetzt eine zweite Prüfung."
    newer = write_yaml(tmp_path / "update-2.yaml", data)
    code, output = run(
        "preview", "data-breach", "--facts", str(newer), "--since", str(EXAMPLES / "data-breach.yaml")
    )
    assert code == 0, output
    assert "changed  status: 'identified' → 'monitoring'" in output
    assert "added    story.en.prevention.text" in output


def test_unknown_locale_is_refused() -> None:
    code, output = run(
        "preview", "data-breach", "--facts", str(EXAMPLES / "data-breach.yaml"), "--locale", "fr"
    )
    assert code == 2
    assert "'fr' is not one of en, de" in output


def test_lint_of_the_shipped_playbooks_exits_0() -> None:
    code, output = run("playbooks", "lint", str(PLAYBOOKS))
    assert code == 0, output
    assert f"{len(shipped_playbooks())} valid, 0 invalid" in output


def test_lint_defaults_to_the_playbooks_folder() -> None:
    code, output = run("playbooks", "lint")
    assert code == 0, output
    assert "statuspage/components.yaml" in output  # the status page's components are checked too
    assert f"{len(shipped_playbooks()) + 1} valid, 0 invalid" in output


def test_lint_names_the_line_of_a_bad_component(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    components = tmp_path / "components.yaml"
    components.write_text("components:\n  - id: api\n    name: API\n    group: nowhere\n  - id: API!\n")
    monkeypatch.setenv("CLARION_COMPONENTS_FILE", str(components))
    get_settings.cache_clear()
    code, output = run("playbooks", "lint")
    assert code == 2
    assert "components.yaml:5: components[1].id: " in output
    assert "components.yaml:5: components[1].name: required field is missing" in output


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "cadence: urgent",
            "cadence: hurly",
            "severities.sev1.cadence: 'hurly' is not one of urgent, important, routine",
        ),
        ("regimes:", "regimez:", "regimez: unknown key (did you mean 'regimes'?)"),
        ("title: Personal data breach\n", "", "title: required field is missing"),
    ],
    ids=["wrong enum", "misspelt key", "missing field"],
)
def test_lint_errors_exit_2_with_file_line_and_field(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    bad = replace_in(PLAYBOOKS / "data-breach.yaml", tmp_path / "data-breach.yaml", old, new)
    code, output = run("playbooks", "lint", str(bad))
    assert code == 2
    assert f"{bad}:" in output and expected in output
    assert "0 valid, 1 invalid" in output


def test_help_is_fast_because_nothing_heavy_is_imported() -> None:
    heavy = "('sqlmodel', 'jinja2', 'babel', 'prefect')"
    probe = f"import sys, faces.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
