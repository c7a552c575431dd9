"""The fast pre-check never says "valid" where jsonschema says "invalid" (and mostly agrees)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from channels.sandbox.fastcheck import compile_check
from channels.sandbox.sendgrid import request_schema
from channels.sandbox.twilio import coerce_form
from tests.channels.sandbox.helpers import mail, sms
from tests.helpers import ROOT

ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    1.0,
    2.5,
    -1,
    "",
    "x",
    "a@b",
    "x" * 300,
    [],
    [1],
    ["a", "a"],
    {},
    {"a": 1},
]


def twilio_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (ROOT / "channels/sandbox/schemas/twilio_create_message_request.schema.json").read_text()
    )
    return schema


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from paths(value, (*prefix, i))


def mutants(valid: dict[str, Any], extra_keys: list[str]) -> Iterator[Any]:
    """Every leaf or subtree replaced by odd values, every key removed, unknown and known keys added."""
    for path in list(paths(valid)):
        if not path:
            continue
        for value in [*ODD_VALUES, "DELETE"]:
            copied = copy.deepcopy(valid)
            parent = copied
            for step in path[:-1]:
                parent = parent[step]
            if value == "DELETE":
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
            yield copied
    for key in extra_keys:
        for value in ODD_VALUES:
            yield {**copy.deepcopy(valid), key: value}


@pytest.mark.parametrize(
    ("schema", "valid"),
    [
        (
            request_schema(),
            mail("a@example.com", "b@example.com", categories=["a", "b"], asm={"group_id": 1}),
        ),
        (
            twilio_schema(),
            coerce_form(
                {
                    k: [v]
                    for k, v in sms(
                        ValidityPeriod="60", SmartEncoded="true", ContentRetention="retain"
                    ).items()
                }
            ),
        ),
    ],
    ids=["sendgrid", "twilio"],
)
def test_fast_check_is_sound_against_jsonschema(schema: dict[str, Any], valid: dict[str, Any]) -> None:
    checker = FormatChecker()
    validator = Draft202012Validator(schema, format_checker=checker)
    fast = compile_check(schema, checker)
    assert fast is not None
    assert fast(valid) and validator.is_valid(valid)

    checked = agreed = 0
    for mutant in mutants(valid, list(schema["properties"])):
        verdict = fast(mutant)
        truth = validator.is_valid(mutant)
        assert not (verdict and not truth), mutant  # never weaker
        checked += 1
        agreed += verdict == truth
    assert checked > 400
    assert agreed / checked > 0.95  # and rarely needs jsonschema to decide


def test_schemas_with_references_are_not_compiled() -> None:
    assert compile_check({"$defs": {"a": {"type": "string"}}, "$ref": "#/$defs/a"}) is None


def test_unknown_keywords_fall_back_to_jsonschema_for_their_subschema() -> None:
    fast = compile_check({"type": "object", "properties": {"a": {"const": 1}, "b": {"type": "string"}}})

    assert fast is not None
    assert fast({"a": 1, "b": "x"})
    assert not fast({"a": 2})
    assert not fast({"b": 3})
