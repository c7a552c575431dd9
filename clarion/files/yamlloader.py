"""The YAML loader for files people write: plain values only, and bounded work.

PyYAML's safe loader still does three things a person's file should not be able to make it do:

* **Unbounded work.** Aliases repeat what their anchor names, so a few kilobytes of nested aliases
  (the "billion laughs") expand to billions of values: whatever walks the data afterwards (the line
  map, the checks, pydantic) runs for minutes and runs out of memory. Deep nesting makes the
  recursive composer and constructor fail with a RecursionError instead of an error with a line.
  :func:`compose` builds the node tree with a loop, not recursion, and refuses a document whose
  expanded size passes :data:`MAX_NODES` or whose nesting passes :data:`MAX_DEPTH`, or an alias
  inside the collection it names (a loop), at the line of the node that passed the bound. The
  walk is cheap by construction: every anchored node's expanded size and height are computed once,
  when it is closed, and an alias adds them without being walked again.
* **Implicit timestamps.** ``2026-02-30`` or a ``+25:00`` offset become a ValueError inside the
  constructor, ``0001-01-01`` an OverflowError later. :class:`Loader` leaves times as text, so they
  reach pydantic and fail there as validation errors with their line.
* **Types nobody writes by hand** (``!!binary``, ``!!set``, ``!!omap``, ``!!pairs``, local tags):
  they are refused with their line, so every value is a mapping, a list, text, a number, a boolean
  or null, and the checks on text see every string.
* **Numbers without end.** An integer must fit 64 bits, and one written longer than
  :data:`MAX_INT_CHARACTERS` is refused before it is computed (``59:59:…`` in base 60 would grow a
  number of a million digits, quadratically slowly, that nothing can even print).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError, SafeConstructor

from clarion.files.text import visible

SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML was built with it (about ten times faster), else Python's."""

MAX_CHARACTERS = 4 << 20
"""Characters of text a document may expand to (a 1 MiB file holds at most 1 Mi without aliases):
1 000 aliases of one 100 000-character scalar would be 100 MB of text."""
MAX_NODES = 100_000
"""Most values (mappings, lists and scalars, counted as often as aliases repeat them) in a document."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists (aliases counted where they are used)."""
MAX_INT_CHARACTERS = 80
"""Longest integer as written: a 64-bit integer fits, even in binary with its sign and ``0b``."""

_YAML = "tag:yaml.org,2002:"
TIMESTAMP = _YAML + "timestamp"
ALLOWED_TAGS = frozenset(
    _YAML + name for name in ("null", "bool", "int", "float", "str", "seq", "map", "merge", "timestamp")
)
_DROPPED_RESOLVERS = frozenset({TIMESTAMP, _YAML + "value"})


class Refused(ComposerError):
    """A document clarion does not load: it passes a bound on its size or nesting, an alias loops, or
    a value has a type nobody writes by hand. The mark is the line of the node at fault."""


class Loader(SAFE_LOADER):  # type: ignore[valid-type,misc]
    """The safe loader without implicit timestamps (and ``=``), whose construction errors have lines."""

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in _DROPPED_RESOLVERS]
        for first, resolvers in SAFE_LOADER.yaml_implicit_resolvers.items()
    }

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:  # a constructor's own failure, given its line
            message = f"cannot read this value: {visible(str(exc), limit=200)}"
            raise ConstructorError(None, None, message, node.start_mark) from exc

    def construct_bounded_int(self, node: yaml.ScalarNode) -> int:
        """An integer that fits 64 bits, refused before any arithmetic when it is written longer
        (``1:2:3:…`` in base 60 would otherwise grow a number of a million digits, slowly)."""
        written = str(node.value).replace("_", "")
        if len(written) > MAX_INT_CHARACTERS:
            raise ConstructorError(None, None, "the number is too long", node.start_mark)
        value: int = SafeConstructor.construct_yaml_int(self, node)
        if not -(2**63) <= value < 2**63:
            raise ConstructorError(None, None, "the number is too large", node.start_mark)
        return value


Loader.add_constructor(TIMESTAMP, SafeConstructor.construct_yaml_str)  # an explicit !!timestamp: text too
Loader.add_constructor(_YAML + "int", Loader.construct_bounded_int)


def tag_name(tag: str) -> str:
    """``tag:yaml.org,2002:binary`` → ``!!binary``; other tags as written, made visible."""
    return visible("!!" + tag.removeprefix(_YAML) if tag.startswith(_YAML) else tag, limit=60)


@dataclass
class _Open:
    """A mapping or list being composed: its node, and what its children add up to so far."""

    node: yaml.Node
    anchor: str | None
    size: int = 1
    height: int = 1
    chars: int = 0
    key: yaml.Node | None = field(default=None)


