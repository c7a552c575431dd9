"""The named business-day calendars of calendars.yaml: what each closes, and how a bad file is reported."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from clarion.regimes.calendars import (
    CALENDARS_FILE,
    RegimeError,
    business_calendar,
    calendar_names,
    calendar_version,
)


def closure(name: str, day: str) -> str | None:
    return business_calendar(name).closure(date.fromisoformat(day))


def test_shipped_calendars() -> None:
    assert calendar_names() == ["br-anpd", "br-national", "us-federal", "us-sec", "us-vt", "weekdays"]


# ── us-sec and us-federal ─────────────────────────────────────────────────────────────────────────


def test_us_sec_closes_the_carter_day_of_mourning() -> None:
    reason = closure("us-sec", "2025-01-09")
    assert reason is not None
    assert "Carter" in reason
    assert not business_calendar("us-sec").is_business_day(date(2025, 1, 9))


def test_us_sec_closes_the_bush_day_of_mourning() -> None:
    reason = closure("us-sec", "2018-12-05")
    assert reason is not None
    assert "Bush" in reason


@pytest.mark.parametrize("name", ["us-sec", "us-federal"])
@pytest.mark.parametrize(
    ("day", "holiday"),
    [
        ("2025-11-27", "Thanksgiving"),
        ("2025-12-25", "Christmas"),
        ("2026-01-01", "New Year"),
        ("2026-07-03", "Independence Day"),  # observed: the 4th is a Saturday
        ("2026-06-19", "Juneteenth"),
    ],
)
def test_us_calendars_close_federal_holidays(name: str, day: str, holiday: str) -> None:
    reason = closure(name, day)
    assert reason is not None
    assert holiday in reason


@pytest.mark.parametrize("name", ["us-sec", "us-federal"])
def test_good_friday_is_an_sec_business_day(name: str) -> None:
    assert closure(name, "2025-04-18") is None


@pytest.mark.parametrize("day", ["2025-01-09", "2018-12-05"])
def test_us_federal_does_not_know_the_executive_order_closures(day: str) -> None:
    assert closure("us-federal", day) is None


def test_us_sec_open_on_an_ordinary_weekday() -> None:
    assert business_calendar("us-sec").is_business_day(date(2025, 1, 8))
    assert business_calendar("us-sec").is_business_day(date(2025, 1, 10))


def test_us_vt_closes_town_meeting_day_which_us_federal_does_not() -> None:
    assert closure("us-vt", "2026-03-03") is not None
    assert closure("us-federal", "2026-03-03") is None


# ── Brazil ────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("day", "holiday"),
    [("2026-02-16", "Carnival"), ("2026-02-17", "Carnival"), ("2026-02-18", "Ash Wednesday")],
)
def test_br_anpd_closes_carnival_and_ash_wednesday_but_br_national_does_not(day: str, holiday: str) -> None:
    reason = closure("br-anpd", day)
    assert reason is not None
    assert holiday in reason
    assert closure("br-national", day) is None


@pytest.mark.parametrize("name", ["br-anpd", "br-national"])
def test_brazilian_calendars_close_national_holidays(name: str) -> None:
    assert closure(name, "2026-04-21") is not None  # Tiradentes
    assert closure(name, "2026-09-07") is not None  # Independence Day


def test_br_anpd_counts_business_days_past_carnival() -> None:
    friday = date(2026, 2, 13)
    assert business_calendar("br-anpd").add(friday, 1) == date(2026, 2, 19)
    assert business_calendar("br-national").add(friday, 1) == date(2026, 2, 16)


# ── weekdays ──────────────────────────────────────────────────────────────────────────────────────


def test_weekdays_closes_only_saturday_and_sunday() -> None:
    weekdays = business_calendar("weekdays")
    start = date(2025, 1, 1)
    for offset in range(731):  # two whole years, holidays of every country included
        day = start + timedelta(days=offset)
        reason = weekdays.closure(day)
        if day.weekday() >= 5:
            assert reason == day.strftime("%A")
        else:
            assert reason is None, day


def test_weekend_closure_is_named_after_the_day() -> None:
    assert closure("us-sec", "2026-03-07") == "Saturday"
    assert closure("br-anpd", "2026-03-08") == "Sunday"


# ── add ───────────────────────────────────────────────────────────────────────────────────────────


def test_add_counts_business_days_after_the_start() -> None:
    sec = business_calendar("us-sec")
    assert sec.add(date(2025, 1, 6), 4) == date(2025, 1, 13)
    assert sec.add(date(2025, 1, 6), 4, count_start_day=True) == date(2025, 1, 10)
    assert sec.add(date(2025, 1, 9), 1, count_start_day=True) == date(2025, 1, 10)  # closed start
    assert sec.add(date(2025, 1, 11), 1, count_start_day=True) == date(2025, 1, 13)  # Saturday start


def test_business_days_after_excludes_the_start() -> None:
    days = business_calendar("us-sec").business_days_after(date(2025, 1, 8))
    assert [next(days) for _ in range(3)] == [date(2025, 1, 10), date(2025, 1, 13), date(2025, 1, 14)]


# ── errors ────────────────────────────────────────────────────────────────────────────────────────


def test_unknown_calendar_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"no holiday calendar 'us-nyse'; known: br-anpd, .*us-sec.*weekdays"):
        business_calendar("us-nyse")


def test_calendar_version_names_the_holidays_package() -> None:
    assert calendar_version().startswith("holidays ")


def test_a_custom_calendars_file(tmp_path: Path) -> None:
    path = tmp_path / "calendars.yaml"
    path.write_text(
        "calendars:\n"
        "  acme:\n"
        "    description: Acme's own.\n"
        "    weekend: [4, 5]\n"
        "    closed:\n"
        "      2026-03-02: founders' day\n",
        encoding="utf-8",
    )
    acme = business_calendar("acme", path=path)
    assert acme.closure(date(2026, 3, 2)) == "founders' day"
    assert acme.closure(date(2026, 3, 6)) == "Friday"
    assert acme.is_business_day(date(2026, 3, 8))  # Sunday works at Acme
    assert calendar_names(path) == ["acme"]
    with pytest.raises(KeyError, match="known: acme"):
        business_calendar("us-sec", path=path)
    assert "us-sec" in calendar_names(CALENDARS_FILE)  # the shipped file is unaffected


def test_a_bad_key_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "calendars.yaml"
    path.write_text(
        "calendars:\n  acme:\n    description: Acme's own.\n    country: US\n    categorys: [public]\n",
        encoding="utf-8",
    )
    with pytest.raises(RegimeError) as raised:
        business_calendar("acme", path=path)
    message = str(raised.value)
    assert f"{path}:5: calendars.acme.categorys: unknown key (did you mean 'categories'?)" in message
    [problem] = raised.value.problems
    assert problem.line == 5


@pytest.mark.parametrize(
    ("body", "line", "field", "message"),
    [
        ("  acme:\n    description: x\n    country: usa\n", 4, "calendars.acme.country", "pattern"),
        ("  acme:\n    description: x\n    weekend: [7]\n", 4, "calendars.acme.weekend[0]", "6"),
        (
            "  acme:\n    description: x\n    closed:\n      not-a-date: why\n",
            5,
            "calendars.acme.closed",
            "date",
        ),
        ("  Acme:\n    description: x\n", 2, "calendars.Acme", ""),
        ("  acme:\n    country: US\n", 2, "calendars.acme.description", "required field is missing"),
    ],
    ids=["country", "weekend", "closed-date", "slug", "missing-description"],
)
def test_bad_calendar_files_name_the_line(
    tmp_path: Path, body: str, line: int, field: str, message: str
) -> None:
    path = tmp_path / "calendars.yaml"
    path.write_text("calendars:\n" + body, encoding="utf-8")
    with pytest.raises(RegimeError) as raised:
        calendar_names(path)
    problems = raised.value.problems
    assert any(p.line == line and p.field.startswith(field) and message in p.message for p in problems), [
        str(p) for p in problems
    ]
    assert all(p.source == str(path) for p in problems)


def test_a_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "calendars.yaml"
    path.write_text("calendars:\n  acme:\n    description: [unclosed\n", encoding="utf-8")
    with pytest.raises(RegimeError, match="YAML syntax"):
        calendar_names(path)
