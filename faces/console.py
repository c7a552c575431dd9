"""The terminal: consoles that print text as it is, and never let it steer the terminal.

Titles, facts, addresses, provider errors and file contents reach the terminal through these
consoles. Rich would read ``[bold]`` as markup, ``:smile:`` as an emoji (turning ``root:x:0`` into
``root❌0`` inside an error message) and highlight numbers and URLs; and no console strips the escape
sequences a hostile value may carry (``ESC [2J`` clears the screen, ``ESC ] 0;…`` retitles the
window). :class:`SafeConsole` turns markup, emoji and highlighting off and spells out every control
character of every string it renders (:func:`clarion.files.text.visible`), in plain prints and table cells
alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Text

from clarion.errors import ClarionError, InputError, NotFound
from clarion.files.text import visible


class SafeConsole(Console):
    """A rich console for untrusted text: no markup, no emoji, no highlighting, and every control
    character of every segment it renders spelled out, whatever built it (a plain string, a table
    cell, a ``Text`` a module assembled from stored values). Rich's own control segments (cursor
    movement of a live progress bar) pass as they are."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("soft_wrap", True)
        super().__init__(markup=False, emoji=False, highlight=False, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        kwargs.update(markup=False, emoji=False, highlight=False)
        return super().render_str(visible(text), **kwargs)  # spelled out before the layout measures it

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control:
                yield segment
            else:
                yield Segment(visible(segment.text), segment.style)


def console(*, stderr: bool = False, piped_width: int | None = None) -> SafeConsole:
    """A console on stdout (or stderr); ``piped_width`` when output is captured, so tables do not wrap."""
    made = SafeConsole(stderr=stderr)
    if piped_width is not None and not made.is_terminal:
        made = SafeConsole(stderr=stderr, width=piped_width)
    return made


out = console(piped_width=140)  # piped or captured: wide enough that the preview table does not wrap
"""The CLI's standard output."""
err = console(stderr=True)
"""The CLI's errors, progress and waiting notes."""

EXIT_INPUT = 2
"""The exit code of input that is wrong or would not be sent (1: anything else clarion refuses)."""


def fail(message: str, code: int = 1) -> typer.Exit:
    """Say ``message`` on stderr and return the exit to raise."""
    err.print(message)
    return typer.Exit(code)


class CommandRefused(ClarionError):
    """A command stops before (or instead of) asking the server: one line, and the exit code."""

    def __init__(self, message: str, *, code: int = EXIT_INPUT) -> None:
        self.code = code
        super().__init__(message)


def exit_code(exc: ClarionError) -> int:
    """The one mapping from clarion's errors to the CLI's exit codes: 2 for input that is wrong or
    would not be sent (a refused command says its own), 1 for anything else clarion refuses."""
    if isinstance(exc, CommandRefused):
        return exc.code
    if isinstance(exc, InputError | NotFound) or getattr(exc, "input_refused", False):
        return EXIT_INPUT
    return 1


@contextmanager
def errors_to_exit() -> Iterator[None]:
    """One line on stderr and the exit code of :func:`exit_code` for every expected failure; never
    a traceback."""
    try:
        yield
    except ClarionError as exc:
        code = exit_code(exc)
        plain = isinstance(exc, InputError | NotFound | CommandRefused) or code == EXIT_INPUT
        raise fail(str(exc) if plain else f"error: {exc}", code) from None
