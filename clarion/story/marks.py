"""Where each story block sits in a rendered text.

Every channel template tells the story in blocks named after the parts (``apology``, ``cause``,
``fix``, ``prevention``) and, on short channels, a ``pointers`` block that sends the reader to the
status page for the parts left out. When such a template is compiled, each of those blocks is
wrapped in two reserved characters (Unicode noncharacters, which no fact may hold:
:mod:`clarion.files.text` refuses them), so after rendering the text each block produced can be read back
exactly as the reader sees it, whatever a playbook override put inside it. :func:`split` takes the
marks out again; nothing marked ever leaves the renderer.

Only templates that do not extend another are marked: a playbook override's child template replaces
a block's content, and the parent's marks around the call site enclose whatever the child gives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from jinja2 import nodes

from clarion.playbook import Part

POINTERS: Final = "pointers"
"""The block that points to the status page for the parts a short channel leaves out."""

MARKED: Final = (*(p.value for p in Part), POINTERS)
"""The block names whose output is marked."""

_FIRST = 0xFDD0  # U+FDD0..U+FDEF are noncharacters: never exchanged, free for internal use
_OPEN: Final = {name: chr(_FIRST + 2 * i) for i, name in enumerate(MARKED)}
_CLOSE: Final = {name: chr(_FIRST + 2 * i + 1) for i, name in enumerate(MARKED)}
_ANY_MARK = re.compile("[" + "".join(_OPEN.values()) + "".join(_CLOSE.values()) + "]")
_SPANS: Final = {
    name: re.compile(re.escape(_OPEN[name]) + "(.*?)" + re.escape(_CLOSE[name]), re.S) for name in MARKED
}


class MarksMisused(ValueError):
    """The rendered text holds a mark no block put there (a template wrote the character itself)."""


def mark_blocks(tree: nodes.Template) -> nodes.Template:
    """``tree`` with every story block wrapped in its marks (in place; a child template is left alone)."""
    if next(tree.find_all(nodes.Extends), None) is None:
        _wrap(tree)
    return tree


def _wrap(node: nodes.Node) -> None:
    for name in node.fields:
        value = getattr(node, name)
        if isinstance(value, nodes.Node):
            _wrap(value)
        elif isinstance(value, list):
            wrapped: list[object] = []
            for child in value:
                if isinstance(child, nodes.Node):
                    _wrap(child)
                if isinstance(child, nodes.Block) and child.name in _OPEN:
                    line = child.lineno
                    wrapped += [_output(_OPEN[child.name], line), child, _output(_CLOSE[child.name], line)]
                else:
                    wrapped.append(child)
            setattr(node, name, wrapped)


def _output(mark: str, lineno: int) -> nodes.Output:
    return nodes.Output([nodes.TemplateData(mark, lineno=lineno)], lineno=lineno)


def split(rendered: str) -> tuple[str, Mapping[str, str]]:
    """(the text without marks, the text each marked block produced, marks removed).

    A block shown more than once (inside a loop) counts with all its showings; a block the template
    does not show is absent from the mapping.
    """
    blocks: dict[str, str] = {}
    for name in MARKED:
        spans = _SPANS[name].findall(rendered)
        if spans:
            blocks[name] = " ".join(_ANY_MARK.sub("", span) for span in spans)
    clean = _ANY_MARK.sub("", rendered)
    expected = sum(len(_SPANS[name].findall(rendered)) for name in blocks) * 2
    if len(rendered) - len(clean) != expected:
        raise MarksMisused("the text holds a reserved character (U+FDD0..U+FDD9) no story block put there")
    return clean, blocks
