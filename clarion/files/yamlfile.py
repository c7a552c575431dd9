"""Read a YAML file a person wrote into a pydantic model, with errors that name file, line and field.

``yaml.safe_load`` forgets where things were, so the file is also *composed* into nodes to map every
key path to its line. Pydantic's errors are then reworded for people::

    playbooks/x.yaml:12: severities.sev1.cadence: 'hurly' is not one of urgent, important, routine
    playbooks/x.yaml:3: severites: unknown key (did you mean 'severities'?)
    playbooks/x.yaml:1: title: required field is missing
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from clarion.errors import InputError, Problem, display_path
from clarion.files.inputfile import read_text
from clarion.files.text import describe, first_unsafe, is_unsafe, unsafe_in, visible
from clarion.files.yamlloader import SAFE_LOADER, Loader, Refused, compose

__all__ = [
    "SAFE_LOADER",
    "LineMap",
    "format_loc",
    "load_model",
    "problems_from",
    "read_yaml",
    "validate_with_lines",
]

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


class LineMap:
    """Line numbers (1-based) of every key and list item in a YAML document, by path."""

    def __init__(self) -> None:
        self._lines: dict[Loc, int] = {}

    def add(self, loc: Loc, line: int) -> None:
        self._lines.setdefault(loc, line)

    def line_for(self, loc: Sequence[str | int]) -> int | None:
        """The line of ``loc`` or of its nearest ancestor that is in the file."""
        path = tuple(loc)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), None)


_TEXT = "tag:yaml.org,2002:str"
_KEY_NOT_TEXT = (
    "a key must be text: put it in quotes (YAML reads 1, no, on and ~ as a number, false, true, null)"
)


def _walk(root: yaml.Node, lines: LineMap, source: str) -> list[Problem]:
    """Record the line of every key and item; duplicate keys are problems. A loop, not recursion:
    the node tree is already bounded (:func:`clarion.files.yamlloader.compose`)."""
    problems: list[Problem] = []
    lines.add((), root.start_mark.line + 1)
    stack: list[tuple[yaml.Node, Loc]] = [(root, ())]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                if key_node.tag != _TEXT:  # 1: …, no: … (false), ~: … (null), [a]: …
                    field = visible(format_loc((*loc, key)), limit=80)
                    problems.append(Problem(source, line, field, _KEY_NOT_TEXT))
                if key in seen:
                    field = visible(format_loc((*loc, key)))
                    problems.append(
                        Problem(source, line, field, "duplicate key (the earlier one would be ignored)")
                    )
                seen.add(key)
                lines.add((*loc, key), line)
                if first_unsafe(key) is not None:  # where unsafe_in names a key it refuses
                    lines.add((*loc, visible(key, limit=40)), line)
                stack.append((value_node, (*loc, key)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines.add((*loc, index), item.start_mark.line + 1)
                stack.append((item, (*loc, index)))
    return sorted(problems, key=lambda p: p.line or 0)


def read_yaml(path: Path, error: type[InputError]) -> tuple[Any, LineMap]:
    """Parse ``path`` safely; raise ``error`` naming the line of every problem.

    The file is read through :func:`clarion.files.inputfile.read_text` (a regular file, at most 1 MiB,
    UTF-8); the document is composed within bounds (:mod:`clarion.files.yamlloader`: no alias bombs, no
    deep nesting, times left as text); duplicate keys are refused, and so is text anywhere in the
    document (keys too) that carries a control character or a bidirectional override
    (:func:`clarion.files.text.unsafe_in`).
    """
    source = display_path(path)
    text = read_text(path, error=error)
    loader = Loader(text)
    try:  # one parse: the node tree gives the lines, the same tree gives the data
        root = compose(loader)
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        raise error([_yaml_problem(exc, text, source)]) from exc
    finally:
        loader.dispose()
    lines = LineMap()
    if root is None:
        return data, lines
    problems = _walk(root, lines, source)
    problems += [
        Problem(source, lines.line_for(loc), visible(format_loc(loc)), f"{message}: write text without it")
        for loc, message in unsafe_in(data)
    ]
    if problems:
        raise error(sorted(problems, key=lambda p: p.line or 0))
    return data, lines


def _yaml_problem(exc: yaml.YAMLError, text: str, source: str) -> Problem:
    """Any error PyYAML raises while loading, as one problem with the line it happened on."""
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow (NUL, ESC, U+FFFE)
        character = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
        at = text.find(character) if len(character) == 1 else -1
        if at < 0:
            return Problem(source, None, "", f"YAML: {visible(str(exc.reason))}")
        row = text.count("\n", 0, at) + 1
        column = at - (text.rfind("\n", 0, at) + 1) + 1
        what = describe(character) if is_unsafe(character) else f"character U+{ord(character):04X}"
        return Problem(source, row, "", f"{what} at column {column}: a YAML file may not hold it")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line: int | None = mark.line + 1 if mark is not None else None
        if isinstance(exc, Refused):
            return Problem(source, line, "", visible(str(exc.problem)))
        if exc.context == "expected a single document in the stream":
            return Problem(source, line, "", "a second document starts here: a file holds one document")
        message = visible(str(exc.problem or exc.context))
        context = exc.context_mark
        if (
            exc.problem
            and exc.context
            and context is not None
            and mark is not None
            and context.line != mark.line
        ):
            message += f" ({visible(exc.context)} at line {context.line + 1})"
        kind = "YAML" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax"
        return Problem(source, line, "", f"{kind}: {message}")
    return Problem(source, None, "", f"YAML: {visible(str(exc))}")


def load_model(model: type[M], path: Path, error: type[InputError]) -> M:
    """Read ``path`` and validate it as ``model``; every problem is reported, each with its line."""
    data, lines = read_yaml(path, error)
    if data is None:
        data = {}
    return validate_with_lines(model, data, lines, display_path(path), error)


def validate_with_lines(model: type[M], data: Any, lines: LineMap, source: str, error: type[InputError]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(problems_from(exc, model, lines, source)) from exc


def problems_from(exc: ValidationError, model: type[BaseModel], lines: LineMap, source: str) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = _data_loc(err["loc"])
        field = visible(format_loc(loc))
        problems.append(Problem(source, lines.line_for(loc), field, _message(err, loc, model)))
    return sorted(problems, key=lambda p: p.line or 0)


def format_loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _data_loc(loc: Sequence[str | int]) -> Loc:
    # Pydantic adds pseudo-steps for unions and tagged models ("function-after[...]", "str"); drop them.
    return tuple(
        p for p in loc if isinstance(p, int) or not re.match(r"^[a-z-]+\[.*\]$|^(str|int|none)$|^\[key\]$", p)
    )


def _message(err: Mapping[str, Any], loc: Loc, model: type[BaseModel]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind in {"enum", "literal_error"}:
        choices = ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
        return f"{err['input']!r} is not one of {choices}"
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1) if known else []
        hint = (
            f" (did you mean {close[0]!r}?)"
            if close
            else (f" (expected one of {', '.join(known)})" if known else "")
        )
        return f"unknown key{hint}"
    message = str(err["msg"])
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The field names a model accepts at ``loc``, following nested models, dicts and lists."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
            continue
        args = typing.get_args(current)
        origin = typing.get_origin(current)
        if origin in (dict, Mapping) and len(args) == 2:
            current = args[1]
        elif origin in (list, tuple, Sequence) and args:
            current = args[0]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """``X | None`` → ``X``; ``Annotated[X, ...]`` → ``X``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation
