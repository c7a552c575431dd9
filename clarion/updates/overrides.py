"""What a playbook's part override may contain, decided by Jinja's own parser.

An override (``parts.<locale>.<part>.long|short``) replaces one story block of the channel templates:
it is prose with a few expressions (``{{ super() }} Reset your password at {{ links.password_reset
}}.``). It is parsed with the renderer's settings and its syntax tree is walked: every node must be
on a short list, so whatever Jinja can parse but the list does not name is refused, whichever way it
is spelt (``{%+ import %}``, ``{%- include -%}``, a ``{% raw %}`` block):

- text, constants, ``{{ … }}`` output, ``~`` (joins text), comparisons, ``and`` / ``or`` / ``not``,
  ``if`` blocks and inline ``… if … else …``;
- the template's data by name (``CONTEXT``: the names ``Renderer._context`` gives), read with ``.``
  or ``[…]`` along the keys the data has, so a typo fails at lint time rather than at send time;
- the filters in ``FILTERS`` and the tests in ``TESTS``, with arguments of the same kinds;
- one call: ``super()``, with no arguments (the block's own text);
- one ``for`` loop at a time (none inside another) over a list of the data, such as
  ``impact.components``; the renderer also counts its iterations.

Everything else (``import``, ``include``, ``extends``, ``macro``, ``call``, ``block``, ``set``,
``with``, ``filter`` blocks, ``raw``, arithmetic, other calls, ``self``, ``range``, ``lipsum``,
``cycler``, ``namespace``, names starting with ``_``) is refused with a message naming it.
``check_override`` also says which ``links.*`` and whether ``breach`` an override reads, so the
playbook can be held to list them (``required_links``, ``breach_facts``): facts must give them.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from jinja2 import TemplateSyntaxError, nodes

from clarion.files.text import visible
from clarion.updates.template_env import BoundedEnvironment

MAX_OVERRIDE_CHARS = 4000
"""Characters one override may have (the longest shipped one has about 450)."""

VALUE = "a value"
"""A leaf of the data: text, a number, a flag; nothing to read inside it."""
TEXTS = "a list"
"""A list of text (``impact.components``): index it with a number or loop over it."""
LINKS = "the facts' links, by name"
"""The facts' links, by name; a name the override reads must be in ``required_links``."""

Shape = Mapping[str, "Shape"] | str

_PART: Shape = {"text": VALUE, "short": VALUE, "known": VALUE, "brief": VALUE, "pointer": VALUE}
CONTEXT: Mapping[str, Shape] = {
    "organisation": VALUE,
    "channel": VALUE,
    "locale": VALUE,
    "form": VALUE,
    "incident": {k: VALUE for k in ("reference", "title", "severity", "status", "status_label")},
    "parts": {p: _PART for p in ("apology", "cause", "fix", "prevention")},
    "next_update": VALUE,
    "started": VALUE,
    "link": VALUE,
    "pointed": TEXTS,
    "contact": {k: VALUE for k in ("phone", "email", "url", "hours", "primary")},
    "links": LINKS,
    "impact": {"summary": VALUE, "components": TEXTS, "regions": TEXTS, "affected_count": VALUE},
    "breach": {
        "nature": VALUE,
        "subject_categories": TEXTS,
        "data_categories": TEXTS,
        "approx_people": VALUE,
        "approx_records": VALUE,
        "dpo_contact": VALUE,
        "likely_consequences": VALUE,
        "measures_taken": VALUE,
        "measures_proposed": VALUE,
    },
}
"""What an override can read: ``Renderer._context`` by name and key (a test keeps them in step)."""

_LOOP: Shape = {k: VALUE for k in ("index", "index0", "revindex", "revindex0", "first", "last", "length")}

FILTERS = frozenset(
    {"capitalize", "default", "d", "e", "escape", "first", "join", "last", "length", "count", "lower"}
    | {"title", "trim", "upper", "urlencode", "wordcount"}
)
"""Filters an override may use: none pads, repeats, calls back or marks text safe."""
TESTS = frozenset(
    {"defined", "undefined", "none", "true", "false", "string", "number", "in", "eq", "ne"}
    | {"lt", "le", "gt", "ge", "equalto", "lessthan", "greaterthan"}
)

