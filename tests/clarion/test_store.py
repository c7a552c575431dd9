"""Engines, sessions and the basic store functions."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from clarion import store
from clarion.errors import ConfigError, NotFound
from clarion.kinds import Channel, ConsentState, UpdateKind, UpdateState
from clarion.models import AudienceMembership, Incident, IncidentCreate, RecipientCreate, UpdateCreate
from clarion.settings import get_settings

# ── engines ───────────────────────────────────────────────────────────────────────────────────────


def test_default_engine_is_a_sqlite_file_in_clarion_home() -> None:
    engine = store.get_engine()

    assert engine.url.get_backend_name() == "sqlite"
    assert store.sqlite_file(engine.url) == get_settings().home / "clarion.db"
    assert store.get_engine() is engine


def test_database_url_setting_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARION_DATABASE_URL", f"sqlite:///{tmp_path}/elsewhere.db")
    get_settings.cache_clear()

    assert store.sqlite_file(store.make_engine().url) == tmp_path / "elsewhere.db"


@pytest.mark.parametrize("url", ["postgresql://u@db.example/clarion", "postgres://u@db.example/clarion"])
def test_postgresql_urls_use_psycopg_3(url: str) -> None:
    engine = store.make_engine(url)  # no connection is made

    assert engine.url.drivername == "postgresql+psycopg"
    assert engine.url.database == "clarion"


def test_sqlite_file_connections_are_tuned(sqlite_engine: sa.Engine) -> None:
    with sqlite_engine.connect() as connection:
        pragma = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("foreign_keys", "journal_mode", "busy_timeout")
        }

    assert pragma == {"foreign_keys": 1, "journal_mode": "wal", "busy_timeout": store.SQLITE_BUSY_TIMEOUT_MS}


def test_sqlite_writers_wait_for_each_other_instead_of_failing(sqlite_engine: sa.Engine) -> None:
    """BEGIN IMMEDIATE: the second transaction waits for the first one's lock, then goes ahead."""
    holding, released = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with sqlite_engine.begin() as connection:
            connection.exec_driver_sql("SELECT count(*) FROM incident").all()
            holding.set()
            released.wait(5)
            time.sleep(0.2)
            order.append("first commits")

    thread = threading.Thread(target=first)
    thread.start()
    assert holding.wait(5)
    released.set()
    with sqlite_engine.begin():  # blocks until the first transaction ends
        order.append("second begins")
    thread.join(5)

    assert order == ["first commits", "second begins"]


def test_a_reading_transaction_neither_waits_for_the_writer_nor_sees_its_uncommitted_rows(
    sqlite_engine: sa.Engine, incident_in: IncidentCreate
) -> None:
    with sqlite_engine.begin() as writer:  # holds SQLite's write lock throughout
        with Session(bind=writer) as session:
            store.create_incident(session=session, incident_in=incident_in)
            session.flush()
        started = time.monotonic()
        with store.reading(sqlite_engine) as reader:
            seen = reader.exec_driver_sql("SELECT count(*) FROM incident").scalar_one()
        waited = time.monotonic() - started

    assert seen == 0
    assert waited < store.SQLITE_BUSY_TIMEOUT_MS / 1000 / 2  # not queued behind the writer
    with store.reading(sqlite_engine) as reader:
        assert reader.exec_driver_sql("SELECT count(*) FROM incident").scalar_one() == 1


# ── sessions ──────────────────────────────────────────────────────────────────────────────────────


def test_session_scope_commits_when_the_block_succeeds(
    engine: sa.Engine, incident_in: IncidentCreate
) -> None:
    with store.session_scope(engine) as session:
        incident = store.create_incident(session=session, incident_in=incident_in)

    assert incident.reference == "INC-0001"  # still readable after the commit
    with Session(engine) as fresh:
        assert store.get_incident(session=fresh, reference="INC-0001").title == incident_in.title


def test_session_scope_rolls_back_when_the_block_raises(
    engine: sa.Engine, incident_in: IncidentCreate
) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.session_scope(engine) as session:
        store.create_incident(session=session, incident_in=incident_in)
        raise RuntimeError("boom")

    with Session(engine) as fresh:
        assert fresh.exec(select(Incident)).all() == []


def test_session_scope_uses_the_default_engine(incident_in: IncidentCreate) -> None:
    store.migrate()
    with store.session_scope() as session:
        store.create_incident(session=session, incident_in=incident_in)

    with store.session_scope() as session:
        assert store.get_incident(session=session, reference="INC-0001").playbook == "outage"


# ── incidents and updates ─────────────────────────────────────────────────────────────────────────


