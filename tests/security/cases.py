"""Shared builders of the security suite: what a case expects, bad files of every kind, and checks.

A case names what the error must say as regular expressions searched in stderr (``says``); every
case also gets the checks every bad input must pass (:func:`assert_clear`): the exit code, no
traceback, and no raw control character on either stream.
"""

from __future__ import annotations

import codecs
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clarion.files.text import first_unsafe
from tests.helpers import EXAMPLES, ROOT

BREACH_FACTS = (EXAMPLES / "data-breach.yaml").read_text(encoding="utf-8")
NEW_REFERENCE = "INC-0077"
"""The reference of the facts cases: not in the seeded store, so facts wrongly accepted would be
staged as a new incident, and the store would show it."""
FRESH_FACTS = BREACH_FACTS.replace("INC-0042", NEW_REFERENCE)
AUDIENCE_CSV = (ROOT / "examples" / "audiences" / "affected-customers.csv").read_text(encoding="utf-8")
ESC_CLEAR = "\x1b[2J"
OSC_TITLE = "\x1b]0;pwned\x07"
RLO = "\u202e"

Build = Callable[[Path], Path]
"""Makes a case's input under the given folder and returns the path to pass (it may lie elsewhere)."""


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


def xfail(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=reason)


def case(id: str, *values: Any, fails: str | None = None) -> Any:
    """One row of a table; ``fails``: it does not hold yet (a strict xfail saying why)."""
    return pytest.param(*values, id=id, marks=[xfail(fails)] if fails else [])


def fill(text: str, names: Mapping[str, str]) -> str:
    """``text`` with every ``{name}`` of ``names`` replaced by its value (others left as they are)."""
    return re.sub(r"\{(\w+)\}", lambda m: names.get(m.group(1), m.group(0)), text)


def assert_clear(outcome: Outcome, code: int, says: Sequence[str]) -> None:
    """The exit code, every pattern in stderr, no traceback, no control character printed raw."""
    shown = f"exit {outcome.code}\n--- stdout\n{outcome.out}\n--- stderr\n{outcome.err}"
    assert "Traceback" not in outcome.out + outcome.err, shown
    for stream in (outcome.out, outcome.err):
        assert first_unsafe(stream) is None, f"raw {first_unsafe(stream)}\n{shown}"
    assert outcome.code == code, shown
    assert outcome.err.strip(), f"no error message\n{shown}"
    for pattern in says:
        assert re.search(pattern, outcome.err, re.MULTILINE), f"{pattern!r} not in stderr\n{shown}"


# ── files of every kind ───────────────────────────────────────────────────────────────────────────


def text_file(name: str, text: str, *, encoding: str = "utf-8") -> Build:
    def build(folder: Path) -> Path:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode(encoding))
        return path

    return build


def bytes_file(name: str, data: bytes) -> Build:
    def build(folder: Path) -> Path:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    return build


def special(kind: str, name: str, text: str = "") -> Build:
    """A path that is not a plain UTF-8 file: ``dev-zero``, ``fifo``, ``folder``, ``symlink-loop``,
    ``missing``, ``latin-1``, ``utf-16`` (with BOM), ``utf-16-le`` (none), ``utf-32``, ``empty``,
    ``oversize`` (2 MiB), ``binary``. ``text`` is what the encodings carry."""

    def build(folder: Path) -> Path:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "dev-zero":
            return Path("/dev/zero")
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "folder":
            path.mkdir()
        elif kind == "symlink-loop":
            other = path.with_name(path.name + ".other")
            path.symlink_to(other)
            other.symlink_to(path)
        elif kind == "latin-1":
            path.write_bytes(text.replace("Acme", "Acmé").encode("latin-1", errors="replace"))
        elif kind == "utf-16":
            path.write_bytes(text.encode("utf-16"))
        elif kind == "utf-16-le":
            path.write_bytes(text.encode("utf-16-le"))
        elif kind == "utf-32":
            path.write_bytes(text.encode("utf-32"))
        elif kind == "empty":
            path.write_bytes(b"")
        elif kind == "oversize":
            path.write_bytes(text.encode() + b"# padding\n" * (2 * 1024 * 1024 // 10))
        elif kind == "binary":
            path.write_bytes(codecs.BOM_UTF8[:2] + bytes(range(256)) * 64)
        elif kind != "missing":
            raise AssertionError(kind)
        return path

    return build


@contextmanager
def fifo_unblocked(folder: Path, *, after: float = 3.0) -> Iterator[None]:
    """If anything in the test opens a FIFO under ``folder`` for reading (it should not), a writer
    opens and closes it after ``after`` seconds, so the reader sees the end instead of hanging the suite."""
    stop = threading.Event()

    def unblock() -> None:
        if stop.wait(after):
            return
        while not stop.wait(0.1):
            try:
                fifos = [p for p in folder.rglob("*") if p.is_fifo()]
            except OSError:  # the folder changed while it was walked: look again
                continue
            for fifo in fifos:
                try:
                    descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:  # no reader (yet), or gone
                    continue
                os.close(descriptor)

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# ── YAML ──────────────────────────────────────────────────────────────────────────────────────────


def replaced(base: str, old: str, new: str) -> str:
    assert old in base, f"{old!r} not in the base text"
    return base.replace(old, new, 1)


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """The "billion laughs": each level a list of ``width`` aliases of the one before."""
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        items = ", ".join(f"*a{level - 1}" for _ in range(width))
        lines.append(f"a{level}: &a{level} [{items}]")
    return "\n".join(lines) + "\n"


def deep_list(depth: int) -> str:
    return "[" * depth + "]" * depth


def line_in(text: str, needle: str) -> int:
    """1-based line of the first line of ``text`` containing ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the text")
