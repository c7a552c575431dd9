"""Worked examples: each shipped regime's clocks on real dates, the expected deadlines worked out by hand.

One table: (regime, stage, start instant, zone and wall time the deadline is expected at, why). The
``why`` is the test id and carries the hand computation, so a failing row says what was expected. The
start instants are written in an explicit zone (not always the regime's: the result must not depend
on it). Conventions, from ``clarion.regimes.arithmetic``: hours run straight through (DST changes
included); day counts are counted in the regime's zone, day 0 is the start day unless the clock counts
it, and the deadline is 23:59:59 local (or the clock's cut-off) of the last day; months end at
23:59:59 of the day of the same date, or of the last day of a shorter month (Reg. 1182/71 Art. 3(2)(c)).
"""

from __future__ import annotations

import types
import typing
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel

from clarion.facts import Facts
from clarion.regimes import business_calendar, calendar_names, due, earliest, get_regime, regimes
from clarion.regimes.schema import Clock, Event, Start

BERLIN = "Europe/Berlin"
BRUSSELS = "Europe/Brussels"
LONDON = "Europe/London"
NEW_YORK = "America/New_York"
CHICAGO = "America/Chicago"
LOS_ANGELES = "America/Los_Angeles"
SAO_PAULO = "America/Sao_Paulo"
SINGAPORE = "Asia/Singapore"
SYDNEY = "Australia/Sydney"
KOLKATA = "Asia/Kolkata"
TOKYO = "Asia/Tokyo"


def at(
    zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """An aware instant: this wall time in ``zone``."""
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(zone))


