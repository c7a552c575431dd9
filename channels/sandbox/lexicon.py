"""Validation against the atproto lexicons in ``schemas/``, with the PDS's own messages.

A small interpreter for the lexicon types a post needs (object, string, integer, boolean, array,
ref, union, unknown) and their constraints (``required``, ``maxLength`` — UTF-8 bytes for strings,
items for arrays —, ``maxGraphemes``, ``minimum``, string formats). It answers the first problem
found, as the PDS does, in its wording: ``Record/text must not be longer than 300 graphemes``.

Unions: a facet feature must be one of the facet lexicon's own types (the lexicon's union is open,
the sandbox is stricter so that a typo in ``$type`` is caught); an embed's ``$type`` must be one of the
listed refs, but its content is not checked (those lexicons are not shipped).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from typing import Any, Final

from channels.sandbox.config import SCHEMAS
from clarion.updates.limits import graphemes, utf8_bytes

_FORMATS: Final[dict[str, re.Pattern[str]]] = {
    "datetime": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"),
    "language": re.compile(r"^(i|[a-z]{2,3})(-[A-Za-z0-9]{1,8})*$"),
    "did": re.compile(r"^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$"),
    "uri": re.compile(r"^\w+:(?://)?[^\s/][^\s]*$"),
    "handle": re.compile(
        r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
    ),
    "nsid": re.compile(r"^[a-zA-Z]([a-zA-Z0-9-]{0,62})?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})?)+$"),
    "record-key": re.compile(r"^[a-zA-Z0-9_~.:-]{1,512}$"),
    "cid": re.compile(r"^[a-zA-Z0-9+=]{8,256}$"),
    "at-uri": re.compile(r"^at://\S+$"),
}
_FORMATS["at-identifier"] = re.compile(f"{_FORMATS['did'].pattern}|{_FORMATS['handle'].pattern}")
_FORMAT_NOUNS: Final = {"datetime": "datetime", "language": "language code", "uri": "uri", "did": "did"}


@cache
def lexicon(nsid: str) -> dict[str, Any] | None:
    path = SCHEMAS / f"{nsid}.json"
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _resolve(ref: str, context: str) -> tuple[dict[str, Any] | None, str]:
    """(definition, its lexicon id) for ``#name``, ``nsid`` or ``nsid#name``."""
    nsid, _, name = ref.partition("#")
    nsid = nsid or context
    doc = lexicon(nsid)
    if doc is None:
        return None, nsid
    return doc["defs"].get(name or "main"), nsid


def record_problem(collection: str, record: Any) -> str | None:
    """The first problem of ``record`` as a record of ``collection`` (whose lexicon must exist)."""
    doc = lexicon(collection)
    assert doc is not None, collection
    return check(record, doc["defs"]["main"]["record"], "Record", collection)


def check(value: Any, schema: dict[str, Any], path: str, context: str) -> str | None:
    """The first problem of ``value`` against a lexicon type, or None."""
    kind = schema.get("type")
    if kind == "ref":
        target, nsid = _resolve(schema["ref"], context)
        return None if target is None else check(value, target, path, nsid)
    if kind == "union":
        return _union(value, schema, path, context)
    if kind == "object":
        return _object(value, schema, path, context)
    if kind == "array":
        if not isinstance(value, list):
            return f"{path} must be an array"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{path} must not have more than {schema['maxLength']} elements"
        for i, item in enumerate(value):
            if problem := check(item, schema["items"], f"{path}/{i}", context):
                return problem
        return None
    if kind == "string":
        return _string(value, schema, path)
    if kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{path} must be an integer"
        if "minimum" in schema and value < schema["minimum"]:
            return f"{path} can not be less than {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{path} can not be greater than {schema['maximum']}"
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else f"{path} must be a boolean"
    if kind == "unknown":
        return None if isinstance(value, dict) else f"{path} must be an object"
    return None


def _object(value: Any, schema: dict[str, Any], path: str, context: str) -> str | None:
    if not isinstance(value, dict):
        return f"{path} must be an object"
    for name in schema.get("required", ()):
        if name not in value:
            return f'{path} must have the property "{name}"'
    for name, sub in schema.get("properties", {}).items():
        present = name in value and value[name] is not None
        if present and (problem := check(value[name], sub, f"{path}/{name}", context)):
            return problem
    return None


def _union(value: Any, schema: dict[str, Any], path: str, context: str) -> str | None:
    if not isinstance(value, dict) or not isinstance(value.get("$type"), str):
        return f'{path} must be an object which includes the "$type" property'
    refs = [r if not r.startswith("#") else f"{context}{r}" for r in schema["refs"]]
    kind = value["$type"]
    if kind not in refs and f"{kind}#main" not in refs:
        return f"{path} $type must be one of {', '.join(refs)}"
    target, nsid = _resolve(kind, context)
    return None if target is None else check(value, target, path, nsid)


def _string(value: Any, schema: dict[str, Any], path: str) -> str | None:
    if not isinstance(value, str):
        return f"{path} must be a string"
    if "maxLength" in schema and utf8_bytes(value) > schema["maxLength"]:
        return f"{path} must not be longer than {schema['maxLength']} characters"
    if "maxGraphemes" in schema and graphemes(value) > schema["maxGraphemes"]:
        return f"{path} must not be longer than {schema['maxGraphemes']} graphemes"
    fmt = schema.get("format")
    if fmt in _FORMATS and not _format_ok(fmt, value):
        noun = _FORMAT_NOUNS.get(fmt, fmt)
        return f"{path} must be a valid {noun}"
    return None


def _format_ok(fmt: str, value: str) -> bool:
    if not _FORMATS[fmt].match(value):
        return False
    if fmt == "datetime":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
    return True
