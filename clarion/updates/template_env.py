"""The Jinja environment every message template runs in: sandboxed, immutable, and bounded.

Jinja's immutable sandbox keeps templates away from Python's internals; it does not bound the work a
template does. ``{{ 'A' * 200000000 }}``, nested ``range(100000)`` loops or a padding filter with a
huge width would run for minutes or exhaust memory. Here every rendering of one field has a budget:

- output: at most ``MAX_OUTPUT_CHARS`` characters, counted while ``generate()`` streams them;
- values: no string or list built by an operator, filter or method over ``MAX_VALUE_CHARS`` items
  (checked *before* ``*``, ``%``, ``+``, padding and ``replace`` build them), no integer over
  ``MAX_INT_BITS`` bits, and at most ``MAX_PRODUCED_CHARS`` characters printed by ``{{ … }}``
  along the way (macros included, where output is buffered before it streams);
- loops: at most ``MAX_LOOP_ITERATIONS`` iterations over all loops together (every ``for`` is
  compiled to count its iterations; recursive loops, whose iterations cannot be counted, are refused);
- time: at most ``MAX_RENDER_SECONDS``, checked at every loop iteration and every call (straight-line
  template code is bounded by its length and the value limits).

A limit reached is a ``LimitReached`` naming it; the renderer turns it into a ``TemplateError``
naming the template. Nothing is ever cut short silently.
"""

from __future__ import annotations

import functools
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from contextvars import ContextVar
from dataclasses import dataclass
from types import BuiltinMethodType, MappingProxyType
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT_CHARS = 256 * 1024
"""Characters one rendered field may have (a long email is about 5 000)."""
MAX_VALUE_CHARS = MAX_OUTPUT_CHARS
"""Items (characters, list entries) one value built inside a template may have."""
MAX_PRODUCED_CHARS = 16 * MAX_OUTPUT_CHARS
"""Characters all ``{{ … }}`` of one field may print, counting text macros build and pass on."""
MAX_INT_BITS = 4096
"""Bits an integer built by ``*`` or ``**`` may have (about 1 200 digits)."""
MAX_LOOP_ITERATIONS = 10_000
"""Loop iterations one field may run, over all its loops (and the largest ``range``)."""
MAX_RENDER_SECONDS = 10.0
"""CPU seconds one field may take to render: the last guard against a runaway template, behind the
loop, size and integer limits above. The thread's own time, since a machine busy with other work must
not fail a render that did little; and generous, since a field's first render also pays for compiling
its templates and loading the locale's data (an ordinary email's first render passed 2 s of CPU on a
loaded CI machine)."""

SYNTAX: Mapping[str, Any] = MappingProxyType(
    {"trim_blocks": True, "lstrip_blocks": True, "keep_trailing_newline": False}
)
"""Whitespace handling of every template; overrides are parsed with the same settings."""


class LimitReached(jinja2.TemplateRuntimeError):
    """A template went over one of the render limits; the message names which."""


def _kib(chars: int) -> str:
    return f"{chars // 1024} Ki characters"


