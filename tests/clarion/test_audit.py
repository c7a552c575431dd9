"""The audit log: append-only in the database, tamper-evident through its hash chain."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from clarion import audit, store
from clarion.errors import AuditChainBroken, StoreError
from clarion.models import AuditEvent

DropTriggers = Callable[[sa.Engine], None]


@pytest.fixture
def db(engine: sa.Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def _append_three(engine: sa.Engine) -> list[AuditEvent]:
    with store.session_scope(engine) as session:
        return [
            audit.append(
                session=session, actor="ada", action="incident.declared", subject="INC-0042", details={}
            ),
            audit.append(
                session=session,
                actor="grace",
                action="update.approved",
                subject="INC-0042/update/1",
                details={"role": "legal", "note": "Ölpest — ok"},
            ),
            audit.append(
                session=session,
                actor="clarion",
                action="update.sent",
                subject="INC-0042/update/1",
                details={"channels": ["email", "sms"], "recipients": 1204},
            ),
        ]


def _verify(engine: sa.Engine, **kwargs: Any) -> audit.VerifyReport:
    with Session(engine) as session:
        return audit.verify(session=session, **kwargs)


def _execute(engine: sa.Engine, sql: str, **params: object) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text(sql), params)


# ── a healthy chain ───────────────────────────────────────────────────────────────────────────────


def test_three_entries_form_a_chain_that_verifies(engine: sa.Engine) -> None:
    first, second, third = _append_three(engine)

    report = _verify(engine)

    assert report == audit.VerifyReport(entries=3, head_id=third.id, head_hash=third.hash)
    assert first.prev_hash == audit.GENESIS_HASH
    assert (second.prev_hash, third.prev_hash) == (first.hash, second.hash)


def test_an_empty_log_verifies_with_the_genesis_head(db: Session) -> None:
    assert audit.verify(session=db) == audit.VerifyReport(
        entries=0, head_id=None, head_hash=audit.GENESIS_HASH
    )
    assert audit.head_hash(session=db) == audit.GENESIS_HASH


def test_the_hash_covers_the_documented_canonical_form(db: Session) -> None:
    """Pins the format: changing it would make every existing log fail to verify."""
    event = audit.append(
        session=db,
        actor="ada",
        action="update.approved",
        subject="INC-7/update/2",
        details={"z": 1, "a": "é"},
    )
    at = event.at.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    canonical = (
        f'{{"action":"update.approved","actor":"ada","at":"{at}",'
        '"details":{"a":"é","z":1},"subject":"INC-7/update/2"}'
    )

    assert event.hash == hashlib.sha256((audit.GENESIS_HASH + canonical).encode()).hexdigest()


def test_details_are_copied_not_shared(db: Session) -> None:
    details: dict[str, Any] = {"channels": ["email"], "window": (1, 2)}
    event = audit.append(session=db, actor="ada", action="update.sent", subject="INC-1", details=details)
    details["channels"].append("sms")
    details["extra"] = True
    db.commit()

    assert event.details == {"channels": ["email"], "window": [1, 2]}
    assert audit.verify(session=db).entries == 1


@pytest.mark.parametrize("bad", [{"when": object()}, {"ratio": float("nan")}])
def test_details_that_are_not_plain_json_are_refused_before_writing(db: Session, bad: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match=r"audit details of 'x\.y' must be plain JSON"):
        audit.append(session=db, actor="ada", action="x.y", subject="s", details=bad)

    assert audit.verify(session=db).entries == 0


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(details=st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_any_json_details_survive_the_database_round_trip(engine: sa.Engine, details: dict[str, Any]) -> None:
    """Unicode, big integers, floats and nesting come back hashing exactly as they were written."""
    with store.session_scope(engine) as session:
        audit.append(session=session, actor="prop", action="test.roundtrip", subject="s", details=details)

    _verify(engine)


# ── the database refuses changes ──────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("statement", "verb"),
    [("UPDATE audit_event SET actor = 'mallory'", "UPDATE"), ("DELETE FROM audit_event", "DELETE")],
)
def test_the_database_refuses_to_change_the_log(engine: sa.Engine, statement: str, verb: str) -> None:
    _append_three(engine)

    with pytest.raises(sa.exc.IntegrityError, match=f"audit_event is append-only: {verb} refused"):
        _execute(engine, statement)

    assert _verify(engine).entries == 3


@pytest.mark.postgres
def test_postgresql_refuses_to_truncate_the_log(pg_engine: sa.Engine) -> None:
    _append_three(pg_engine)

    with pytest.raises(sa.exc.IntegrityError, match="append-only: TRUNCATE refused"):
        _execute(pg_engine, "TRUNCATE audit_event")


# ── tampering by someone who dropped the triggers ─────────────────────────────────────────────────


def test_an_edited_entry_is_named(engine: sa.Engine, without_audit_triggers: DropTriggers) -> None:
    _, second, _ = _append_three(engine)
    without_audit_triggers(engine)
    _execute(engine, """UPDATE audit_event SET details = '{"role": "none"}' WHERE id = :id""", id=second.id)

    with pytest.raises(AuditChainBroken, match="hash mismatch") as caught:
        _verify(engine)

    assert caught.value.entry_id == second.id
    assert str(caught.value).startswith(f"audit entry {second.id}: hash mismatch: its content was changed")


def test_a_removed_entry_is_named_by_the_entry_after_it(
    engine: sa.Engine, without_audit_triggers: DropTriggers
) -> None:
    _, second, third = _append_three(engine)
    without_audit_triggers(engine)
    _execute(engine, "DELETE FROM audit_event WHERE id = :id", id=second.id)

    with pytest.raises(AuditChainBroken, match="prev link mismatch") as caught:
        _verify(engine)

    assert caught.value.entry_id == third.id
    assert "removed" in caught.value.reason


def test_removing_the_first_entry_is_detected(
    engine: sa.Engine, without_audit_triggers: DropTriggers
) -> None:
    first, second, _ = _append_three(engine)
    without_audit_triggers(engine)
    _execute(engine, "DELETE FROM audit_event WHERE id = :id", id=first.id)

    with pytest.raises(AuditChainBroken) as caught:
        _verify(engine)

    assert caught.value.entry_id == second.id


def test_an_entry_rewritten_with_a_fresh_hash_breaks_the_next_link(
    engine: sa.Engine, without_audit_triggers: DropTriggers
) -> None:
    first, second, third = _append_three(engine)
    forged = {"role": "legal", "note": "never approved"}
    forged_hash = audit.entry_hash(
        prev_hash=first.hash,
        at=second.at,
        actor=second.actor,
        action=second.action,
        subject=second.subject,
        details=forged,
    )
    without_audit_triggers(engine)
    _execute(
        engine,
        "UPDATE audit_event SET details = :details, hash = :hash WHERE id = :id",
        details='{"role": "legal", "note": "never approved"}',
        hash=forged_hash,
        id=second.id,
    )

    with pytest.raises(AuditChainBroken, match="prev link mismatch") as caught:
        _verify(engine)

    assert caught.value.entry_id == third.id


def test_a_cut_off_tail_is_caught_only_against_a_recorded_head(
    engine: sa.Engine, without_audit_triggers: DropTriggers
) -> None:
    _, second, third = _append_three(engine)
    recorded_head = _verify(engine).head_hash
    without_audit_triggers(engine)
    _execute(engine, "DELETE FROM audit_event WHERE id = :id", id=third.id)

    assert _verify(engine).entries == 2  # the shorter chain is still a valid chain (documented limit)
    with pytest.raises(AuditChainBroken, match=r"recorded head \w+… is not in the chain") as caught:
        _verify(engine, anchor=recorded_head)
    assert caught.value.entry_id == second.id


def test_an_older_recorded_head_still_verifies_as_the_log_grows(engine: sa.Engine) -> None:
    first, *_ = _append_three(engine)

    assert _verify(engine, anchor=first.hash).entries == 3


# ── concurrent appenders ──────────────────────────────────────────────────────────────────────────


def test_an_appender_that_lost_the_race_retries_on_the_new_head(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = audit.append(session=db, actor="ada", action="a", subject="s")
    audit.append(session=db, actor="ada", action="b", subject="s")
    real_head_hash = audit.head_hash
    stale = iter([first.hash])  # the head as it was before the other appender won

    def head_read_too_early(*, session: Session) -> str:
        return next(stale, None) or real_head_hash(session=session)

    monkeypatch.setattr(audit, "head_hash", head_read_too_early)
    third = audit.append(session=db, actor="ada", action="c", subject="s")
    db.commit()

    assert audit.verify(session=db).entries == 3
    assert third.prev_hash != first.hash


def test_an_appender_that_keeps_losing_gives_up_and_leaves_the_log_intact(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = audit.append(session=db, actor="ada", action="a", subject="s")
    audit.append(session=db, actor="ada", action="b", subject="s")
    monkeypatch.setattr(audit, "head_hash", lambda *, session: first.hash)

    with pytest.raises(StoreError, match="lost the race 5 times"):
        audit.append(session=db, actor="ada", action="c", subject="s")
    db.commit()

    assert audit.verify(session=db).entries == 2


def _hammer(engine: sa.Engine, *, threads: int, appends: int) -> None:
    start = threading.Barrier(threads)

    def worker(n: int) -> None:
        start.wait()
        for i in range(appends):
            with store.session_scope(engine) as session:
                audit.append(session=session, actor=f"worker-{n}", action="test.append", subject=f"s/{i}")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(worker, n) for n in range(threads)]:
            future.result()


def _assert_one_linear_chain(engine: sa.Engine, *, threads: int, appends: int) -> None:
    report = _verify(engine)
    assert report.entries == threads * appends
    with Session(engine) as session:
        events = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
    assert Counter(e.actor for e in events) == {f"worker-{n}": appends for n in range(threads)}
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]


@pytest.mark.postgres
def test_concurrent_appenders_on_postgresql_build_one_linear_chain(pg_engine: sa.Engine) -> None:
    _hammer(pg_engine, threads=4, appends=25)

    _assert_one_linear_chain(pg_engine, threads=4, appends=25)


def test_concurrent_appenders_on_sqlite_build_one_linear_chain(sqlite_engine: sa.Engine) -> None:
    _hammer(sqlite_engine, threads=4, appends=10)

    _assert_one_linear_chain(sqlite_engine, threads=4, appends=10)
