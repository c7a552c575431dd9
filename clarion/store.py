"""Engines, sessions, migrations and the basic store functions.

SQLite is the zero-set-up default (a file in ``CLARION_HOME``); PostgreSQL (through psycopg 3) is for
several workers. Nothing is built at import time: :func:`get_engine` builds the engine on first use.

SQLite connections are tuned for a small multi-process deployment:

* the database file's folder is created on the first connection (zero set-up);
* ``PRAGMA foreign_keys=ON`` (SQLite ignores foreign keys otherwise);
* ``journal_mode=WAL`` for file databases, so readers never wait for the writer;
* ``busy_timeout``, so a writer waits for the lock instead of failing at once;
* every transaction starts with ``BEGIN IMMEDIATE`` (sqlite3's own transaction handling is turned off).
  Taking the write lock up front serialises writers at the start of their transactions, so a
  read-then-write (the audit chain's "read the head, append after it") cannot be overtaken, and
  SQLite's unrecoverable ``SQLITE_BUSY_SNAPSHOT`` cannot happen. It also makes SAVEPOINTs work.
  Work that only reads opens its transaction with :func:`reading` instead: a deferred ``BEGIN``
  that reads a snapshot without waiting for (or holding up) the writer.

Store functions are keyword-only with the session first and never commit: the caller owns the
transaction (:func:`session_scope` commits on success and rolls back on error).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlmodel import Session, col, func, select

from clarion.errors import NotFound
from clarion.kinds import Channel, ConsentState
from clarion.models import (
    AudienceMembership,
    ChannelConsent,
    Incident,
    IncidentCreate,
    Recipient,
    RecipientCreate,
    Update,
    UpdateCreate,
)
from clarion.settings import get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
REFERENCE_PREFIX = "INC-"


# ── engines and sessions ──────────────────────────────────────────────────────────────────────────


def _is_sqlite_memory(url: sa.URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def make_engine(url: str | sa.URL | None = None, **engine_kwargs: Any) -> sa.Engine:
    """An engine for ``url`` (the settings' database URL when None).

    ``postgresql://`` and ``postgres://`` URLs use psycopg 3. Extra keyword arguments go to
    :func:`sqlalchemy.create_engine`; ``connect_args`` are merged with ours.
    """
    parsed = sa.make_url(url if url is not None else get_settings().effective_database_url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    connect_args: dict[str, Any] = dict(engine_kwargs.pop("connect_args", {}))
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        connect_args.setdefault("check_same_thread", False)
        engine = sa.create_engine(parsed, connect_args=connect_args, **engine_kwargs)
        _tune_sqlite(engine, folder=None if _is_sqlite_memory(parsed) else Path(str(parsed.database)).parent)
        return engine
    engine_kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, connect_args=connect_args, **engine_kwargs)


def _tune_sqlite(engine: sa.Engine, *, folder: Path | None) -> None:
    """Pragmas and transaction control for SQLite; ``folder`` is the file's folder (None in memory)."""

    @sa.event.listens_for(engine, "do_connect")
    def _make_folder(*_args: Any) -> None:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see the module docstring)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
            if folder is not None:
                cursor.execute("PRAGMA journal_mode=WAL")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


_READ_ONLY = "clarion_read_only"


