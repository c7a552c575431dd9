"""Named business-day calendars: the ``holidays`` package plus closures it does not know.

``calendars.yaml`` (shipped beside the regimes) names each calendar a business-day clock may use,
e.g. ``us-sec``: US federal holidays and the executive-order closures the SEC treats as holidays
(2025-01-09, the national day of mourning for President Carter). The package version is part of what
a deadline was computed with, so it is reported with the calendar (:func:`calendar_version`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import holidays

from clarion.errors import InputError
from clarion.files.yamlfile import load_model
from clarion.regimes.schema import Calendars, HolidayCalendar

DATA = Path(__file__).parent / "data"
CALENDARS_FILE = DATA / "calendars.yaml"


class RegimeError(InputError):
    """A regime or calendar file is wrong (file, line, field)."""


@dataclass
class BusinessCalendar:
    name: str
    spec: HolidayCalendar
    closed: dict[date, str]
    _years: dict[int, holidays.HolidayBase] = field(default_factory=dict, repr=False)

    def _holidays(self, year: int) -> holidays.HolidayBase:
        assert self.spec.country is not None
        if year not in self._years:
            self._years[year] = holidays.country_holidays(
                self.spec.country, subdiv=self.spec.subdiv, years=year, categories=tuple(self.spec.categories)
            )
        return self._years[year]

    def closure(self, day: date) -> str | None:
        """Why ``day`` is not a business day (weekend, holiday name), or None when it is one."""
        if day.weekday() in self.spec.weekend:
            return day.strftime("%A")
        if day in self.closed:
            return self.closed[day]
        if self.spec.country is None:
            return None
        name = self._holidays(day.year).get(day)
        return str(name) if name else None

    def is_business_day(self, day: date) -> bool:
        return self.closure(day) is None

    def business_days_after(self, start: date) -> Iterator[date]:
        """The business days after ``start``, in order (``start`` itself excluded)."""
        day = start
        while True:
            day += timedelta(days=1)
            if self.is_business_day(day):
                yield day

    def add(self, start: date, count: int, *, count_start_day: bool = False) -> date:
        """The ``count``-th business day after ``start``; with ``count_start_day`` a business day
        ``start`` is day 1."""
        if count_start_day and self.is_business_day(start):
            count -= 1
            if count == 0:
                return start
        for number, day in enumerate(self.business_days_after(start), start=1):
            if number == count:
                return day
        raise AssertionError("unreachable: business days never run out")


@lru_cache(maxsize=1)
def _spec(path: Path = CALENDARS_FILE) -> Calendars:
    return load_model(Calendars, path, RegimeError)


@lru_cache(maxsize=64)
def business_calendar(name: str, path: Path = CALENDARS_FILE) -> BusinessCalendar:
    """The calendar ``name`` of ``calendars.yaml``; KeyError naming the known ones otherwise."""
    specs = _spec(path).calendars
    if name not in specs:
        raise KeyError(f"no holiday calendar {name!r}; known: {', '.join(sorted(specs))}")
    spec = specs[name]
    return BusinessCalendar(name, spec, dict(spec.closed))


def calendar_names(path: Path = CALENDARS_FILE) -> list[str]:
    return sorted(_spec(path).calendars)


def calendar_version() -> str:
    """The ``holidays`` package version the business-day deadlines are computed with."""
    return f"holidays {version('holidays')}"
