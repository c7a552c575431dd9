"""Small builders shared by the tests: variants of the shipped playbooks and facts."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOKS = ROOT / "playbooks"
EXAMPLES = ROOT / "examples" / "facts"
TEMPLATES = ROOT / "templates"


def shipped_playbooks() -> list[str]:
    return sorted(p.stem for p in PLAYBOOKS.glob("*.yaml"))


def load_raw(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def replace_in(source: Path, target: Path, old: str, new: str) -> Path:
    """Copy ``source`` to ``target`` with one exact text replacement (which must happen)."""
    text = source.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {source}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


def line_of(path: Path, needle: str) -> int:
    """1-based line number of the first line containing ``needle``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


R = TypeVar("R")


def responder_addresses() -> frozenset[str]:
    """Every address of the shipped people file: the people inside, told through the same outbox."""
    data = yaml.safe_load((PLAYBOOKS / "people" / "responders.yaml").read_text(encoding="utf-8"))
    return frozenset(str(a) for person in data["people"] for a in person["reach"].values())


def customers(records: Iterable[R]) -> list[R]:
    """The sandbox records of messages to customers: those to the people inside left out."""
    inside = responder_addresses()
    return [r for r in records if getattr(r, "address", None) not in inside]