@dataclass
class _Budget:
    deadline: float
    iterations: int = 0
    produced: int = 0

    @classmethod
    def start(cls) -> _Budget:
        return cls(deadline=time.thread_time() + MAX_RENDER_SECONDS)

    def check_time(self) -> None:
        if time.thread_time() > self.deadline:
            raise LimitReached(f"took longer than {MAX_RENDER_SECONDS:g} s")

    def count(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.iterations += 1
            if self.iterations > MAX_LOOP_ITERATIONS:
                raise LimitReached(f"more than {MAX_LOOP_ITERATIONS:,} loop iterations")
            self.check_time()
            yield item


_BUDGET: ContextVar[_Budget | None] = ContextVar("clarion_render_budget", default=None)


def _budget() -> _Budget:
    """The budget of the field being rendered (a fresh one for work outside a render)."""
    return _BUDGET.get() or _Budget.start()


_BUILT = (str, list, tuple, dict)


def checked(value: Any, what: str = "a value") -> Any:
    """``value``, unless it is a string or collection over ``MAX_VALUE_CHARS`` items."""
    if isinstance(value, _BUILT) and len(value) > MAX_VALUE_CHARS:
        raise LimitReached(f"{what} over {_kib(MAX_VALUE_CHARS)}")
    return value


def _refuse_over(size: int, what: str) -> None:
    if size > MAX_VALUE_CHARS:
        raise LimitReached(f"{what} would be over {_kib(MAX_VALUE_CHARS)}")


def _small_ints(values: Iterable[Any], what: str) -> None:
    """Widths, counts and paddings: no integer argument over the value size limit."""
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and value > MAX_VALUE_CHARS:
            raise LimitReached(f"{what} with {value:,} (at most {MAX_VALUE_CHARS:,})")


def _width(digits: str, what: str) -> None:
    if len(digits) > 7 or int(digits) > MAX_VALUE_CHARS:
        raise LimitReached(f"{what} with a width of {digits[:12]} (at most {MAX_VALUE_CHARS:,})")


_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_printf(fmt: str, args: Any) -> None:
    """``'%9999999d' % 1`` pads to the width before anyone can look at the result."""
    values = args if isinstance(args, tuple) else (args,)
    for match in _PRINTF.finditer(fmt):
        for width in match.groups():
            if width == "*":
                _small_ints(values, "'%' formatting")
            elif width and (len(width) > 7 or int(width) > MAX_VALUE_CHARS):
                raise LimitReached(
                    f"'%' formatting with a width of {width[:12]} (at most {MAX_VALUE_CHARS:,})"
                )


def _check_format(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """``'{:>9999999}'.format(x)``: the same for ``str.format`` widths."""
    for _, _, spec, _ in string.Formatter().parse(fmt):
        if not spec:
            continue
        if "{" in spec:
            _small_ints([*args, *kwargs.values()], "str.format()")
        for width in re.findall(r"\d+", spec):
            _width(width, "str.format()")


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, Sized) else 0


def _precheck_filter(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse a filter call whose result would be over the value limit, before it is built."""
    values = [a for a in args if not isinstance(a, nodes.EvalContext | jinja2.Environment)]
    text = str(values[0]) if values else ""
    if name == "replace" and len(values) >= 3:
        old, new = str(values[1]), str(values[2])
        _refuse_over(len(text) + text.count(old) * max(0, len(new) - len(old)), "replace")
    elif name == "center":
        _small_ints([*values[1:], *kwargs.values()], "the center filter")
    elif name == "indent":
        width = kwargs.get("width", values[1] if len(values) > 1 else 4)
        pad = len(width) if isinstance(width, str) else int(width)
        _refuse_over(len(text) + (text.count("\n") + 1) * pad, "indent")
    elif name == "wordwrap":
        _small_ints([*values[1:2], kwargs.get("width")], "the wordwrap filter")
        wrap = kwargs.get("wrapstring", values[3] if len(values) > 3 else None) or "\n"
        _refuse_over(len(text) * (1 + len(str(wrap))), "wordwrap")
    elif name == "join" and values:
        separator = kwargs.get("d", values[1] if len(values) > 1 else "")
        _refuse_over(_sized(values[0]) * len(str(separator)), "join")
    elif name == "format":
        _check_printf(text, tuple(values[1:]) or tuple(kwargs.values()))


_GUARDED_FILTERS = ("replace", "center", "indent", "wordwrap", "join", "format")


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)  # keeps Jinja's pass_eval_context / pass_environment marks
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _precheck_filter(name, args, kwargs)
        return checked(func(*args, **kwargs), f"the result of the {name} filter")

    return guarded


_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _precheck_method(owner: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """String methods that pad or repeat: ``'x'.ljust(10**9)``, ``sep.join(many)``, ``replace``."""
    if isinstance(owner, str) and name in _PADDING_METHODS:
        _small_ints([*args, *kwargs.values()], f"str.{name}()")
    elif isinstance(owner, str) and name == "join" and args:
        _refuse_over(_sized(args[0]) * len(owner), "str.join()")
    elif isinstance(owner, str) and name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        _refuse_over(len(owner) + owner.count(old) * max(0, len(new) - len(old)), "str.replace()")


def _binop(operator: str, left: Any, right: Any) -> None:
    """Check ``*``, ``**``, ``%`` and ``+`` before Python builds their result."""
    if operator == "%" and isinstance(left, str):
        _check_printf(left, right)
    elif operator == "+":
        _refuse_over(_sized(left) + _sized(right), "'+'")
    elif operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise LimitReached(f"'*' would make a number over {MAX_INT_BITS} bits")
        elif isinstance(right, int):
            _refuse_over(_sized(left) * right, "'*'")
        elif isinstance(left, int):
            _refuse_over(_sized(right) * left, "'*'")
    elif (
        operator == "**"
        and isinstance(left, int)
        and isinstance(right, int)
        and max(1, abs(left).bit_length() - 1) * right > MAX_INT_BITS
    ):
        raise LimitReached(f"'**' would make a number over {MAX_INT_BITS} bits")


def bounded_range(*args: int) -> range:
    """``range`` with at most ``MAX_LOOP_ITERATIONS`` items (the sandbox's own allows 100 000)."""
    result = range(*args)
    if len(result) > MAX_LOOP_ITERATIONS:
        raise LimitReached(f"range of {len(result):,} items (at most {MAX_LOOP_ITERATIONS:,})")
    return result


_COUNTED = "counted"


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles every ``for`` to iterate ``environment.counted(…)`` and checks ``~`` results.

    Jinja allows no custom node types, so the loop's iterable is wrapped in a call of an
    environment attribute (which the parser never produces) and that call is written directly.
    """

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        if node.recursive:
            self.fail("recursive loops are not allowed (their iterations cannot be counted)", node.lineno)
        if not _is_counted(node.iter):
            node.iter = nodes.Call(
                nodes.EnvironmentAttribute(_COUNTED), [node.iter], [], None, None, lineno=node.lineno
            )
        super().visit_For(node, frame)

    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        if not _is_counted(node):
            super().visit_Call(node, frame, forward_caller=forward_caller)
            return
        self.write(f"environment.{_COUNTED}(")
        self.visit(node.args[0], frame)
        self.write(")")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked(")
        super().visit_Concat(node, frame)
        self.write(', "text joined with ~")')


def _is_counted(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.EnvironmentAttribute)
        and node.node.name == _COUNTED
    )


def _charge_output(value: Any) -> Any:
    """``finalize``: every ``{{ … }}`` counts against the field's printed-text budget."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.produced += len(value) if isinstance(value, str) else len(str(value))
        if budget.produced > MAX_PRODUCED_CHARS:
            raise LimitReached(f"printed more than {_kib(MAX_PRODUCED_CHARS)} of text (macros included)")
    return value


class BoundedTemplate(jinja2.Template):
    """A template whose ``render`` streams through ``generate()`` within the limits."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        budget = _Budget.start()
        token = _BUDGET.set(budget)
        try:
            chunks: list[str] = []
            size = 0
            for chunk in self.generate(*args, **kwargs):
                size += len(chunk)
                if size > MAX_OUTPUT_CHARS:
                    raise LimitReached(f"output over {_kib(MAX_OUTPUT_CHARS)}")
                chunks.append(chunk)
            return "".join(chunks)
        finally:
            _BUDGET.reset(token)


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the render limits above (and ``SYNTAX``)."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _BoundedCodeGenerator
    template_class = BoundedTemplate

    def __init__(self, **options: Any) -> None:
        super().__init__(**{**SYNTAX, "finalize": _charge_output, **options})
        self.globals["range"] = bounded_range
        self.globals.pop("lipsum", None)  # placeholder text of any length: no message needs it
        for name in _GUARDED_FILTERS:
            self.filters[name] = _guard_filter(name, self.filters[name])

    def counted(self, iterable: Iterable[Any]) -> Iterator[Any]:
        return _budget().count(iterable)

    def checked(self, value: Any, what: str) -> Any:
        return checked(value, what)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _binop(operator, left, right)
        return checked(super().call_binop(context, operator, left, right), f"the result of '{operator}'")

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = _BUDGET.get()
        if budget is not None:
            budget.check_time()
        if type(obj) is BuiltinMethodType and isinstance(obj.__self__, str):
            _precheck_method(obj.__self__, obj.__name__, args, kwargs)
        return checked(super().call(context, obj, *args, **kwargs), "the result of a call")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = str(value.__self__)

        def bounded(*args: Any, **kwargs: Any) -> str:
            _check_format(fmt, args, kwargs)
            result: str = checked(wrapped(*args, **kwargs), "the result of str.format()")
            return result

        return bounded
