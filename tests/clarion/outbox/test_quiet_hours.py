"""Quiet hours: routine and important emails and SMS wait for the recipient's morning, in the ledger;
urgent and legally required ones go at once; the morning is right across a change of clocks."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from clarion.audiences.sources import Source
from clarion.errors import PlaybookError
from clarion.facts import load_facts
from clarion.kinds import Channel, DeliveryState, IncidentStatus
from clarion.models import Delivery, Recipient
from clarion.models.columns import table_of
from clarion.outbox import counts
from clarion.outbox.quiet_hours import QuietHours, release_at
from clarion.outbox.superseded import SUPERSEDED
from clarion.outbox.worker import Worker, WorkerConfig
from clarion.playbook import Playbook, load_playbook
from clarion.settings import Settings
from clarion.updates.publish import stage_update
from tests.clarion.outbox.conftest import FakeSender
from tests.helpers import EXAMPLES, PLAYBOOKS, load_raw, write_yaml

NIGHT = QuietHours.model_validate({"from": "21:00", "until": "08:00"})
FAST = {"backoff_base": 0.001, "backoff_cap": 0.01, "idle_poll": 0.01, "in_flight": timedelta(0)}
_d, _r = table_of(Delivery), table_of(Recipient)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ── the morning, in the recipient's zone ─────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("now", "zone", "release"),
    [
        pytest.param(utc(2026, 12, 8, 22), "Europe/Berlin", utc(2026, 12, 9, 7), id="23:00 CET → 08:00 CET"),
        pytest.param(utc(2026, 12, 9, 5), "Europe/Berlin", utc(2026, 12, 9, 7), id="06:00 → 08:00 same day"),
        pytest.param(utc(2026, 12, 9, 7), "Europe/Berlin", None, id="08:00 sharp: awake"),
        pytest.param(utc(2026, 12, 8, 19, 59), "Europe/Berlin", None, id="20:59: not yet quiet"),
        pytest.param(utc(2026, 12, 8, 20), "Europe/Berlin", utc(2026, 12, 9, 7), id="21:00 sharp: quiet"),
        pytest.param(utc(2026, 12, 8, 22), "America/New_York", None, id="17:00 in New York"),
        pytest.param(utc(2026, 12, 9, 3), "America/New_York", utc(2026, 12, 9, 13), id="22:00 EST → 08:00"),
    ],
)
def test_a_message_in_the_window_waits_for_the_end_of_it_on_the_recipients_clock(
    now: datetime, zone: str, release: datetime | None
) -> None:
    assert release_at(NIGHT, now, zone) == release


@pytest.mark.parametrize(
    ("now", "zone", "release"),
    [  # 23:00 local the evening before clocks change: the morning is 08:00 on the new clock
        pytest.param(utc(2026, 3, 28, 22), "Europe/Berlin", utc(2026, 3, 29, 6), id="spring forward: 9 h"),
        pytest.param(utc(2026, 10, 24, 21), "Europe/Berlin", utc(2026, 10, 25, 7), id="fall back: 11 h"),
        pytest.param(utc(2026, 3, 8, 3), "America/New_York", utc(2026, 3, 8, 12), id="New York, spring"),
    ],
)
def test_the_morning_after_a_change_of_clocks_is_eight_on_the_new_clock(
    now: datetime, zone: str, release: datetime
) -> None:
    held = release_at(NIGHT, now, zone)

    assert held == release
    assert held is not None and held.astimezone(ZoneInfo(zone)).strftime("%H:%M") == "08:00"


def test_a_window_within_one_day_and_one_ending_in_the_skipped_hour() -> None:
    early = QuietHours.model_validate({"from": "01:00", "until": "06:00"})
    assert release_at(early, utc(2026, 12, 8, 23, 30), "UTC") is None
    assert release_at(early, utc(2026, 12, 9, 1, 30), "UTC") == utc(2026, 12, 9, 6)
    # 02:30 does not exist in Berlin on 29 March 2026: read with the winter offset, 03:30 summer time
    skipped = QuietHours.model_validate({"from": "22:00", "until": "02:30"})
    assert release_at(skipped, utc(2026, 3, 28, 22), "Europe/Berlin") == utc(2026, 3, 29, 1, 30)


# ── the playbook setting ─────────────────────────────────────────────────────────────────────────


def _playbook_with(tmp_path: Path, quiet: object) -> Path:
    raw = load_raw(PLAYBOOKS / "outage.yaml")
    raw["quiet_hours"] = quiet
    path = tmp_path / "outage.yaml"
    write_yaml(path, raw)
    return path


def test_the_playbook_reads_quiet_hours(tmp_path: Path) -> None:
    playbook = load_playbook(_playbook_with(tmp_path, {"from": "21:30", "until": "07:45"}))

    assert playbook.quiet_hours is not None and str(playbook.quiet_hours) == "21:30–07:45"


@pytest.mark.parametrize(
    ("quiet", "says"),
    [
        ({"from": "21:00", "until": "8am"}, "'8am' is not a time of day"),
        ({"from": 1260, "until": "08:00"}, "write the time in quotes"),
        ({"from": "24:00", "until": "08:00"}, "is not a time of day"),
        ({"from": "08:00", "until": "08:00"}, "the window would be empty"),
        ({"from": "21:00"}, "until"),
        ({"from": "21:00", "until": "08:00", "tiers": ["routine"]}, "tiers"),
    ],
)
def test_a_wrong_quiet_hours_setting_is_named_with_file_and_line(
    tmp_path: Path, quiet: object, says: str
) -> None:
    with pytest.raises(PlaybookError) as caught:
        load_playbook(_playbook_with(tmp_path, quiet))

    text = str(caught.value)
    assert "outage.yaml:" in text and "quiet_hours" in text and says in text, text


def test_an_unquoted_time_in_yaml_is_explained(tmp_path: Path) -> None:
    path = _playbook_with(tmp_path, {"from": "21:00", "until": "08:00"})
    path.write_text(path.read_text().replace("'21:00'", "21:00").replace('"21:00"', "21:00"))
    assert "from: 21:00" in path.read_text()

    with pytest.raises(PlaybookError, match="write the time in quotes"):
        load_playbook(path)


# ── staged, held, sent in the morning ────────────────────────────────────────────────────────────


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """23:00 in Berlin on a winter evening, as the stager and the worker see it."""
    clock = Clock(utc(2026, 12, 8, 22))
    monkeypatch.setattr("clarion.outbox.fanout.utcnow", clock)
    monkeypatch.setattr("clarion.outbox.worker.utcnow", clock)
    return clock


def _outage(*, mandatory: str | None = None) -> Playbook:
    playbook = load_playbook(PLAYBOOKS / "outage.yaml")
    audiences = dict(playbook.audiences)
    affected = audiences["affected-customers"]
    audiences["affected-customers"] = affected.model_copy(update={"mandatory": mandatory})
    return playbook.model_copy(update={"quiet_hours": NIGHT, "audiences": audiences})


def _stage(
    engine: sa.Engine,
    settings: Settings,
    tmp_path: Path,
    playbook: Playbook,
    severity: str,
    *,
    new_update: bool = False,
    status: str | None = None,
) -> int:
    csv_path = tmp_path / "affected.csv"
    csv_path.write_text(
        "id,email,phone,locale,time_zone\n"
        "berlin,anna@example.com,+4915112000001,en,Europe/Berlin\n"
        "nowhere,bo@example.com,,en,\n"  # no zone: the playbook's (outage: UTC)
    )
    facts = load_facts(EXAMPLES / "outage.yaml", playbook).model_copy(update={"severity": severity})
    if status is not None:
        facts = facts.model_copy(update={"status": IncidentStatus(status)})
    staged = stage_update(
        engine=engine,
        playbook=playbook,
        facts=facts,
        settings=settings,
        sources={"affected-customers": Source(csv=csv_path)},
        new_update=new_update,
    )
    return staged.update_id


def _rows(engine: sa.Engine, update_id: int) -> dict[tuple[str, str], sa.Row[tuple[object, ...]]]:
    with engine.connect() as c:
        rows = c.execute(
            sa.select(_r.c.external_id, _d.c.channel, _d.c.state, _d.c.next_attempt_at)
            .add_columns(_d.c.held_until, _d.c.hold_reason, _d.c.accepted_at, _d.c.id)
            .add_columns(_d.c.error_code, _d.c.error_detail)
            .join(_r, _r.c.id == _d.c.recipient_id)
            .where(_d.c.update_id == update_id)
        ).all()
    return {(r.external_id, str(r.channel)): r for r in rows}


def _work(engine: sa.Engine, sender: dict[Channel, FakeSender]) -> None:
    Worker(engine, sender, WorkerConfig(name="w", threads=1, max_wait=0, **FAST)).run()


def test_a_routine_email_at_23_in_berlin_is_held_to_8_local_and_sent_then(
    engine: sa.Engine, settings: Settings, tmp_path: Path, clock: Clock
) -> None:
    update_id = _stage(engine, settings, tmp_path, _outage(), "sev2")  # important: held
    senders = {c: FakeSender(c) for c in (Channel.EMAIL, Channel.SMS)}

    rows = _rows(engine, update_id)
    anna, bo = rows[("berlin", "email")], rows[("nowhere", "email")]
    assert anna.held_until == anna.next_attempt_at == utc(2026, 12, 9, 7)  # 08:00 CET
    assert anna.hold_reason == "quiet hours 21:00–08:00 Europe/Berlin, important update"
    assert rows[("berlin", "sms")].held_until == utc(2026, 12, 9, 7)
    assert bo.held_until == utc(2026, 12, 9, 8) and "UTC" in bo.hold_reason  # the playbook's zone
    waiting = counts.waiting(engine, now=clock.now, channels=[Channel.EMAIL])
    assert [w.last_error for w in waiting] == [anna.hold_reason]  # what `outbox work` reports
    assert counts.held(engine, now=clock.now) == (3, utc(2026, 12, 9, 7))  # `outbox status`

    clock.now = utc(2026, 12, 9, 6, 59)  # 07:59 in Berlin: nothing goes
    _work(engine, senders)
    assert not senders[Channel.EMAIL].sent and not senders[Channel.SMS].sent

    clock.now = utc(2026, 12, 9, 7)  # 08:00 in Berlin: Anna's messages go, Bo's (UTC) wait an hour
    _work(engine, senders)
    rows = _rows(engine, update_id)
    assert rows[("berlin", "email")].state is DeliveryState.ACCEPTED
    assert rows[("berlin", "sms")].state is DeliveryState.ACCEPTED
    assert rows[("nowhere", "email")].state is DeliveryState.PENDING
    assert rows[("berlin", "email")].hold_reason is not None  # the ledger keeps that it was held
    assert counts.held(engine, now=clock.now) == (1, utc(2026, 12, 9, 8))

    clock.now = utc(2026, 12, 9, 8)
    _work(engine, senders)
    assert _rows(engine, update_id)[("nowhere", "email")].state is DeliveryState.ACCEPTED
    assert sum(senders[Channel.EMAIL].sent.values()) == 2 and max(senders[Channel.EMAIL].sent.values()) == 1


@pytest.mark.parametrize(
    ("later", "status"),
    [("sev1", None), ("sev2", "identified")],
    ids=["urgent, sent at once", "held as well"],
)
def test_a_newer_update_replaces_the_messages_still_held_for_the_morning(
    engine: sa.Engine, settings: Settings, tmp_path: Path, clock: Clock, later: str, status: str | None
) -> None:
    first = _stage(engine, settings, tmp_path, _outage(), "sev2")  # 23:00 in Berlin: held
    clock.now = utc(2026, 12, 9, 1)  # 02:00: the incident changes
    second = _stage(engine, settings, tmp_path, _outage(), later, new_update=True, status=status)
    senders = {c: FakeSender(c) for c in (Channel.EMAIL, Channel.SMS)}

    held = _rows(engine, first)
    assert {(r.state, r.error_code) for r in held.values()} == {(DeliveryState.SUPPRESSED, SUPERSEDED)}
    assert all("update 2 was staged while it was held" in (r.error_detail or "") for r in held.values())
    clock.now = utc(2026, 12, 9, 9)  # the morning everywhere
    _work(engine, senders)
    assert {r.state for r in _rows(engine, second).values()} == {DeliveryState.ACCEPTED}
    sent = Counter(senders[Channel.EMAIL].sent) + Counter(senders[Channel.SMS].sent)
    assert set(sent) == {r.id for r in _rows(engine, second).values()}  # each person hears once
    assert set(sent.values()) == {1}


def test_a_message_already_sent_is_not_replaced(
    sqlite_engine: sa.Engine, settings: Settings, tmp_path: Path, clock: Clock
) -> None:
    first = _stage(sqlite_engine, settings, tmp_path, _outage(), "sev1")  # urgent: not held, sent
    _work(sqlite_engine, {c: FakeSender(c) for c in (Channel.EMAIL, Channel.SMS)})
    _stage(sqlite_engine, settings, tmp_path, _outage(), "sev2", new_update=True)
    assert {r.state for r in _rows(sqlite_engine, first).values()} == {DeliveryState.ACCEPTED}


@pytest.mark.parametrize(
    ("severity", "mandatory"),
    [
        pytest.param("sev1", None, id="urgent"),
        pytest.param("sev2", "contract requires notice of outages", id="legally required"),
    ],
)
def test_urgent_and_legally_required_messages_are_not_held(
    sqlite_engine: sa.Engine,
    settings: Settings,
    tmp_path: Path,
    clock: Clock,
    severity: str,
    mandatory: str | None,
) -> None:
    update_id = _stage(sqlite_engine, settings, tmp_path, _outage(mandatory=mandatory), severity)
    senders = {c: FakeSender(c) for c in (Channel.EMAIL, Channel.SMS)}

    rows = _rows(sqlite_engine, update_id)
    assert {(r.held_until, r.hold_reason, r.next_attempt_at) for r in rows.values()} == {
        (None, None, clock.now)
    }
    _work(sqlite_engine, senders)  # still 23:00 in Berlin
    assert {r.state for r in _rows(sqlite_engine, update_id).values()} == {DeliveryState.ACCEPTED}


def test_broadcasts_are_never_held(
    sqlite_engine: sa.Engine, settings: Settings, tmp_path: Path, clock: Clock
) -> None:
    update_id = _stage(sqlite_engine, settings, tmp_path, _outage(), "sev2")
    with sqlite_engine.connect() as c:
        broadcast = c.execute(
            sa.select(_d.c.channel, _d.c.held_until).where(
                _d.c.update_id == update_id, _d.c.recipient_id.is_(None)
            )
        ).all()
    assert {str(c) for c, _ in broadcast} >= {"banner", "mastodon"}
    assert {held for _, held in broadcast} == {None}