def compose(loader: Any, *, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> yaml.Node | None:
    """The root node of the single document ``loader`` reads, composed like PyYAML's composer
    (same nodes, tags and marks), but with a loop and within the bounds; ``None`` for an empty file."""
    loader.get_event()  # stream start
    if loader.check_event(yaml.StreamEndEvent):
        loader.get_event()
        return None
    loader.get_event()  # document start
    root = _compose_node(loader, max_nodes, max_depth)
    loader.get_event()  # document end
    if not loader.check_event(yaml.StreamEndEvent):
        event = loader.get_event()
        raise ComposerError(
            "expected a single document in the stream",
            root.start_mark,
            "but found another document",
            event.start_mark,
        )
    loader.get_event()
    return root


def _compose_node(loader: Any, max_nodes: int, max_depth: int) -> yaml.Node:
    anchors: dict[str, yaml.Node] = {}
    measured: dict[int, tuple[int, int, int]] = {}  # id(anchored collection) → (size, height, chars)
    stack: list[_Open] = []
    total = characters = 0
    while True:
        event: Any = loader.get_event()
        if isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            done = stack.pop()
            done.node.end_mark = event.end_mark
            if done.anchor is not None:
                measured[id(done.node)] = (done.size, done.height, done.chars)
            node, size, height, chars = done.node, done.size, done.height, done.chars
        elif isinstance(event, yaml.AliasEvent):
            node, (size, height, chars) = _alias(event, anchors, measured)
            total += size
            characters += chars
            if len(stack) + height > max_depth:
                raise _refused(_too_deep(max_depth, alias=True), event)
        else:
            node = _start(loader, event, anchors)
            total += 1
            if not isinstance(node, yaml.ScalarNode):
                if len(stack) + 1 > max_depth:
                    raise _refused(_too_deep(max_depth, alias=False), event)
                stack.append(_Open(node, event.anchor))
                continue
            size, height, chars = 1, 1, len(node.value)
            characters += chars
        if total > max_nodes:
            raise _refused(f"the document has more than {max_nodes} values ({_ALIASES_COUNT})", event)
        if characters > MAX_CHARACTERS:
            limit = f"{MAX_CHARACTERS >> 20} Mi"
            raise _refused(f"the document has more than {limit} characters of text ({_ALIASES_COUNT})", event)
        if not stack:
            return node
        _add(stack[-1], node, size, height, chars)


_ALIASES_COUNT = "an alias counts as often as it is used"


def _alias(
    event: Any, anchors: dict[str, yaml.Node], measured: dict[int, tuple[int, int, int]]
) -> tuple[yaml.Node, tuple[int, int, int]]:
    """The node an alias repeats, with its expanded size, height and characters."""
    node = anchors.get(event.anchor)
    if node is None:
        raise ComposerError(None, None, f"found undefined alias {event.anchor!r}", event.start_mark)
    if isinstance(node, yaml.ScalarNode):
        return node, (1, 1, len(node.value))
    if id(node) not in measured:
        name = visible(str(event.anchor), limit=40)
        raise _refused(f"the alias *{name} is inside the collection it names (a loop)", event)
    return node, measured[id(node)]


def _start(loader: Any, event: Any, anchors: dict[str, yaml.Node]) -> yaml.Node:
    """The node an event opens (a scalar is whole), with its tag resolved as PyYAML does."""
    anchor = event.anchor
    if anchor is not None and anchor in anchors:
        raise ComposerError(
            f"found duplicate anchor {anchor!r}; first occurrence",
            anchors[anchor].start_mark,
            "second occurrence",
            event.start_mark,
        )
    scalar = isinstance(event, yaml.ScalarEvent)
    kind: Any = (
        yaml.ScalarNode
        if scalar
        else (yaml.SequenceNode if isinstance(event, yaml.SequenceStartEvent) else yaml.MappingNode)
    )
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(kind, event.value if scalar else None, event.implicit)
    if tag not in ALLOWED_TAGS:
        message = f"the tag {tag_name(tag)} is not allowed: write plain text, numbers, lists and mappings"
        raise _refused(message, event)
    node: yaml.Node
    if scalar:
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
    else:
        node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
    if anchor is not None:
        anchors[anchor] = node  # before its children, as PyYAML does: an alias inside it is a loop
    return node


def _refused(message: str, event: Any) -> Refused:
    return Refused(None, None, message, event.start_mark)


def _add(parent: _Open, node: yaml.Node, size: int, height: int, chars: int) -> None:
    parent.size += size
    parent.height = max(parent.height, height + 1)
    parent.chars += chars
    if isinstance(parent.node, yaml.SequenceNode):
        parent.node.value.append(node)
    elif parent.key is None:
        parent.key = node
    else:
        parent.node.value.append((parent.key, node))
        parent.key = None


def _too_deep(limit: int, *, alias: bool) -> str:
    where = "the alias nests" if alias else "mappings and lists nest"
    return f"{where} deeper than {limit} levels"
