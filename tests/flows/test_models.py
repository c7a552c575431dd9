"""The flows' parameter models refuse control characters, as the Prefect server's schema check does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools.validation import ValidationError as SchemaRefused
from prefect.utilities.schema_tools.validation import validate
from pydantic import BaseModel, ValidationError

from clarion.files.yamlfile import format_loc
from flows.incident import declare_incident, post_update
from flows.models import ApprovalAnswer, Declaration, StoryChange, UpdateRequest
from tests.helpers import EXAMPLES, load_raw

ESC = "control character U+001B (ESC) at character 6: write text without it"


def facts() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(load_raw(EXAMPLES / "data-breach.yaml"), default=str))
    data.pop("reference")
    return data


def declaration(**changes: Any) -> dict[str, Any]:
    form = facts()
    form.update(changes)
    return {"playbook": "data-breach", "facts": form}


FORMS: list[tuple[str, type[BaseModel], dict[str, Any], list[tuple[str, str]]]] = [
    (
        "declaration-title",
        Declaration,
        declaration(title="Down \x1b[2J"),
        [("facts.title", ESC)],
    ),
    (
        "declaration-commander",
        Declaration,
        {**declaration(), "commander": "ada\x1b]0;x\x07"},
        [("commander", "control character U+001B (ESC) at character 4: write text without it")],
    ),
    (
        "declaration-link-key",
        Declaration,
        declaration(links={"faq\u202e": "https://acme.example/faq"}),
        [
            (
                "facts.links.faq\\u202e",
                "the key holds a bidirectional control U+202E (RIGHT-TO-LEFT OVERRIDE) at character 4: "
                "write text without it",
            )
        ],
    ),
    (
        "update-changes",
        UpdateRequest,
        {"reference": "INC-0042", "changes": {"impact": {"summary": "Down \x1b[2J"}}},
        [("changes.impact.summary", ESC)],
    ),
    (
        "update-story",
        UpdateRequest,
        {"reference": "INC-0042", "story": {"en": {"fix": {"short": "Fixed\rhacked"}}}},
        [("story.en.fix.short", "control character U+000D (CR) at character 6: write text without it")],
    ),
    ("story-change", StoryChange, {"apology": "Sorry\x1b[2J"}, [("apology", ESC)]),
    (
        "approval-reason",
        ApprovalAnswer,
        {"role": "legal", "approved": False, "reason": "No.  \x1b[2J"},
        [("reason", "control character U+001B (ESC) at character 6: write text without it")],
    ),
    (
        "approval-edit",
        ApprovalAnswer,
        {"role": "legal", "story": {"de": {"title": "Titel\x9b"}}},
        [("story.de.title", "control character U+009B (CSI) at character 6: write text without it")],
    ),
]


@pytest.mark.parametrize(("model", "form", "expected"), [f[1:] for f in FORMS], ids=[f[0] for f in FORMS])
def test_control_characters_are_refused_in_every_text_input(
    model: type[BaseModel], form: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(form)
    assert [(format_loc(e["loc"]), e["msg"]) for e in caught.value.errors()] == expected


def test_tab_and_newline_stay_allowed_in_long_text() -> None:
    change = StoryChange.model_validate({"fix": {"text": "We restored it.\n\n\tDetails follow."}})
    assert change.fix is not None and change.fix.text == "We restored it.\n\n\tDetails follow."


@pytest.mark.parametrize(
    ("flow", "parameters"),
    [
        (declare_incident, {"declaration": declaration(title="Down \x1b[2J")}),
        (declare_incident, {"declaration": declaration(links={"x\x07": "https://acme.example/x"})}),
        (post_update, {"request": {"reference": "INC-0042", "story": {"en": {"title": "Up \x1b]0;x\x07"}}}}),
        (post_update, {"request": {"reference": "INC-0042", "changes": {"x\x1b": 1}}}),
    ],
    ids=["declare-title", "declare-link-key", "update-title", "update-change-key"],
)
def test_the_prefect_parameter_schema_refuses_control_characters(
    flow: Any, parameters: dict[str, Any]
) -> None:
    """What a server enforcing the deployment's parameter schema checks before it creates a run."""
    schema = parameter_schema(flow).model_dump_for_openapi()
    clean = json.loads(json.dumps(parameters).replace("\\u001b", "").replace("\\u0007", ""))
    validate(clean, schema, raise_on_error=True)
    with pytest.raises(SchemaRefused, match="does not match"):
        validate(parameters, schema, raise_on_error=True)
