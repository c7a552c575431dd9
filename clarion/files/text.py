"""Untrusted text: which characters it may not carry, and how to show it without harm.

Facts, playbooks, audience files, form fields and webhook bodies are written by people (or by
whoever can reach an input). Control characters in them do harm downstream: ``ESC [2J`` clears a
terminal that prints a title, ``ESC ] 0;…BEL`` retitles it, a carriage return overwrites what was
printed before it, and the bidirectional overrides reorder what a reader sees (the "Trojan Source"
trick). None of them has a place in an incident message, so input that holds one is refused with the
place it was found; text that is shown anyway (an error quoting a bad value, a value read back from an
older store) goes through :func:`visible`, which spells every such character out.

Allowed: every printable character, the tab and the line feed. Refused: the other C0 and C1 controls
(category ``Cc``, DEL included) and the bidirectional embeddings, overrides and isolates
(U+202A–U+202E, U+2066–U+2069), and the noncharacters U+FDD0–U+FDEF, which Unicode keeps for a
program's internal use (the renderer marks the story's parts with them). The marks U+200E/U+200F stay
allowed: right-to-left text needs them.
"""

from __future__ import annotations

import re
import unicodedata

ALLOWED_CONTROLS = frozenset("\t\n")
BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
NONCHARACTERS = frozenset(chr(c) for c in range(0xFDD0, 0xFDF0))
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufdd0-\ufdef]")
SAFE_TEXT_PATTERN = "^[^" + _UNSAFE.pattern[1:-1] + "]*$"
"""A regular expression (Python, JSON Schema and JavaScript alike) that text without unsafe characters
matches whole: the ``pattern`` of string fields in forms built from JSON schemas."""
_NAMES = {
    "\x00": "NUL",
    "\x07": "BEL",
    "\x08": "BS",
    "\x0b": "VT",
    "\x0c": "FF",
    "\r": "CR",
    "\x1b": "ESC",
    "\x7f": "DEL",
    "\x9b": "CSI",
}


def is_unsafe(character: str) -> bool:
    """True for a character untrusted text may not carry (see the module docstring)."""
    return bool(_UNSAFE.fullmatch(character))


def describe(character: str) -> str:
    """``control character U+001B (ESC)``, ``bidirectional control U+202E (RIGHT-TO-LEFT OVERRIDE)``."""
    code = f"U+{ord(character):04X}"
    if character in BIDI_CONTROLS:
        return f"bidirectional control {code} ({unicodedata.name(character, '?')})"
    if character in NONCHARACTERS:
        return f"noncharacter {code}"
    name = _NAMES.get(character)
    return f"control character {code}" + (f" ({name})" if name else "")


def first_unsafe(value: str) -> str | None:
    """What is wrong with ``value`` ("control character U+001B (ESC) at character 7"), or None."""
    match = _UNSAFE.search(value)
    if match is None:
        return None
    return f"{describe(match.group())} at character {match.start() + 1}"


def unsafe_in(data: object, loc: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], str]]:
    """Every string in nested lists and dicts (keys too) that carries an unsafe character, as
    ``(location, what is wrong)``; ``location`` is the path of keys and indexes to it."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    stack: list[tuple[tuple[str | int, ...], object]] = [(loc, data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if (problem := first_unsafe(value)) is not None:
                found.append((where, problem))
        elif isinstance(value, dict):
            for key, item in value.items():
                step: str | int = key if isinstance(key, str | int) else visible(str(key), limit=40)
                if isinstance(key, str) and (problem := first_unsafe(key)) is not None:
                    step = visible(key, limit=40)  # what lies under it is named by the shown key too
                    found.append(((*where, step), f"the key holds a {problem}"))
                stack.append(((*where, step), item))
        elif isinstance(value, list | tuple):
            stack.extend(((*where, index), item) for index, item in enumerate(value))
    return sorted(found, key=lambda item: [str(part) for part in item[0]])


def _spelled(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(value: str, *, limit: int | None = None) -> str:
    """``value`` safe to print on a terminal or in a log: unsafe characters spelled out as ``\\x1b``
    or ``\\u202e``, and cut to ``limit`` characters (with ``…``) when given."""
    shown = _UNSAFE.sub(_spelled, value)
    if limit is not None and len(shown) > limit:
        shown = shown[: max(limit - 1, 0)] + "…"
    return shown


def quoted(value: object, *, limit: int = 80) -> str:
    """An untrusted value for an error message: in quotes, spelled out, cut to ``limit``."""
    return "'" + visible(str(value), limit=limit).replace("'", "\\'") + "'"
