"""A fast pre-check of JSON Schemas that only ever says "valid" when jsonschema would.

jsonschema needs about 50 ms for a SendGrid request of 1000 personalizations (it builds a validator
per subschema it descends into). :func:`compile_check` turns a schema into nested closures that
answer "certainly valid" in a few ms. It is *sound, not complete*: when it returns True the
instance is valid by jsonschema's own rules; when it returns False the caller asks the
``Draft202012Validator`` for the real verdict and its error messages. So nothing is checked less:

* keywords are implemented with jsonschema's semantics (``len`` for string lengths, ``re.search``
  for patterns, the very ``FormatChecker`` for formats), or more strictly (an integral float is not
  fast-accepted as an integer, a non-string enum or unique array goes to jsonschema);
* a subschema with a keyword not listed here is handed whole to a jsonschema validator for it;
* a schema with references is not compiled at all (:func:`compile_check` returns None).

``tests/channels/sandbox/test_fastcheck.py`` checks it against jsonschema over thousands of mutants.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from jsonschema import Draft202012Validator, FormatChecker

Check = Callable[[Any], bool]

_ANNOTATIONS: Final = frozenset({"description", "title", "default", "examples", "$comment", "$schema"})
_KNOWN: Final = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "maxProperties",
        "minProperties",
        "items",
        "maxItems",
        "minItems",
        "uniqueItems",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "enum",
        "minimum",
        "maximum",
    }
)
_REFERENCES: Final = frozenset({"$ref", "$dynamicRef", "$defs", "definitions", "$anchor", "$id"})

_TYPES: Final[Mapping[str, tuple[type, ...]]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
    "integer": (int,),  # an integral float is valid too, but left to jsonschema
    "number": (int, float),
}


def _always(_: Any) -> bool:
    return True


def _never(_: Any) -> bool:
    return False


def compile_check(schema: Mapping[str, Any], format_checker: FormatChecker | None = None) -> Check | None:
    """A sound fast check for ``schema``, or None when the schema uses references."""
    if _uses_references(schema):
        return None
    return _compile(schema, format_checker)


def _uses_references(node: Any) -> bool:
    if isinstance(node, dict):
        return any(key in _REFERENCES or _uses_references(value) for key, value in node.items())
    if isinstance(node, list):
        return any(_uses_references(item) for item in node)
    return False


def _compile(schema: Any, fc: FormatChecker | None) -> Check:
    if schema is True:
        return _always
    if schema is False:
        return _never
    keywords = {k for k in schema if k not in _ANNOTATIONS and not k.startswith("x-")}
    if keywords - _KNOWN or isinstance(schema.get("items"), list) or "patternProperties" in schema:
        return Draft202012Validator(schema, format_checker=fc).is_valid
    only = schema.get("type") if isinstance(schema.get("type"), str) else None
    structure = _object_checks(schema, fc, strict=only == "object")
    structure += _array_checks(schema, fc, strict=only == "array")
    checks: list[Check] = []
    # A strict object or array check tests the type itself; otherwise test it here.
    if "type" in schema and not (structure and only in ("object", "array")):
        names = [schema["type"]] if only else list(schema["type"])
        exact = tuple(t for name in names for t in _TYPES[name])
        checks.append(lambda x: type(x) in exact)
    return _all_of(checks + structure + _scalar_checks(schema, fc))


def _all_of(checks: list[Check]) -> Check:
    if not checks:
        return _always
    combined = checks[-1]
    for check in reversed(checks[:-1]):
        combined = _both(check, combined)
    return combined


def _both(first: Check, second: Check) -> Check:
    return lambda x: first(x) and second(x)


def _object_checks(schema: Mapping[str, Any], fc: FormatChecker | None, *, strict: bool) -> list[Check]:
    """Object keywords; ``strict``: also require an object (the schema's type is "object")."""
    checks: list[Check] = []
    properties = {name: _compile(sub, fc) for name, sub in schema.get("properties", {}).items()}
    required = tuple(schema.get("required", ()))
    additional = schema.get("additionalProperties", True)
    extra = _compile(additional, fc) if additional is not True else None
    max_props = schema.get("maxProperties")
    min_props = schema.get("minProperties", 0)
    if not (strict or properties or required or extra or max_props is not None or min_props):
        return checks
    prop_items = tuple(properties.items())

    def check_object(x: Any) -> bool:
        if type(x) is not dict:
            return not strict  # object keywords ignore other types
        for name in required:
            if name not in x:
                return False
        if len(x) < min_props or (max_props is not None and len(x) > max_props):
            return False
        for name, check in prop_items:
            if name in x and not check(x[name]):
                return False
        if extra is not None:
            for key, value in x.items():
                if key not in properties and not extra(value):
                    return False
        return True

    checks.append(check_object)
    return checks


def _array_checks(schema: Mapping[str, Any], fc: FormatChecker | None, *, strict: bool) -> list[Check]:
    """Array keywords; ``strict``: also require an array (the schema's type is "array")."""
    item = _compile(schema["items"], fc) if "items" in schema else None
    max_items = schema.get("maxItems")
    min_items = schema.get("minItems", 0)
    unique = bool(schema.get("uniqueItems", False))
    if not strict and item is None and max_items is None and not min_items and not unique:
        return []

    def check_array(x: Any) -> bool:
        if type(x) is not list:
            return not strict
        if len(x) < min_items or (max_items is not None and len(x) > max_items):
            return False
        if unique and not (all(type(v) is str for v in x) and len(set(x)) == len(x)):
            return False  # strings only: jsonschema's equality rules for the rest are subtle
        if item is not None:
            for v in x:
                if not item(v):
                    return False
        return True

    return [check_array]


def _scalar_checks(schema: Mapping[str, Any], fc: FormatChecker | None) -> list[Check]:
    checks: list[Check] = []
    min_len = schema.get("minLength", 0)
    max_len = schema.get("maxLength")
    if min_len:
        checks.append(lambda x: type(x) is not str or len(x) >= min_len)
    if max_len is not None:
        checks.append(lambda x: type(x) is not str or len(x) <= max_len)
    if "pattern" in schema:
        search = re.compile(schema["pattern"]).search
        checks.append(lambda x: type(x) is not str or search(x) is not None)
    if fc is not None and schema.get("format") in fc.checkers:
        func, raises = fc.checkers[schema["format"]]  # what FormatChecker.check calls

        def check_format(x: Any) -> bool:
            try:
                return bool(func(x))
            except raises:
                return False

        checks.append(check_format)
    if "enum" in schema:
        values = schema["enum"]
        if all(type(v) is str for v in values):
            allowed = frozenset(values)
            checks.append(lambda x: type(x) is str and x in allowed)
        else:
            checks.append(_never)  # left to jsonschema
    if "minimum" in schema:
        low = schema["minimum"]
        checks.append(lambda x: type(x) not in (int, float) or x >= low)
    if "maximum" in schema:
        high = schema["maximum"]
        checks.append(lambda x: type(x) not in (int, float) or x <= high)
    return checks