@contextmanager
def reading(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that only reads: on SQLite it neither waits for the writer nor holds it up."""
    with engine.connect() as connection:
        connection.execution_options(**{_READ_ONLY: True})
        with connection.begin():
            yield connection


@lru_cache(maxsize=1)
def get_engine() -> sa.Engine:
    """The process-wide engine for the configured store. Tests call ``get_engine.cache_clear()``."""
    return make_engine()


@contextmanager
def session_scope(engine: sa.Engine | None = None) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises.

    Objects stay readable after the block (``expire_on_commit=False``), so a caller can report what
    it stored without another round trip.
    """
    with Session(engine if engine is not None else get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# ── migrations ────────────────────────────────────────────────────────────────────────────────────


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic configuration for the migrations shipped in the package (no ``alembic.ini``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(engine: sa.Engine | None = None, *, revision: str = "head") -> None:
    """Bring the store to ``revision`` (the newest by default).

    A SQLite file's folder (by default ``CLARION_HOME``) is created on the first connection.
    """
    engine = engine if engine is not None else get_engine()
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def current_revision(engine: sa.Engine | None = None) -> str | None:
    """The store's migration revision, or None when it was never migrated."""
    engine = engine if engine is not None else get_engine()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


# ── incidents and updates ─────────────────────────────────────────────────────────────────────────


def _next_reference(session: Session) -> str:
    latest = session.exec(
        select(Incident.reference)
        .where(col(Incident.reference).startswith(REFERENCE_PREFIX))
        .order_by(col(Incident.id).desc())
        .limit(1)
    ).first()
    number = 0
    if latest is not None and latest.removeprefix(REFERENCE_PREFIX).isdigit():
        number = int(latest.removeprefix(REFERENCE_PREFIX))
    return f"{REFERENCE_PREFIX}{number + 1:04d}"


def create_incident(*, session: Session, incident_in: IncidentCreate) -> Incident:
    """Store a new incident; its reference is the next ``INC-nnnn`` unless one is given."""
    reference = incident_in.reference or _next_reference(session)
    incident = Incident.model_validate(incident_in, update={"reference": reference})
    session.add(incident)
    session.flush()
    return incident


def get_incident(*, session: Session, reference: str) -> Incident:
    """The incident named ``reference``; raises :class:`NotFound`."""
    incident = session.exec(select(Incident).where(Incident.reference == reference)).first()
    if incident is None:
        raise NotFound("incident", reference)
    return incident


def add_update(*, session: Session, incident: Incident, update_in: UpdateCreate) -> Update:
    """Add the incident's next update (numbered 1, 2, 3… per incident) as a draft."""
    assert incident.id is not None, "the incident must be stored first"
    last = session.exec(select(func.max(Update.number)).where(Update.incident_id == incident.id)).one()
    update = Update.model_validate(update_in, update={"incident_id": incident.id, "number": (last or 0) + 1})
    session.add(update)
    session.flush()
    return update


def list_updates(*, session: Session, incident: Incident) -> list[Update]:
    """The incident's updates, oldest first."""
    statement = select(Update).where(Update.incident_id == incident.id).order_by(col(Update.number))
    return list(session.exec(statement).all())


# ── recipients ────────────────────────────────────────────────────────────────────────────────────


def add_recipient(
    *,
    session: Session,
    recipient_in: RecipientCreate,
    consents: Mapping[Channel, ConsentState] | None = None,
    audiences: Iterable[str] = (),
    source: str = "import",
) -> Recipient:
    """Store a recipient with their channel consents and audience memberships."""
    recipient = Recipient.model_validate(recipient_in)
    session.add(recipient)
    session.flush()
    assert recipient.id is not None
    for channel, state in (consents or {}).items():
        session.add(ChannelConsent(recipient_id=recipient.id, channel=channel, state=state, source=source))
    for audience in dict.fromkeys(audiences):
        session.add(AudienceMembership(audience=audience, recipient_id=recipient.id))
    session.flush()
    return recipient


def get_recipient(*, session: Session, external_id: str) -> Recipient:
    """The recipient known in the source system as ``external_id``; raises :class:`NotFound`."""
    recipient = session.exec(select(Recipient).where(Recipient.external_id == external_id)).first()
    if recipient is None:
        raise NotFound("recipient", external_id)
    return recipient


def consents_of(*, session: Session, recipient: Recipient) -> dict[Channel, ConsentState]:
    """The recipient's consent per channel (channels never asked about are absent)."""
    rows = session.exec(select(ChannelConsent).where(ChannelConsent.recipient_id == recipient.id)).all()
    return {row.channel: row.state for row in rows}
