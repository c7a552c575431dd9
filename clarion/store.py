"""Engines, sessions, migrations and the basic store functions.

SQLite is the zero-set-up default (a file in ``CLARION_HOME``); PostgreSQL (through psycopg 3) is for
several workers. Nothing is built at import time: :func:`get_engine` builds the engine on first use.

**Only preparing creates or migrates.** An engine never creates a store by connecting: SQLite files
are opened with ``mode=rw``, so a command that only reads cannot leave a database (or its folder)
behind where none was. :func:`migrate` creates the file (its folder 0700, the file 0600: it holds
recipients' addresses) and brings the schema to the newest migration; it runs at ``clarion db
upgrade``, ``serve``, ``web``, ``demo`` and at the start of a command that writes the outbox, never
from a flow or task. Everything else asks :func:`require_current`, which says in one line what is
missing (no store, an old schema, an unreachable server) instead of creating or migrating.
Migrations hold a process-wide lock (Alembic's ``command.upgrade`` is not safe in concurrent threads)
and, on PostgreSQL, an advisory lock, so two processes starting together migrate once.

SQLite connections are tuned for a small multi-process deployment:

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

import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import Session, col, func, select

from clarion.errors import ConfigError, NotFound
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
STORE_BACKENDS = ("sqlite", "postgresql")
MIGRATION_LOCK_KEY = 0x636C6172696F6E  # "clarion": the PostgreSQL advisory lock migrations hold
_migrating = threading.Lock()
_current: set[str] = set()


# ── engines and sessions ──────────────────────────────────────────────────────────────────────────


def _is_sqlite_memory(url: sa.URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def sqlite_file(url: sa.URL) -> Path | None:
    """The database file a SQLite URL names (None in memory or for other databases)."""
    if url.get_backend_name() != "sqlite" or _is_sqlite_memory(url):
        return None
    database = str(url.database)
    if url.query.get("uri") == "true" and database.startswith("file:"):
        return Path(unquote(database.removeprefix("file:").split("?", 1)[0]))
    return Path(database)


def parse_url(url: str | sa.URL) -> sa.URL:
    """``url`` parsed; :class:`ConfigError` naming the setting and an example when it is not a URL."""
    try:
        parsed = sa.make_url(url) if isinstance(url, str) else url
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.get_backend_name() not in STORE_BACKENDS:
            raise ValueError(f"the store runs on SQLite or PostgreSQL, not {parsed.get_backend_name()}")
        parsed.get_dialect()
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError) as exc:
        shown = url if isinstance(url, str) else url.render_as_string(hide_password=True)
        raise ConfigError(
            f"CLARION_DATABASE_URL {shown!r} is not a database URL clarion can use ({exc}); e.g. "
            "sqlite:////var/lib/clarion/clarion.db or postgresql+psycopg://clarion@db.example/clarion"
        ) from None
    return parsed


def describe(url: sa.URL) -> str:
    """Where a store is, for people: the SQLite file, or the URL without its password."""
    path = sqlite_file(url)
    return str(path) if path is not None else url.render_as_string(hide_password=True)


def make_engine(url: str | sa.URL | None = None, **engine_kwargs: Any) -> sa.Engine:
    """An engine for ``url`` (the settings' database URL when None).

    ``postgresql://`` and ``postgres://`` URLs use psycopg 3. A SQLite file is opened with
    ``mode=rw``: connecting never creates it (:func:`migrate` does). Extra keyword arguments go to
    :func:`sqlalchemy.create_engine`; ``connect_args`` are merged with ours.
    """
    parsed = parse_url(url if url is not None else get_settings().effective_database_url)
    connect_args: dict[str, Any] = dict(engine_kwargs.pop("connect_args", {}))
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        connect_args.setdefault("check_same_thread", False)
        path = sqlite_file(parsed)
        if path is not None and parsed.query.get("uri") != "true":
            parsed = parsed.set(
                database=f"file:{quote(str(path))}", query={**parsed.query, "mode": "rw", "uri": "true"}
            )
        engine = sa.create_engine(parsed, connect_args=connect_args, **engine_kwargs)
        _tune_sqlite(engine, wal=path is not None)
        return engine
    engine_kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, connect_args=connect_args, **engine_kwargs)


def _tune_sqlite(engine: sa.Engine, *, wal: bool) -> None:
    """Pragmas and transaction control for SQLite; ``wal`` for files (not in memory)."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see the module docstring)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
            if wal:
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


def _create_sqlite_file(path: Path) -> None:
    """The store file and its folder, private to this user (0600 in 0700): it holds addresses."""
    if path.exists() and not path.is_file():
        raise ConfigError(f"the store must be a file, and {path} is a folder or a device: name a file")
    try:
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700, parents=True)
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise ConfigError(f"cannot create the store at {path}: {exc.strerror or exc}") from None
    os.close(descriptor)