_TAGS: Mapping[type[nodes.Node], str] = {
    nodes.Import: "import",
    nodes.FromImport: "from … import",
    nodes.Include: "include",
    nodes.Extends: "extends",
    nodes.Macro: "macro",
    nodes.CallBlock: "call",
    nodes.Block: "block",
    nodes.Assign: "set",
    nodes.AssignBlock: "set",
    nodes.With: "with",
    nodes.FilterBlock: "filter",
    nodes.Scope: "autoescape",  # the parser makes a Scope only around an autoescape block
    nodes.ScopedEvalContextModifier: "autoescape",
    nodes.EvalContextModifier: "autoescape",
    nodes.ExprStmt: "do",
    nodes.Break: "break",
    nodes.Continue: "continue",
}
_OPERATORS: Mapping[type[nodes.Node], str] = {
    nodes.Add: "+",
    nodes.Sub: "-",
    nodes.Mul: "*",
    nodes.Div: "/",
    nodes.FloorDiv: "//",
    nodes.Mod: "%",
    nodes.Pow: "**",
}
_WHERE = "in a part override"


@dataclass(frozen=True)
class Uses:
    """What an override reads that not every facts file has to give."""

    links: frozenset[str] = frozenset()
    breach: bool = False


class _Refused(Exception):
    def __init__(self, message: str, node: nodes.Node | None = None) -> None:
        super().__init__(message)
        self.line = getattr(node, "lineno", None)


@functools.cache
def _environment() -> BoundedEnvironment:
    return BoundedEnvironment()  # the renderer's class: the same syntax and whitespace settings


def check_override(source: str) -> Uses:
    """Refuse anything but the constructs listed above (``ValueError`` naming it); say what it reads."""
    if len(source) > MAX_OVERRIDE_CHARS:
        raise ValueError(
            f"a part override is at most {MAX_OVERRIDE_CHARS:,} characters ({len(source):,} given)"
        )
    multiline = "\n" in source.strip()
    try:
        tree = _environment().parse(source)
        for _, kind, _ in _environment().lex(source):
            if kind == "raw_begin":
                raise _Refused(f"'{{% raw %}}' is not allowed {_WHERE}")
        checker = _Checker()
        checker.statements(tree.body)
    except TemplateSyntaxError as exc:
        where = f" (line {exc.lineno} of the override)" if multiline else ""
        raise ValueError(f"template syntax: {visible(exc.message or '?', limit=200)}{where}") from None
    except _Refused as exc:
        where = f" (line {exc.line} of the override)" if multiline and exc.line else ""
        raise ValueError(f"{exc}{where}") from None
    return Uses(frozenset(checker.links), checker.breach)


def unmet_needs(overrides: Mapping[str, str], required_links: Iterable[str], breach_facts: bool) -> list[str]:
    """What the overrides (by ``locale.part.form``) read that the playbook does not make facts give."""
    listed = sorted(set(required_links))
    readers: dict[str, list[str]] = {}
    for where, source in overrides.items():
        uses = check_override(source)
        for name in sorted(uses.links.difference(listed)):
            readers.setdefault(f"links.{name}", []).append(where)
        if uses.breach and not breach_facts:
            readers.setdefault("breach", []).append(where)
    problems = []
    for what, places in readers.items():
        by = f"{', '.join(places[:-1])} and {places[-1]} read" if len(places) > 1 else f"{places[0]} reads"
        if what == "breach":
            problems.append(f"{by} breach, which facts give only when breach_facts is true")
            continue
        close = difflib.get_close_matches(what.removeprefix("links."), listed, n=1)
        hint = f" (did you mean links.{close[0]}?)" if close else ""
        problems.append(
            f"{by} {what}, which is not in required_links{hint}: list it there so every facts file "
            "must give it"
        )
    return problems


