"""What changed between two updates of one incident.

Facts are flattened to dotted paths and compared; long texts (the story parts) also get a
line-by-line unified diff, so an approver sees exactly which sentence changed.
"""

from __future__ import annotations

import difflib
import textwrap
from dataclasses import dataclass
from typing import Any

from clarion.facts import Facts

#: Paths that differ on every update and say nothing about the story.
IGNORED = frozenset({"as_of", "recipient.locale", "recipient.time_zone"})


@dataclass(frozen=True)
class Change:
    path: str
    before: Any
    after: Any

    @property
    def kind(self) -> str:
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "changed"

    def text_diff(self, width: int = 88) -> list[str]:
        """A unified diff of the two values when either is a multi-word text; else empty."""
        if not (isinstance(self.before, str | None) and isinstance(self.after, str | None)):
            return []
        if len(str(self.before or "")) < 60 and len(str(self.after or "")) < 60:
            return []
        before = textwrap.wrap(self.before or "", width)
        after = textwrap.wrap(self.after or "", width)
        return list(difflib.unified_diff(before, after, "before", "after", lineterm="", n=1))[2:]


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [x, y]}`` → ``{"a.b": 1, "c": [x, y]}`` (lists stay whole)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def diff_facts(before: Facts, after: Facts) -> list[Change]:
    """Every path whose value differs, in a stable order (the order of the facts schema)."""
    old = flatten(before.model_dump(mode="json"))
    new = flatten(after.model_dump(mode="json"))
    paths = list(dict.fromkeys([*new, *old]))
    return [
        Change(path, old.get(path), new.get(path))
        for path in paths
        if path not in IGNORED and old.get(path) != new.get(path)
    ]
