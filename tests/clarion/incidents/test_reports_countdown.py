"""The countdown of an incident's regulatory deadlines: one row per stage, as text and as Markdown."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from markdown_it import MarkdownIt
from sqlmodel import Session

from clarion.compliance.deadlines import (
    check,
    clockfaces,
    find,
    override,
    record_event,
    record_submission,
    waive,
)
from clarion.incidents.lifecycle import open_incident
from clarion.incidents.reports import countdown_markdown, countdown_rows, time_left
from clarion.kinds import IncidentStatus
from clarion.models import Incident
from clarion.playbook import Playbook, load_playbook
from clarion.regimes import Event
from tests.helpers import PLAYBOOKS

AWARE = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DUE = AWARE + timedelta(hours=72)
NEW_YORK = ZoneInfo("America/New_York")
MARKDOWN = MarkdownIt("commonmark").enable("table")
COLUMNS = ["regime", "stage", "due (UTC)", "due (local)", "left", "state", "note"]


@pytest.fixture
def breach() -> Playbook:
    return load_playbook(PLAYBOOKS / "data-breach.yaml")


def declare(
    session: Session, book: Playbook, *, aware_at: datetime = AWARE, jurisdictions: Sequence[str] = ()
) -> Incident:
    return open_incident(
        session=session,
        playbook=book,
        reference="INC-0042",
        title="Customer contact details exposed",
        severity="sev1",
        status=IncidentStatus.INVESTIGATING,
        aware_at=aware_at,
        started_at=None,
        commander="ada@example.com",
        jurisdictions=jurisdictions,
    )


def submit(
    session: Session, incident: Incident, regime: str, stage: str, at: datetime, **kwargs: str
) -> None:
    record_submission(
        session=session,
        incident=incident,
        regime_id=regime,
        stage_id=stage,
        at=at,
        by=kwargs.pop("by", "dpo@example.com"),
        reference=kwargs.pop("reference", "DPA-1"),
        **kwargs,
    )


def rows_at(
    session: Session, incident: Incident, now: datetime, **kwargs: ZoneInfo
) -> dict[str, dict[str, str]]:
    faces = clockfaces(session=session, incident=incident, now=now)
    return {f"{r['regime']}/{r['stage']}": r for r in countdown_rows(faces, **kwargs)}


# ── time_left ─────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(days=2, hours=4), "2d 4h"),
        (timedelta(days=2, hours=4, minutes=59), "2d 4h"),
        (timedelta(days=1), "1d 0h"),
        (timedelta(hours=3, minutes=5), "3h 05m"),
        (timedelta(hours=3, minutes=5, seconds=59), "3h 05m"),
        (timedelta(minutes=59), "0h 59m"),
        (timedelta(0), "0h 00m"),
        (-timedelta(hours=1, minutes=10), "-1h 10m"),
        (-timedelta(hours=1, minutes=10, seconds=30), "-1h 10m"),
        (-timedelta(days=3, hours=1), "-3d 1h"),
        (None, "-"),
    ],
)
def test_time_left_reads_in_days_and_hours_or_hours_and_minutes(span: timedelta | None, text: str) -> None:
    assert time_left(span) == text


# ── countdown_rows ────────────────────────────────────────────────────────────────────────────────


def test_a_fresh_breach_shows_its_clocks_in_utc_and_in_brussels(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)

    rows = countdown_rows(clockfaces(session=session, incident=incident, now=AWARE + timedelta(hours=1)))

    assert rows == [
        {
            "regime": "gdpr-art33",
            "stage": "initial",
            "recipient": "lead or competent supervisory authority (Art. 55/56)",
            "clock": "72 h",
            "due (UTC)": "2026-03-04 09:00 UTC",
            "due (local)": "2026-03-04 10:00 CET",
            "left": "2d 23h",
            "state": "open",
            "note": "",
        },
        {
            "regime": "gdpr-art33",
            "stage": "supplement",
            "recipient": "lead or competent supervisory authority",
            "clock": "without undue further delay (target 7 d)",
            "due (UTC)": "-",
            "due (local)": "-",
            "left": "-",
            "state": "pending",
            "note": "starts when initial is submitted",
        },
        {
            "regime": "gdpr-art34",
            "stage": "data-subjects",
            "recipient": "affected data subjects",
            "clock": "without undue delay (target 3 d)",
            "due (UTC)": "2026-03-04 09:00 UTC",
            "due (local)": "2026-03-04 10:00 CET",
            "left": "2d 23h",
            "state": "open",
            "note": "",
        },
    ]


def test_after_the_clocks_change_brussels_is_on_summer_time(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach, aware_at=datetime(2026, 4, 1, 9, 0, tzinfo=UTC))

    row = rows_at(session, incident, datetime(2026, 4, 1, 10, 0, tzinfo=UTC))["gdpr-art33/initial"]

    assert (row["due (UTC)"], row["due (local)"]) == ("2026-04-04 09:00 UTC", "2026-04-04 11:00 CEST")


def test_a_given_zone_replaces_the_regimes(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)

    row = rows_at(session, incident, AWARE, zone=ZoneInfo("Asia/Tokyo"))["gdpr-art33/initial"]

    assert (row["due (UTC)"], row["due (local)"]) == ("2026-03-04 09:00 UTC", "2026-03-04 18:00 JST")


def test_the_sec_clock_shows_new_york_time_and_what_it_waits_for(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach, jurisdictions=["US"])

    pending = rows_at(session, incident, AWARE)["sec-8k-item-105/item-105"]
    assert (pending["due (UTC)"], pending["due (local)"], pending["left"], pending["state"]) == (
        "-",
        "-",
        "-",
        "pending",
    )
    assert pending["note"] == "starts when materiality-determined is recorded"
    assert pending["clock"] == "4 business days (us-sec)"

    record_event(
        session=session,
        incident=incident,
        event=Event.MATERIALITY_DETERMINED,
        at=datetime(2026, 3, 4, 10, 0, tzinfo=NEW_YORK),
        actor="cfo",
    )
    started = rows_at(session, incident, datetime(2026, 3, 10, 20, 0, tzinfo=UTC))["sec-8k-item-105/item-105"]

    assert (started["due (UTC)"], started["due (local)"], started["left"], started["state"]) == (
        "2026-03-10 21:30 UTC",
        "2026-03-10 17:30 EDT",
        "1h 30m",
        "at risk",
    )


def test_a_pending_stage_with_a_running_cap_says_by_when(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach.model_copy(update={"regimes": ["dora"]}))

    rows = rows_at(session, incident, AWARE + timedelta(hours=1))

    assert rows["dora/initial"]["note"] == (
        "starts when classified-major is recorded; if it starts by then, due by 2026-03-02 09:00 UTC"
    )
    assert rows["dora/intermediate"]["note"] == "starts when initial is submitted"
    assert rows["dora/clients"]["note"] == "starts when classified-major is recorded"


def test_at_risk_and_missed_clocks(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)

    at_risk = rows_at(session, incident, AWARE + timedelta(hours=71))["gdpr-art33/initial"]
    missed = rows_at(session, incident, AWARE + timedelta(hours=73, minutes=10))["gdpr-art33/initial"]

    assert (at_risk["left"], at_risk["state"]) == ("1h 00m", "at risk")
    assert (missed["left"], missed["state"]) == ("-1h 10m", "missed")


def test_a_met_stage_says_who_submitted_it_and_how_late(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    submit(session, incident, "gdpr-art33", "initial", DUE + timedelta(hours=2), delay_reason="Forensics")
    submit(
        session, incident, "gdpr-art34", "data-subjects", AWARE + timedelta(hours=20), by="comms@example.com"
    )

    rows = rows_at(session, incident, DUE + timedelta(hours=3))

    late = rows["gdpr-art33/initial"]
    assert (late["due (UTC)"], late["left"], late["state"]) == ("2026-03-04 09:00 UTC", "-", "met")
    assert late["note"] == "submitted 2026-03-04 11:00 UTC by dpo@example.com; late by 2h 00m"
    on_time = rows["gdpr-art34/data-subjects"]
    assert (on_time["left"], on_time["state"]) == ("-", "met")
    assert on_time["note"] == "submitted 2026-03-02 05:00 UTC by comms@example.com"
    # the supplement started with the notice; it only applies when the notice was incomplete
    supplement = rows["gdpr-art33/supplement"]
    assert supplement["due (UTC)"] == "2026-03-11 11:00 UTC"
    assert (
        supplement["note"]
        == "only if: Only when the initial notice could not give all the information at once."
    )


def test_a_resubmitted_stage_counts_its_submissions(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    submit(session, incident, "gdpr-art33", "initial", AWARE + timedelta(hours=10))
    submit(session, incident, "gdpr-art33", "initial", AWARE + timedelta(hours=30), by="bob@example.com")

    row = rows_at(session, incident, AWARE + timedelta(hours=31))["gdpr-art33/initial"]

    assert row["note"] == "submitted 2026-03-01 19:00 UTC by dpo@example.com; 2 submissions"


def test_an_overridden_stage_says_why(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    override(
        session=session,
        incident=incident,
        regime_id="gdpr-art33",
        stage_id="initial",
        due_at=DUE + timedelta(days=2),
        reason="Authority agreed to phased notice",
        actor="dpo",
    )

    row = rows_at(session, incident, AWARE + timedelta(hours=1))["gdpr-art33/initial"]

    assert (row["due (UTC)"], row["left"], row["note"]) == (
        "2026-03-06 09:00 UTC",
        "4d 23h",
        "overridden: Authority agreed to phased notice",
    )


def test_a_waived_stage_says_why(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    waive(
        session=session,
        incident=incident,
        regime_id="gdpr-art34",
        stage_id="data-subjects",
        reason="Data were encrypted: Art. 34(3)(a)",
        actor="dpo",
    )

    row = rows_at(session, incident, DUE + timedelta(days=1))["gdpr-art34/data-subjects"]

    assert (row["left"], row["state"], row["note"]) == (
        "-",
        "waived",
        "waived: Data were encrypted: Art. 34(3)(a)",
    )


# ── countdown_markdown ────────────────────────────────────────────────────────────────────────────


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_the_countdown_is_a_table_of_every_stage(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    now = AWARE + timedelta(hours=71)
    check(session=session, incident=incident, row=find(session, incident, "gdpr-art33", "initial"), now=now)

    markdown = countdown_markdown(incident, clockfaces(session=session, incident=incident, now=now), now=now)

    assert markdown.splitlines() == [
        "# INC-0042: regulatory deadlines",
        "",
        "As of 2026-03-04 08:00 UTC; awareness 2026-03-01 09:00 UTC.",
        "",
        "| regime | stage | due (UTC) | due (local) | left | state | note |",
        "|---|---|---|---|---|---|---|",
        "| gdpr-art33 | initial | 2026-03-04 09:00 UTC | 2026-03-04 10:00 CET | 1h 00m | at risk |  |",
        "| gdpr-art33 | supplement | - | - | - | pending | starts when initial is submitted |",
        "| gdpr-art34 | data-subjects | 2026-03-04 09:00 UTC | 2026-03-04 10:00 CET | 1h 00m | at risk |  |",
    ]


def test_a_pipe_in_a_reason_stays_in_its_cell(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    reason = "Encrypted | key not exposed <b>really</b> *sure*"
    waive(
        session=session,
        incident=incident,
        regime_id="gdpr-art34",
        stage_id="data-subjects",
        reason=reason,
        actor="x",
    )
    submit(
        session,
        incident,
        "gdpr-art33",
        "initial",
        DUE + timedelta(hours=1),
        by="legal_team@example.com",
        delay_reason="Forensics | counsel",
    )
    now = DUE + timedelta(hours=2)

    markdown = countdown_markdown(incident, clockfaces(session=session, incident=incident, now=now), now=now)

    table = [line for line in markdown.splitlines() if line.startswith("|")]
    assert all(unescaped_pipes(line) == len(COLUMNS) + 1 for line in table), table
    assert (
        "| gdpr-art34 | data-subjects | 2026-03-04 09:00 UTC | 2026-03-04 10:00 CET | - | waived | "
        "waived: Encrypted \\| key not exposed &lt;b&gt;really&lt;/b&gt; \\*sure\\* |"
    ) in table
    tokens = MARKDOWN.parse(markdown)
    assert sum(t.type == "td_open" for t in tokens) == 3 * len(COLUMNS)
    html = MARKDOWN.render(markdown)
    assert "<b>" not in html and "<strong>" not in html and "<em>" not in html
    assert "<td>waived: Encrypted | key not exposed &lt;b&gt;really&lt;/b&gt; *sure*</td>" in html
    assert "<td>submitted 2026-03-04 10:00 UTC by legal_team@example.com; late by 1h 00m</td>" in html


def test_an_incident_without_regimes_says_so(session: Session) -> None:
    incident = declare(session, load_playbook(PLAYBOOKS / "outage.yaml"))

    markdown = countdown_markdown(
        incident, clockfaces(session=session, incident=incident, now=AWARE), now=AWARE
    )

    assert markdown.splitlines()[-1] == "No regulatory regime runs for this incident."
    assert "|" not in markdown