@dataclass
class _Checker:
    links: set[str] = field(default_factory=set)
    breach: bool = False
    names: dict[str, Shape] = field(default_factory=lambda: dict(CONTEXT))
    in_loop: bool = False
    defined_links: frozenset[str] = frozenset()
    """Links known to be there: inside ``{% if links.x is defined %}``."""

    def statements(self, body: Iterable[nodes.Node]) -> None:
        for node in body:
            self.statement(node)

    def statement(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if not isinstance(child, nodes.TemplateData):
                    self.expr(child)
        elif isinstance(node, nodes.If):
            self.expr(node.test)
            outer = self.defined_links
            self.defined_links = outer | _links_tested(node.test)
            self.statements(node.body)
            self.defined_links = outer
            self.statements(node.elif_)
            self.statements(node.else_)
        elif isinstance(node, nodes.For):
            self.loop(node)
        else:
            raise _Refused(_describe(node), node)

    def loop(self, node: nodes.For) -> None:
        if self.in_loop:
            raise _Refused(f"a loop inside a loop is not allowed {_WHERE}", node)
        if node.recursive:
            raise _Refused(f"recursive loops are not allowed {_WHERE}", node)
        if not isinstance(node.target, nodes.Name) or node.target.name in (*CONTEXT, "loop", "super"):
            raise _Refused(f"a loop {_WHERE} names its item with one new name (for item in …)", node)
        if self.expr(node.iter) != TEXTS:
            lists = ", ".join(_lists())
            raise _Refused(f"a loop {_WHERE} can only go over a list of the data ({lists})", node)
        outer = self.names
        self.names = {**outer, node.target.name: VALUE}
        if node.test is not None:
            self.expr(node.test)
        self.in_loop, self.names["loop"] = True, _LOOP
        self.statements(node.body)
        self.in_loop, self.names = False, outer
        self.statements(node.else_)

    def expr(self, node: nodes.Node, *, guarded: bool = False) -> Shape:
        """Check one expression; return the shape of what it reads (``VALUE`` for computed values)."""
        if isinstance(node, nodes.Const):
            if not isinstance(node.value, str | int | float | bool | None):
                raise _Refused(f"{type(node.value).__name__} constants are not allowed {_WHERE}", node)
            return VALUE
        if isinstance(node, nodes.Name):
            return self.name(node)
        if isinstance(node, nodes.Getattr):
            return self.member(node, node.node, node.attr, guarded)
        if isinstance(node, nodes.Getitem):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str | int):
                return self.member(node, node.node, node.arg.value, guarded)
            if isinstance(node.arg, nodes.Slice):
                raise _Refused(_describe(node.arg), node)
            raise _Refused(f"[…] {_WHERE} takes a constant name or number", node)
        if isinstance(node, nodes.Call):
            if (
                isinstance(node.node, nodes.Name)
                and node.node.name == "super"
                and not (node.args or node.kwargs or node.dyn_args or node.dyn_kwargs)
            ):
                return VALUE
            callee = _path(node.node)
            raise _Refused(f"calls other than super() are not allowed {_WHERE} ({callee}(…))", node)
        if isinstance(node, nodes.Filter | nodes.Test):
            return self.filter_or_test(node)
        for child in self.operands(node):
            self.expr(child)
        return VALUE

    def operands(self, node: nodes.Node) -> list[nodes.Node]:
        """The sub-expressions of an allowed operator, or a refusal naming what it is."""
        if isinstance(node, nodes.CondExpr):
            return [node.test, node.expr1, *([node.expr2] if node.expr2 is not None else [])]
        if isinstance(node, nodes.Compare):
            return [node.expr, *(op.expr for op in node.ops)]
        if isinstance(node, nodes.And | nodes.Or):
            return [node.left, node.right]
        if isinstance(node, nodes.Not):
            return [node.node]
        if isinstance(node, nodes.Concat):
            return list(node.nodes)
        if isinstance(node, nodes.List | nodes.Tuple):
            return list(node.items)
        if isinstance(node, nodes.Neg | nodes.Pos) and isinstance(node.node, nodes.Const):
            return [node.node]
        raise _Refused(_describe(node), node)

    def name(self, node: nodes.Name) -> Shape:
        if node.name in self.names:
            if node.name == "breach":
                self.breach = True
            return self.names[node.name]
        known = sorted(self.names)
        close = difflib.get_close_matches(node.name, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"it can use {', '.join(known)}"
        raise _Refused(f"{node.name!r} is not something a part override can use ({hint})", node)

    def member(self, node: nodes.Node, of: nodes.Node, key: str | int, guarded: bool) -> Shape:
        shape = self.expr(of, guarded=guarded)
        path = _path(node)
        if isinstance(key, str) and key.startswith("_"):
            raise _Refused(f"{path}: names starting with '_' are not allowed {_WHERE}", node)
        if shape == LINKS and isinstance(key, str):
            if not guarded and key not in self.defined_links:
                self.links.add(key)
            return VALUE
        if shape == TEXTS and isinstance(key, int):
            return VALUE
        if isinstance(shape, Mapping) and isinstance(key, str) and key in shape:
            return shape[key]
        if isinstance(shape, Mapping):
            close = difflib.get_close_matches(str(key), list(shape), n=1)
            hint = f"did you mean {_path(of)}.{close[0]}?" if close else f"it has {', '.join(shape)}"
            raise _Refused(f"{path} is not in the template's data ({hint})", node)
        raise _Refused(f"{path}: {_path(of)} is {shape}, with nothing to read inside it by {key!r}", node)

    def filter_or_test(self, node: nodes.Filter | nodes.Test) -> Shape:
        kind, allowed = ("filter", FILTERS) if isinstance(node, nodes.Filter) else ("test", TESTS)
        if node.name not in allowed:
            raise _Refused(
                f"the {node.name!r} {kind} is not allowed {_WHERE} (allowed: {', '.join(sorted(allowed))})",
                node,
            )
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise _Refused(f"*args and **kwargs are not allowed {_WHERE}", node)
        if node.node is None:  # only inside a filter block, which is refused before
            raise _Refused(f"'{{% filter %}}' is not allowed {_WHERE}", node)
        guarded = node.name in {"defined", "undefined", "default", "d"}
        self.expr(node.node, guarded=guarded)
        for argument in [*node.args, *(keyword.value for keyword in node.kwargs)]:
            self.expr(argument)
        return VALUE


def _links_tested(test: nodes.Node) -> frozenset[str]:
    """``x`` and ``y`` for ``links.x is defined and links.y is defined`` (and nothing for ``or``)."""
    if isinstance(test, nodes.And):
        return _links_tested(test.left) | _links_tested(test.right)
    if (
        isinstance(test, nodes.Test)
        and test.name == "defined"
        and isinstance(test.node, nodes.Getattr)
        and isinstance(test.node.node, nodes.Name)
        and test.node.node.name == "links"
    ):
        return frozenset({test.node.attr})
    return frozenset()


def _describe(node: nodes.Node) -> str:
    for kind, tag in _TAGS.items():
        if isinstance(node, kind):
            return f"'{{% {tag} %}}' is not allowed {_WHERE}"
    for kind, operator in _OPERATORS.items():
        if isinstance(node, kind):
            return f"the {operator!r} operator is not allowed {_WHERE} (join text with ~)"
    if isinstance(node, nodes.Slice):
        return f"slices are not allowed {_WHERE}"
    if isinstance(node, nodes.Dict):
        return f"dict literals are not allowed {_WHERE}"
    return f"{type(node).__name__} is not allowed {_WHERE}"


def _path(node: nodes.Node) -> str:
    """``links.password_reset`` for the node that reads it (as far as it can be spelt)."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Const):
        return repr(node.value)
    if isinstance(node, nodes.Getattr):
        return f"{_path(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return f"{_path(node.node)}[{node.arg.value!r}]"
    return "(an expression)"


def _lists() -> list[str]:
    return [
        f"{name}.{key}"
        for name, shape in CONTEXT.items()
        if isinstance(shape, Mapping)
        for key, inner in shape.items()
        if inner == TEXTS
    ]
