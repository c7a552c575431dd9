"""JSON from outside, parsed with its nesting bounded before the parser sees it.

:func:`json.loads` recurses once per level and only runs out of stack at about a thousand, after
building all of them: a 100 000-deep array is a ``RecursionError`` (a 500) in whatever parses it.
:func:`nested_deeper_than` scans the raw bytes linearly (strings cut out, the brackets left over
matched against a possessive pattern, all in C) and :func:`loads` refuses a document nested deeper
than its bound with a ``ValueError``, as the parser refuses any other document that is not JSON.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SQUARE = bytes.maketrans(b"{}", b"[]")  # nesting counts, not kinds: mismatches are the parser's to find


@cache
def _balanced_within(bound: int) -> re.Pattern[bytes]:
    """Square brackets only: a run of balanced groups at most ``bound`` deep (possessive: linear)."""
    group = b""
    for _level in range(bound):
        group = rb"\[(?:" + group + rb")*+\]"
    return re.compile(rb"(?:" + group + rb")*+")


def _brackets(raw: bytes) -> bytes:
    """The brackets of UTF-8 JSON ``raw`` that are not inside strings, as ``[`` and ``]``.

    Left to right, as the parser reads: escaped backslashes go first, then escaped quotes; every quote
    left opens or closes a string, so the text outside strings is every other piece between quotes.
    Only bulk byte operations: the largest body allowed takes well under a second, whatever it holds.
    """
    flat = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(flat.split(b'"')[::2]).translate(_SQUARE, _NOT_BRACKETS)


def nested_deeper_than(raw: bytes, bound: int) -> bool:
    """Whether UTF-8 JSON ``raw`` nests arrays and objects deeper than ``bound`` (or is unbalanced).

    Exact for a document the parser accepts, and for every prefix of one the parser reads before it
    finds an error: it can never descend further than this allows.
    """
    return _balanced_within(bound).fullmatch(_brackets(raw)) is None


def loads(raw: bytes | str, *, max_depth: int) -> Any:
    """``json.loads(raw)``, refusing (``ValueError``) a document nested deeper than ``max_depth``."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    if nested_deeper_than(data, max_depth):
        raise ValueError(f"not JSON, or nested deeper than {max_depth} levels")
    return json.loads(raw)
