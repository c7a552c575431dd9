"""Models whose text comes from people: refused when it carries a control character.

Facts, story edits, update requests and approval answers come from files, from the CLI and from the
Prefect UI's forms. A file is checked as it is read (:func:`clarion.files.yamlfile.read_yaml`); input that
comes another way meets the same rule here, at the model, so whatever builds the model refuses it:

* :class:`CheckedText` refuses, before validation, every string anywhere in the input (keys of
  mappings too, and values of free-form ``dict[str, Any]`` fields) that :func:`clarion.files.text.unsafe_in`
  finds unsafe, each at its own location (``story.en.title``), so the flow run, the CLI and the tests
  all see the same error;
* :func:`with_text_patterns` (a ``json_schema_extra``) gives every string property of the model's
  JSON schema, and the names of its free-form mappings, a ``pattern`` that excludes those characters,
  so a Prefect server that enforces the parameter schema refuses such a run before it is created.
  Strings that already have a pattern, an ``enum`` or a ``const`` keep theirs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError, ValidationInfo, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from clarion.files.text import SAFE_TEXT_PATTERN, unsafe_in

_CHILDREN = ("anyOf", "oneOf", "allOf", "prefixItems")
STORED = "clarion_stored"
"""Validation context key: the data is read back from the store (``{STORED: True}``), checked when it
was written; text stored before a rule existed is not refused on the way out."""


def unsafe_text_errors(data: Any) -> list[InitErrorDetails]:
    """Pydantic error details for every unsafe string in ``data`` (nested dicts and lists, keys too)."""
    return [
        InitErrorDetails(
            type=PydanticCustomError("unsafe_text", "{problem}: write text without it", {"problem": problem}),
            loc=loc,
            input="",  # the value is not echoed: it holds what must not be shown
        )
        for loc, problem in unsafe_in(data)
    ]


class CheckedText(BaseModel):
    """A model that refuses control characters and bidirectional overrides in any text of its input."""

    @model_validator(mode="before")
    @classmethod
    def _no_unsafe_text(cls, data: Any, info: ValidationInfo) -> Any:
        if (info.context or {}).get(STORED):
            return data  # read back from the store: shown through consoles that spell it out
        if isinstance(data, dict) and (errors := unsafe_text_errors(data)):
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return data


def with_text_patterns(schema: dict[str, Any], model: type[Any] | None = None) -> None:
    """``json_schema_extra``: every string of ``schema`` (its properties, their items and branches) and
    every name of a free-form mapping must match :data:`clarion.files.text.SAFE_TEXT_PATTERN`."""
    for prop in (schema.get("properties") or {}).values():
        _pattern_strings(prop)


def _pattern_strings(node: Any) -> None:
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "string" and not {"pattern", "enum", "const"} & node.keys():
        node["pattern"] = SAFE_TEXT_PATTERN
    if kind == "object" and "additionalProperties" in node:
        node.setdefault("propertyNames", {"pattern": SAFE_TEXT_PATTERN})
    for key in _CHILDREN:
        for child in node.get(key) or ():
            _pattern_strings(child)
    for key in ("items", "additionalProperties"):
        _pattern_strings(node.get(key))
    for child in (node.get("properties") or {}).values():
        _pattern_strings(child)