def test_references_are_numbered_after_the_latest(session: Session, incident_in: IncidentCreate) -> None:
    def declare(reference: str | None = None) -> str:
        created = store.create_incident(
            session=session, incident_in=incident_in.model_copy(update={"reference": reference})
        )
        return created.reference

    assert [declare(), declare(), declare("INC-0042"), declare()] == [
        "INC-0001",
        "INC-0002",
        "INC-0042",
        "INC-0043",
    ]


def test_get_incident_names_what_is_missing(session: Session) -> None:
    with pytest.raises(NotFound, match="no incident 'INC-0404'"):
        store.get_incident(session=session, reference="INC-0404")


def test_updates_are_numbered_per_incident_and_start_as_drafts(
    session: Session, incident_in: IncidentCreate, update_in: UpdateCreate
) -> None:
    first = store.create_incident(session=session, incident_in=incident_in)
    second = store.create_incident(session=session, incident_in=incident_in)

    a1 = store.add_update(session=session, incident=first, update_in=update_in)
    a2 = store.add_update(session=session, incident=first, update_in=update_in)
    b1 = store.add_update(session=session, incident=second, update_in=update_in)
    correction = store.add_update(
        session=session,
        incident=first,
        update_in=update_in.model_copy(update={"kind": UpdateKind.CORRECTION, "supersedes_id": a2.id}),
    )

    assert [(u.incident_id, u.number) for u in (a1, a2, b1, correction)] == [
        (first.id, 1),
        (first.id, 2),
        (second.id, 1),
        (first.id, 3),
    ]
    assert {u.state for u in (a1, a2, b1)} == {UpdateState.DRAFT}
    assert [u.number for u in store.list_updates(session=session, incident=first)] == [1, 2, 3]
    assert correction.supersedes_id == a2.id


# ── recipients ────────────────────────────────────────────────────────────────────────────────────


def test_a_recipient_is_stored_with_consents_and_audiences(session: Session) -> None:
    recipient_in = RecipientCreate(
        external_id="cust-7",
        email="ada@example.com",
        phone_e164="+4930123456",
        locale="de",
        time_zone="Europe/Berlin",
    )
    store.add_recipient(
        session=session,
        recipient_in=recipient_in,
        consents={Channel.EMAIL: ConsentState.GRANTED, Channel.SMS: ConsentState.WITHDRAWN},
        audiences=["eu-customers", "checkout-users", "eu-customers"],
    )
    session.commit()

    stored = store.get_recipient(session=session, external_id="cust-7")
    assert (stored.email, stored.locale, stored.time_zone) == ("ada@example.com", "de", "Europe/Berlin")
    assert store.consents_of(session=session, recipient=stored) == {
        Channel.EMAIL: ConsentState.GRANTED,
        Channel.SMS: ConsentState.WITHDRAWN,
    }
    memberships = session.exec(
        select(AudienceMembership.audience).order_by(AudienceMembership.audience)
    ).all()
    assert memberships == ["checkout-users", "eu-customers"]


def test_recipient_external_id_is_unique(session: Session) -> None:
    store.add_recipient(session=session, recipient_in=RecipientCreate(external_id="cust-7"))

    with pytest.raises(sa.exc.IntegrityError):
        store.add_recipient(session=session, recipient_in=RecipientCreate(external_id="cust-7"))


def test_get_recipient_names_what_is_missing(session: Session) -> None:
    with pytest.raises(NotFound, match="no recipient 'cust-0'"):
        store.get_recipient(session=session, external_id="cust-0")


def test_migrations_run_once_however_many_threads_ask(sqlite_bare_engine: sa.Engine) -> None:
    """Issue 12: every flow task ran Alembic's upgrade, which is not thread-safe (KeyError('script'))."""
    failures: list[BaseException] = []

    def upgrade() -> None:
        try:
            store.migrate(sqlite_bare_engine)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert store.require_current(sqlite_bare_engine) is sqlite_bare_engine


def test_a_store_that_is_missing_or_behind_is_refused_never_created(sqlite_bare_engine: sa.Engine) -> None:
    path = store.sqlite_file(sqlite_bare_engine.url)
    assert path is not None
    with pytest.raises(ConfigError, match=r"no clarion store at .*: create it with `clarion db upgrade`"):
        store.require_current(sqlite_bare_engine)
    assert not path.parent.exists()  # connecting never creates

    store.migrate(sqlite_bare_engine, revision="0004")
    with pytest.raises(ConfigError, match=f"is at revision 0004, this clarion needs {store.head_revision()}"):
        store.require_current(sqlite_bare_engine)