def wall(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A naive wall time, read in the row's expected zone."""
    return datetime(year, month, day, hour, minute, second)


def row(
    regime: str, stage: str, start: datetime, zone: str, expected: datetime, why: str
) -> typing.Any:  # pytest's ParameterSet
    return pytest.param(regime, stage, start, zone, expected, id=why)


WORKED = [
    # ── GDPR / UK GDPR ───────────────────────────────────────────────────────────────────────────
    row(
        "gdpr-art33",
        "initial",
        at(BERLIN, 2026, 10, 24, 10, 0),
        BERLIN,
        wall(2026, 10, 27, 9, 0),
        "gdpr-art33: aware Sat 24 Oct 10:00 CEST = 08:00Z; +72 h = 27 Oct 08:00Z; clocks went back on "
        "the 25th, so 09:00 CET, not 10:00",
    ),
    row(
        "gdpr-art34",
        "data-subjects",
        at(BRUSSELS, 2026, 3, 2, 10, 0),
        BRUSSELS,
        wall(2026, 3, 5, 10, 0),
        "gdpr-art34: asap, watched against our 72 h target: Mon 2 Mar 10:00 -> Thu 5 Mar 10:00",
    ),
    row(
        "uk-gdpr",
        "ico",
        at(LONDON, 2026, 3, 28, 12, 0),
        LONDON,
        wall(2026, 3, 31, 13, 0),
        "uk-gdpr: aware Sat 28 Mar 12:00 GMT; +72 h = 31 Mar 12:00Z; BST from the 29th, so 13:00 London",
    ),
    # ── NIS2 ─────────────────────────────────────────────────────────────────────────────────────
    row(
        "nis2-art23",
        "early-warning",
        at(BRUSSELS, 2026, 1, 31, 15, 0),
        BRUSSELS,
        wall(2026, 2, 1, 15, 0),
        "nis2: early warning 24 h from awareness Sat 31 Jan 15:00 -> Sun 1 Feb 15:00 (weekends count)",
    ),
    row(
        "nis2-art23",
        "incident-notification",
        at(BRUSSELS, 2026, 1, 31, 15, 0),
        BRUSSELS,
        wall(2026, 2, 3, 15, 0),
        "nis2: incident notification 72 h from awareness Sat 31 Jan 15:00 -> Tue 3 Feb 15:00",
    ),
    row(
        "nis2-art23",
        "final-report",
        at(BRUSSELS, 2026, 1, 31, 15, 0),
        BRUSSELS,
        wall(2026, 2, 28, 23, 59, 59),
        "nis2: final report one month after the notification submitted 31 Jan 15:00 -> 31 Feb does not "
        "exist: the end of 28 Feb",
    ),
    row(
        "nis2-art23",
        "final-report-after-handling",
        at(BRUSSELS, 2026, 5, 31, 10, 0),
        BRUSSELS,
        wall(2026, 6, 30, 23, 59, 59),
        "nis2: ongoing incident handled 31 May 10:00 -> final report by the end of 30 Jun (clipped)",
    ),
    # ── DORA (the initial notification with its cap is tested below) ─────────────────────────────
    row(
        "dora",
        "intermediate",
        at(BRUSSELS, 2026, 3, 27, 18, 0),
        BRUSSELS,
        wall(2026, 3, 30, 19, 0),
        "dora: intermediate 72 h after the initial submitted Fri 27 Mar 18:00 CET = 17:00Z -> 30 Mar "
        "17:00Z = 19:00 CEST (spring change on the 29th)",
    ),
    row(
        "dora",
        "final",
        at(BRUSSELS, 2026, 3, 10, 12, 0),
        BRUSSELS,
        wall(2026, 4, 10, 23, 59, 59),
        "dora: final one month after the intermediate of Tue 10 Mar 12:00 CET -> the end of 10 Apr "
        "(CEST, across the spring change)",
    ),
    row(
        "dora",
        "final",
        at(BRUSSELS, 2026, 3, 20, 9, 0),
        BRUSSELS,
        wall(2026, 4, 20, 23, 59, 59),
        "dora: an updated intermediate on 20 Mar 09:00 CET moves the final to the end of 20 Apr",
    ),
    # ── US federal ───────────────────────────────────────────────────────────────────────────────
    row(
        "hipaa",
        "individual",
        at(NEW_YORK, 2026, 1, 15, 10, 0),
        NEW_YORK,
        wall(2026, 3, 16, 23, 59, 59),
        "hipaa: discovered Thu 15 Jan; day 1 = 16 Jan; 16 days to 31 Jan, 28 in Feb (44), day 60 = "
        "16 Mar, 23:59:59 EDT",
    ),
    row(
        "hipaa",
        "hhs-annual",
        at(NEW_YORK, 2026, 12, 31, 23, 59, 59),
        NEW_YORK,
        wall(2027, 3, 1, 23, 59, 59),
        "hipaa: under-500 breaches of 2026: the year ends 31 Dec (day 0); 31 in Jan, 28 in Feb (59), "
        "day 60 = 1 Mar 2027, i.e. 60 days after 31 Dec",
    ),
    row(
        "sec-8k-item-105",
        "item-105",
        at(NEW_YORK, 2026, 11, 6, 14, 0),
        NEW_YORK,
        wall(2026, 11, 13, 17, 30),
        "sec: determined Fri 6 Nov 2026; Mon 9 (1), Tue 10 (2), Wed 11 Veterans Day closed, Thu 12 (3), "
        "Fri 13 (4), 17:30 ET",
    ),
    row(
        "sec-8k-item-105",
        "item-105",
        at(NEW_YORK, 2025, 8, 29, 11, 0),
        NEW_YORK,
        wall(2025, 9, 5, 17, 30),
        "sec: determined Fri 29 Aug 2025; Mon 1 Sep Labor Day closed; Tue 2 (1) .. Fri 5 (4), 17:30 ET",
    ),
    row(
        "sec-8k-item-105",
        "item-105",
        at(NEW_YORK, 2025, 1, 8, 9, 0),
        NEW_YORK,
        wall(2025, 1, 15, 17, 30),
        "sec: determined Wed 8 Jan 2025; Thu 9 closed (Carter day of mourning, EDGAR closed); Fri 10 (1), "
        "Mon 13 (2), Tue 14 (3), Wed 15 (4), 17:30 ET",
    ),
    row(
        "sec-8k-item-105",
        "item-105",
        at(NEW_YORK, 2025, 1, 9, 12, 0),
        NEW_YORK,
        wall(2025, 1, 15, 17, 30),
        "sec: determined on the closed Thu 9 Jan 2025 itself; B.1: the next business day Fri 10 is day 1 "
        "-> Wed 15, 17:30 ET",
    ),
    row(
        "sec-8k-item-105",
        "item-105",
        at(NEW_YORK, 2025, 3, 8, 10, 0),
        NEW_YORK,
        wall(2025, 3, 13, 17, 30),
        "sec: determined Sat 8 Mar 2025; Mon 10 is day 1 (B.1) -> Thu 13, 17:30 EDT",
    ),
    row(
        "sec-8k-item-105",
        "item-105",
        at(NEW_YORK, 2025, 4, 17, 16, 0),
        NEW_YORK,
        wall(2025, 4, 23, 17, 30),
        "sec: determined Thu 17 Apr 2025; Good Friday 18 is an SEC business day (1), Mon 21 (2), Tue 22 "
        "(3), Wed 23 (4); the NYSE calendar would give Thu 24",
    ),
    row(
        "sec-8k-item-105",
        "item-105",
        at(LONDON, 2025, 3, 11, 3, 30),
        NEW_YORK,
        wall(2025, 3, 14, 17, 30),
        "sec: determined Mon 10 Mar 2025 23:30 EDT (written as 11 Mar 03:30 London): still Monday in New "
        "York, so Tue 11 (1) .. Fri 14 (4), 17:30",
    ),
    row(
        "circia",
        "incident-report",
        at(NEW_YORK, 2026, 7, 1, 9, 0),
        NEW_YORK,
        wall(2026, 7, 4, 9, 0),
        "circia (disabled, still computes): 72 h from reasonable belief Wed 1 Jul 09:00 -> Sat 4 Jul 09:00",
    ),
    row(
        "circia",
        "ransom-payment-report",
        at(NEW_YORK, 2026, 7, 2, 20, 0),
        NEW_YORK,
        wall(2026, 7, 3, 20, 0),
        "circia: ransom paid Thu 2 Jul 20:00 -> report 24 h later, Fri 3 Jul 20:00 (a federal holiday: "
        "hours ignore it)",
    ),
    # ── US states ────────────────────────────────────────────────────────────────────────────────
    row(
        "us-ca",
        "consumer-notice",
        at(LOS_ANGELES, 2026, 1, 10, 9, 0),
        LOS_ANGELES,
        wall(2026, 2, 9, 23, 59, 59),
        "us-ca: discovered Sat 10 Jan; day 30 = 9 Feb (21 days in Jan + 9), 23:59:59 Pacific",
    ),
    row(
        "us-ca",
        "ag-sample-notice",
        at(LOS_ANGELES, 2026, 2, 5, 14, 0),
        LOS_ANGELES,
        wall(2026, 2, 20, 23, 59, 59),
        "us-ca: consumer notice sent Thu 5 Feb -> AG sample copy 15 days later, Fri 20 Feb 23:59:59",
    ),
    row(
        "us-ny",
        "consumer-notice",
        at(NEW_YORK, 2026, 12, 15, 16, 0),
        NEW_YORK,
        wall(2027, 1, 14, 23, 59, 59),
        "us-ny: discovered Tue 15 Dec 2026; 16 days to 31 Dec, day 30 = Thu 14 Jan 2027, 23:59:59 EST",
    ),
    row(
        "us-tx",
        "ag",
        at(CHICAGO, 2026, 6, 1, 11, 0),
        CHICAGO,
        wall(2026, 7, 1, 23, 59, 59),
        "us-tx: determined Mon 1 Jun; AG day 30 = Wed 1 Jul, 23:59:59 Central",
    ),
    row(
        "us-tx",
        "individuals",
        at(CHICAGO, 2026, 6, 1, 11, 0),
        CHICAGO,
        wall(2026, 7, 31, 23, 59, 59),
        "us-tx: determined Mon 1 Jun; individuals day 60 = Fri 31 Jul (29 days in Jun + 31)",
    ),
    # ── Brazil (the br-national comparison is tested below) ─────────────────────────────────────
    row(
        "lgpd",
        "anpd",
        at(SAO_PAULO, 2026, 2, 13, 15, 0),
        SAO_PAULO,
        wall(2026, 2, 23, 23, 59, 59),
        "lgpd: knowledge Fri 13 Feb 2026; Carnival Mon 16, Tue 17 and Ash Wednesday 18 closed (br-anpd); "
        "Thu 19 (1), Fri 20 (2), Mon 23 (3), 23:59:59 BRT",
    ),
    row(
        "lgpd",
        "complementary",
        at(SAO_PAULO, 2026, 2, 20, 10, 0),
        SAO_PAULO,
        wall(2026, 3, 20, 23, 59, 59),
        "lgpd: ANPD told Fri 20 Feb; 20 business days: four full weeks from Mon 23 Feb -> Fri 20 Mar",
    ),
    # ── Asia-Pacific ─────────────────────────────────────────────────────────────────────────────
    row(
        "sg-pdpa",
        "assessment",
        at(SINGAPORE, 2026, 3, 2, 10, 0),
        SINGAPORE,
        wall(2026, 4, 1, 23, 59, 59),
        "sg-pdpa: aware Mon 2 Mar; assessment expected within 30 days -> Wed 1 Apr 23:59:59",
    ),
    row(
        "sg-pdpa",
        "pdpc",
        at(SINGAPORE, 2026, 3, 2, 10, 0),
        SINGAPORE,
        wall(2026, 3, 5, 23, 59, 59),
        "sg-pdpa: assessed notifiable Mon 2 Mar 10:00; that day not counted: Tue 3 (1), Wed 4 (2), Thu 5 "
        "(3), 23:59:59 SGT",
    ),
    row(
        "au-ndb",
        "assessment",
        at(SYDNEY, 2026, 3, 1, 9, 0),
        SYDNEY,
        wall(2026, 3, 31, 23, 59, 59),
        "au-ndb: suspected Sun 1 Mar; 30-day assessment window ends Tue 31 Mar 23:59:59",
    ),
    row(
        "au-ndb",
        "oaic",
        at(SYDNEY, 2026, 4, 3, 12, 0),
        SYDNEY,
        wall(2026, 4, 6, 11, 0),
        "au-ndb: assessment done Fri 3 Apr 12:00 AEDT = 01:00Z; our 72 h target = 6 Apr 01:00Z = 11:00 "
        "AEST (daylight saving ended on the 5th)",
    ),
    row(
        "cra-art14",
        "early-warning",
        at(BRUSSELS, 2026, 10, 24, 12, 0),
        BRUSSELS,
        wall(2026, 10, 25, 11, 0),
        "cra-art14: aware Sat 24 Oct 12:00 CEST; +24 h = 25 Oct 10:00Z, after the autumn change: 11:00 CET",
    ),
    row(
        "cra-art14",
        "final-report-vulnerability",
        at(BRUSSELS, 2026, 11, 2, 16, 0),
        BRUSSELS,
        wall(2026, 11, 16, 23, 59, 59),
        "cra-art14: fix available Mon 2 Nov; day 14 = Mon 16 Nov, end of day",
    ),
    row(
        "in-cert-in",
        "cert-in",
        at(KOLKATA, 2026, 5, 10, 23, 0),
        KOLKATA,
        wall(2026, 5, 11, 5, 0),
        "in-cert-in: noticed Sun 10 May 23:00 IST -> 6 h -> Mon 11 May 05:00 IST",
    ),
    row(
        "in-cert-in",
        "cert-in",
        at(LONDON, 2026, 5, 10, 19, 30),
        KOLKATA,
        wall(2026, 5, 11, 6, 0),
        "in-cert-in: noticed 10 May 19:30 BST (= 11 May 00:00 IST) -> 06:00 IST",
    ),
    row(
        "jp-appi",
        "preliminary",
        at(TOKYO, 2026, 4, 1, 10, 0),
        TOKYO,
        wall(2026, 4, 4, 10, 0),
        "jp-appi: preliminary report 'promptly', our 3-day target: Wed 1 Apr 10:00 -> Sat 4 Apr 10:00",
    ),
    row(
        "jp-appi",
        "confirmed",
        at(TOKYO, 2026, 4, 1, 10, 0),
        TOKYO,
        wall(2026, 4, 30, 23, 59, 59),
        "jp-appi: known Wed 1 Apr, counted as day 1 (conservative reading) -> day 30 = Thu 30 Apr",
    ),
    row(
        "jp-appi",
        "confirmed-wrongful-purpose",
        at(TOKYO, 2026, 4, 1, 10, 0),
        TOKYO,
        wall(2026, 5, 30, 23, 59, 59),
        "jp-appi: wrongful purpose, 60 days with 1 Apr as day 1: 30 in Apr, day 60 = Sat 30 May",
    ),
    # ── Card brands (contractual) ────────────────────────────────────────────────────────────────
    row(
        "pci-card-brands",
        "visa-incident-report",
        at(NEW_YORK, 2026, 12, 24, 10, 0),
        NEW_YORK,
        wall(2026, 12, 29, 23, 59, 59),
        "pci: discovered Thu 24 Dec; weekdays calendar has no holidays: Fri 25 (1), Mon 28 (2), Tue 29 (3)",
    ),
    row(
        "pci-card-brands",
        "visa-account-numbers",
        at(NEW_YORK, 2026, 12, 24, 10, 0),
        NEW_YORK,
        wall(2027, 1, 7, 23, 59, 59),
        "pci: 10 weekdays from Thu 24 Dec: 25, 28-31 (5), 1 Jan (6), 4-7 Jan (10) -> Thu 7 Jan 2027",
    ),
    row(
        "pci-card-brands",
        "mastercard-adc",
        at(NEW_YORK, 2026, 12, 24, 10, 0),
        NEW_YORK,
        wall(2026, 12, 25, 10, 0),
        "pci: Mastercard ADC report 24 h from awareness Thu 24 Dec 10:00 -> Fri 25 Dec 10:00",
    ),
]


@pytest.mark.parametrize(("regime_id", "stage_id", "start", "zone", "expected"), WORKED)
def test_worked_example(
    regime_id: str, stage_id: str, start: datetime, zone: str, expected: datetime
) -> None:
    regime = get_regime(regime_id)
    stage = regime.stage(stage_id)
    assert not stage.caps, "stages with caps are worked through earliest() below"
    result = due(start, stage.clock, regime.zone)
    assert result.utcoffset() == timedelta(0)
    assert result.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == expected


def test_every_regime_has_a_worked_example() -> None:
    covered = {param.values[0] for param in WORKED}
    assert set(regimes()) - covered == set(), "add a worked example for each new regime"


# ── DORA: the 4 h from classification, capped at 24 h from awareness ─────────────────────────────


@pytest.mark.parametrize(
    ("aware", "classified", "expected"),
    [
        pytest.param(
            at(BRUSSELS, 2026, 4, 3, 8, 0),
            at(BRUSSELS, 2026, 4, 3, 22, 0),
            wall(2026, 4, 4, 2, 0),
            id="classified Good Friday 22:00, aware 08:00: min(04-04 02:00, 04-04 08:00) = 02:00",
        ),
        pytest.param(
            at(BRUSSELS, 2026, 4, 3, 8, 0),
            at(BRUSSELS, 2026, 4, 4, 7, 0),
            wall(2026, 4, 4, 8, 0),
            id="classified 23 h after awareness: the 24 h cap (04-04 08:00) comes before 11:00 and binds",
        ),
        pytest.param(
            at(BRUSSELS, 2026, 4, 3, 8, 0),
            at(BRUSSELS, 2026, 4, 4, 14, 0),
            wall(2026, 4, 4, 18, 0),
            id="classified 30 h after awareness: the cap is already past, 4 h from classification = 18:00",
        ),
    ],
)
def test_dora_initial(aware: datetime, classified: datetime, expected: datetime) -> None:
    regime = get_regime("dora")
    stage = regime.stage("initial")
    assert stage.starts == Start(event=Event.CLASSIFIED_MAJOR)
    assert [cap.starts for cap in stage.caps] == [Start(event=Event.AWARENESS)]
    primary = due(classified, stage.clock, regime.zone)
    caps = [due(aware, cap.clock, regime.zone) for cap in stage.caps]
    result = earliest(classified, primary, caps)
    assert result.astimezone(ZoneInfo(BRUSSELS)).replace(tzinfo=None) == expected


def test_dora_final_runs_from_the_latest_intermediate() -> None:
    assert get_regime("dora").stage("final").starts == Start(after="intermediate", latest=True)


# ── LGPD: which calendar ────────────────────────────────────────────────────────────────────────


def test_lgpd_across_carnival_with_national_holidays_only_is_earlier() -> None:
    """Without Carnival and Ash Wednesday (br-national) the same knowledge gives Wed 18 Feb: the
    unverified calendar question is worth five calendar days here."""
    knowledge = at(SAO_PAULO, 2026, 2, 13, 15, 0)
    assert business_calendar("br-national").add(date(2026, 2, 13), 3) == date(2026, 2, 18)
    national = due(knowledge, Clock(business_days=3, calendar="br-national"), ZoneInfo(SAO_PAULO))
    assert national.astimezone(ZoneInfo(SAO_PAULO)).replace(tzinfo=None) == wall(2026, 2, 18, 23, 59, 59)
    anpd = due(knowledge, get_regime("lgpd").stage("anpd").clock, ZoneInfo(SAO_PAULO))
    assert national < anpd


# ── every shipped regime ─────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("regime_id", sorted(regimes()))
def test_shipped_regime_is_complete(regime_id: str) -> None:
    regime = get_regime(regime_id)
    assert regime.citation.strip()
    assert regime.source_url.scheme == "https"
    assert regime.stages
    known = set(calendar_names())
    for stage in regime.stages:
        for clock in (stage.clock, *(cap.clock for cap in stage.caps)):
            if clock.business_days is not None:
                assert clock.calendar in known, f"{stage.id}: unknown calendar {clock.calendar}"
                business_calendar(clock.calendar)  # and it loads


def _model_of(annotation: typing.Any) -> type[BaseModel] | None:
    """The pydantic model inside ``X``, ``X | None`` or ``Annotated[X, ...]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            if (model := _model_of(arg)) is not None:
                return model
    return None


def _dict_values(annotation: typing.Any) -> typing.Any:
    """The value type of ``dict[K, V]`` (or ``dict[K, V] | None``), if ``annotation`` is one."""
    if typing.get_origin(annotation) is dict:
        return typing.get_args(annotation)[1]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if typing.get_origin(arg) is dict:
                return typing.get_args(arg)[1]
    return None


def _resolves(path: str) -> bool:
    """Whether ``path`` names a fact: model fields, and any key of a mapping (``story.en.fix.text``)."""
    annotation: typing.Any = Facts
    for part in path.split("."):
        values = _dict_values(annotation)
        if values is not None:
            annotation = values
            continue
        model = _model_of(annotation)
        if model is None or part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
    return True


@pytest.mark.parametrize("regime_id", sorted(regimes()))
def test_notice_fields_name_real_facts(regime_id: str) -> None:
    """A typo in a fact path would silently leave the field empty in every draft."""
    for stage in get_regime(regime_id).stages:
        for field in stage.content:
            for path in field.facts:
                assert _resolves(path), f"{stage.id}.{field.key}: no fact {path!r} in clarion.facts.Facts"
            if not field.facts:
                assert field.hint, f"{stage.id}.{field.key}: no fact holds it, so a hint says what to write"


def test_circia_is_off_and_says_why() -> None:
    circia = get_regime("circia")
    assert circia.enabled is False
    assert circia.disabled_reason and "final rule" in circia.disabled_reason


def test_result_is_the_same_instant_whatever_zone_the_start_is_written_in() -> None:
    regime = get_regime("sec-8k-item-105")
    clock = regime.stage("item-105").clock
    start = at(NEW_YORK, 2025, 1, 8, 9, 0)
    assert due(start, clock, regime.zone) == due(start.astimezone(UTC), clock, regime.zone)
