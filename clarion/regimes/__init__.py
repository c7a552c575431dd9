"""Regulatory regimes as data, and the arithmetic of their clocks.

``data/regimes/*.yaml`` holds one regime per file (the file is named after its id); ``data/calendars.yaml``
the business-day calendars they name. :func:`regimes` loads and checks them all once per process: every
calendar a clock names must exist, so a typo fails at load, not when a deadline is computed.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from clarion.errors import Problem, display_path
from clarion.files.yamlfile import load_model
from clarion.regimes.arithmetic import due, earliest
from clarion.regimes.calendars import DATA, RegimeError, business_calendar, calendar_names, calendar_version
from clarion.regimes.schema import Clock, Event, NoticeField, Regime, Stage, Start

REGIMES_DIR = DATA / "regimes"

__all__ = [
    "REGIMES_DIR",
    "Clock",
    "Event",
    "NoticeField",
    "Regime",
    "RegimeError",
    "Stage",
    "Start",
    "business_calendar",
    "calendar_names",
    "calendar_version",
    "due",
    "earliest",
    "for_jurisdictions",
    "get_regime",
    "jurisdictions",
    "load_regime",
    "regimes",
]


def load_regime(path: Path) -> Regime:
    """One regime file, checked: its id matches the file name and its calendars exist."""
    regime = load_model(Regime, path, RegimeError)
    source = display_path(path)
    problems = []
    if regime.id != path.stem:
        problems.append(Problem(source, None, "id", f"{regime.id!r} must match the file name {path.stem!r}"))
    known = set(calendar_names())
    for index, stage in enumerate(regime.stages):
        for clock in (stage.clock, *(cap.clock for cap in stage.caps)):
            if clock.calendar is not None and clock.calendar not in known:
                problems.append(
                    Problem(
                        source,
                        None,
                        f"stages.{index}.clock.calendar",
                        f"no calendar {clock.calendar!r}; known: {', '.join(sorted(known))}",
                    )
                )
    if problems:
        raise RegimeError(problems)
    return regime


def regimes(folder: Path = REGIMES_DIR) -> dict[str, Regime]:
    """Every shipped regime by id (disabled ones included: they say why they are off), read once."""
    return _load(folder.resolve())


@lru_cache(maxsize=4)
def _load(folder: Path) -> dict[str, Regime]:
    loaded = [load_regime(path) for path in sorted(folder.glob("*.yaml"))]
    return {regime.id: regime for regime in loaded}


def get_regime(regime_id: str, folder: Path = REGIMES_DIR) -> Regime:
    known = regimes(folder)
    if regime_id not in known:
        raise KeyError(f"no regime {regime_id!r}; known: {', '.join(sorted(known))}")
    return known[regime_id]


def jurisdictions(folder: Path = REGIMES_DIR) -> list[str]:
    return sorted({r.jurisdiction for r in regimes(folder).values() if r.enabled})


def for_jurisdictions(codes: list[str], kind: str, folder: Path = REGIMES_DIR) -> list[str]:
    """The enabled regimes of ``codes`` that apply to incidents of playbook ``kind``."""
    return [
        r.id
        for r in regimes(folder).values()
        if r.enabled and r.jurisdiction in codes and kind in r.applies_to
    ]