def unavailable(engine: sa.Engine, exc: BaseException) -> ConfigError:
    """The store cannot be opened: say which and why, in one line."""
    path = sqlite_file(engine.url)
    if path is not None and path.exists() and not path.is_file():
        return ConfigError(f"the store must be a file, and {path} is a folder or a device: name a file")
    if path is not None and not path.is_file():
        return ConfigError(f"no clarion store at {path}: create it with `clarion db upgrade`")
    if isinstance(exc, LookupError):  # reachable, but nothing of clarion's in it
        return ConfigError(f"no clarion store at {describe(engine.url)}: create it with `clarion db upgrade`")
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return ConfigError(f"cannot open the store at {describe(engine.url)}: {reason[0] if reason else exc}")


def migrate(engine: sa.Engine | None = None, *, revision: str = "head") -> None:
    """Create the store when it does not exist and bring it to ``revision`` (the newest by default).

    One migration at a time: in this process (Alembic is not thread-safe) and, on PostgreSQL, across
    processes (an advisory lock held for the migration's transaction).
    """
    engine = engine if engine is not None else get_engine()
    path = sqlite_file(engine.url)
    with _migrating:
        if path is not None:
            _create_sqlite_file(path)
        try:
            with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                command.upgrade(alembic_config(connection), revision)
        except sa.exc.OperationalError as exc:
            raise unavailable(engine, exc) from None
        _current.discard(engine.url.render_as_string(hide_password=False))


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest migration this clarion ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: sa.Engine | None = None) -> str | None:
    """The store's migration revision, or None when it was never migrated (or does not exist)."""
    engine = engine if engine is not None else get_engine()
    path = sqlite_file(engine.url)
    if path is not None and not path.is_file():
        return None
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def exists(engine: sa.Engine | None = None) -> bool:
    """Whether a store is there at all (a SQLite file, or migrated tables); never creates one.
    :class:`ConfigError` when it cannot be asked (an unreachable server)."""
    engine = engine if engine is not None else get_engine()
    try:
        return current_revision(engine) is not None
    except sa.exc.DBAPIError as exc:
        raise unavailable(engine, exc) from None


def require_current(engine: sa.Engine | None = None) -> sa.Engine:
    """``engine`` when its store exists and is at the newest migration; else :class:`ConfigError`
    saying what to do. Never creates, migrates or writes; remembered per process once true."""
    engine = engine if engine is not None else get_engine()
    key = engine.url.render_as_string(hide_password=False)
    if key in _current:
        return engine
    try:
        found = current_revision(engine)
    except sa.exc.DBAPIError as exc:
        raise unavailable(engine, exc) from None
    head = head_revision()
    if found is None:
        raise unavailable(engine, LookupError("it was never migrated"))
    if found != head:
        raise ConfigError(
            f"the store at {describe(engine.url)} is at revision {found}, this clarion needs {head}: "
            "run `clarion db upgrade`"
        )
    _current.add(key)
    return engine


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
