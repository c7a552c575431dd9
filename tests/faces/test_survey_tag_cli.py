"""``clarion survey tag``, through a small typer app around the command (the lead registers it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from faces.console import EXIT_INPUT
from faces.survey_tag_cli import tag

runner = CliRunner()
app = typer.Typer()
app.command()(tag)


def write_csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "answers.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_answers_as_arguments_print_a_table_with_their_tags_and_cues() -> None:
    done = runner.invoke(app, ["Very relieved, thanks!", "I no longer trust you. Call me."])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    first = next(line for line in lines if "Very relieved" in line)
    assert "relief, appreciation" in first and "positive" in first and " no " in first
    second = next(line for line in lines if "no longer trust" in line)
    assert "doubt" in second and "negative" in second and " yes " in second
    assert "doubt: trust (negated by no longer)" in done.output
    assert "2 answers tagged" in done.output


def test_json_prints_one_object_per_answer_without_the_answer_itself() -> None:
    done = runner.invoke(app, ["--json", "--locale", "de", "Ruft mich bitte an.", "  ", "Puh, erleichtert!"])
    assert done.exit_code == 0, done.output
    objects = [json.loads(line) for line in done.output.splitlines()]
    assert [o["argument"] for o in objects] == [1, 3]  # the blank answer is skipped
    assert objects[0]["contact"] is True
    assert objects[0]["cues"] == [{"tag": "contact", "cue": "Ruft mich bitte an", "start": 0, "end": 18}]
    assert objects[1]["signals"] == ["relief"] and objects[1]["polarity"] == "positive"
    assert objects[1]["locale"] == "de"
    assert all("text" not in o for o in objects)


def test_a_file_tags_the_chosen_column_and_a_locale_column_wins_row_by_row(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "id,locale,comment,score\n"
        '1,de,"Danke, ich bin erleichtert.",5\n'
        "2,,So relieved!,4\n"
        "3,en,,3\n"
        "4,de-AT,Ich vertraue Ihnen nicht mehr.,1\n",
    )
    done = runner.invoke(app, ["--file", str(path), "--column", "comment", "--locale", "en", "--json"])
    assert done.exit_code == 0, done.output
    objects = {o["line"]: o for o in map(json.loads, done.output.splitlines())}
    assert sorted(objects) == [2, 3, 5]  # line 4's answer is blank
    assert objects[2]["signals"] == ["relief", "appreciation"] and objects[2]["locale"] == "de"
    assert objects[3]["signals"] == ["relief"] and objects[3]["locale"] == "en"
    assert objects[5]["signals"] == ["doubt"] and objects[5]["locale"] == "de-AT"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"id,answer\n1,hello\n", "answers.csv:1: header: the 'text' column is required"),
        (b"text,locale\nfine,en\nbad,\x1b[2J\n", "answers.csv:3: locale: '\\x1b[2J' is not a language tag"),
        (b'text\nfine\n"a","b"\n', "answers.csv:3: 2 fields, the header names 1"),
        (b"text\nfine\n\xff\n", "answers.csv:3: not UTF-8 text (byte 0xff)"),
    ],
)
def test_a_bad_file_names_file_line_and_field_and_prints_no_tags(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "answers.csv"
    path.write_bytes(content)
    done = runner.invoke(app, ["--file", str(path)])
    assert done.exit_code == EXIT_INPUT, done.output
    assert message in done.output
    assert "answers tagged" not in done.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to tag"),
        (["--file", "answers.csv", "Relieved"], "not both"),
        (["--locale", "english!", "Relieved"], "--locale: 'english!' is not a language tag"),
        (["--file", "missing.csv"], "missing.csv: answers file not found"),
    ],
)
def test_usage_mistakes_exit_with_the_input_code(args: list[str], message: str) -> None:
    done = runner.invoke(app, args)
    assert done.exit_code == EXIT_INPUT, done.output
    assert message in done.output
