"""Store fixtures: SQLite (a file, or in memory) and a fresh PostgreSQL schema per test.

PostgreSQL comes from ``CLARION_TEST_POSTGRES_URL``. When it is unreachable the PostgreSQL tests are
skipped, unless ``CLARION_REQUIRE_POSTGRES=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from clarion import store
from clarion.facts import Facts, load_facts
from clarion.kinds import IncidentStatus
from clarion.models import IncidentCreate, UpdateCreate
from clarion.playbook import Playbook, load_playbook
from clarion.settings import Settings
from tests.helpers import EXAMPLES, PLAYBOOKS, TEMPLATES

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
AWARE_AT = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_engine_cache() -> Iterator[None]:
    """``get_engine()`` follows each test's own settings (its own CLARION_HOME)."""
    store.get_engine.cache_clear()
    yield
    if store.get_engine.cache_info().currsize:
        store.get_engine().dispose()
    store.get_engine.cache_clear()


# ── SQLite ────────────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def sqlite_bare_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """A SQLite file store that was never migrated (its folder does not exist yet)."""
    engine = store.make_engine(f"sqlite:///{tmp_path}/store/clarion.db")
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_bare_engine: sa.Engine) -> sa.Engine:
    """A migrated SQLite file store (WAL, foreign keys, BEGIN IMMEDIATE: as in production)."""
    store.migrate(sqlite_bare_engine)
    return sqlite_bare_engine


@pytest.fixture
def memory_engine() -> Iterator[sa.Engine]:
    """A migrated in-memory SQLite store on one shared connection: fast unit tests."""
    engine = store.make_engine("sqlite://", poolclass=StaticPool)
    store.migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(memory_engine: sa.Engine) -> Iterator[Session]:
    with Session(memory_engine, expire_on_commit=False) as session:
        yield session


# ── PostgreSQL ────────────────────────────────────────────────────────────────────────────────────


def _postgres_url() -> str:
    return os.environ.get("CLARION_TEST_POSTGRES_URL", DEFAULT_PG_URL)


@pytest.fixture
def pg_bare_engine() -> Iterator[sa.Engine]:
    """An engine whose ``search_path`` is a new, empty schema, dropped after the test."""
    url = _postgres_url()
    admin = store.make_engine(url, connect_args={"connect_timeout": 3}, poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL at {sa.make_url(url).render_as_string()} is unreachable: {exc.orig}"
        if os.environ.get("CLARION_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    schema = f"clarion_test_{secrets.token_hex(6)}"
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = store.make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def pg_engine(pg_bare_engine: sa.Engine) -> sa.Engine:
    store.migrate(pg_bare_engine)
    return pg_bare_engine


# ── both ──────────────────────────────────────────────────────────────────────────────────────────


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> sa.Engine:
    """A migrated store, once on a SQLite file and once on PostgreSQL."""
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    migrated: sa.Engine = request.getfixturevalue(name)
    return migrated


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bare_engine(request: pytest.FixtureRequest) -> sa.Engine:
    """An empty store, once on a SQLite file and once on PostgreSQL."""
    name = "sqlite_bare_engine" if request.param == "sqlite" else "pg_bare_engine"
    empty: sa.Engine = request.getfixturevalue(name)
    return empty


def drop_audit_triggers(engine: sa.Engine) -> None:
    """What someone with database access could do: remove the append-only protection."""
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER audit_event_no_update")
            connection.exec_driver_sql("DROP TRIGGER audit_event_no_delete")
        else:
            connection.exec_driver_sql("DROP TRIGGER audit_event_append_only ON audit_event")


@pytest.fixture
def without_audit_triggers() -> Callable[[sa.Engine], None]:
    return drop_audit_triggers


# ── example content ───────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def breach() -> Playbook:
    """The shipped data-breach playbook."""
    return load_playbook(PLAYBOOKS / "data-breach.yaml")


@pytest.fixture
def facts(breach: Playbook) -> Facts:
    """The example facts of the data-breach playbook."""
    return load_facts(EXAMPLES / "data-breach.yaml", breach)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with the shipped playbooks and templates and a home of the test's own."""
    return Settings(home=tmp_path / "home", templates_dir=TEMPLATES, playbooks_dir=PLAYBOOKS)


@pytest.fixture
def incident_in() -> IncidentCreate:
    return IncidentCreate(playbook="outage", severity="sev1", title="Checkout is failing", aware_at=AWARE_AT)


@pytest.fixture
def update_in() -> UpdateCreate:
    return UpdateCreate(
        status=IncidentStatus.INVESTIGATING,
        apology={
            "en": {"text": "Checkout failed for some of you. We are sorry.", "short": "Checkout failed."}
        },
        facts={"impact": {"components": ["checkout"]}, "contact": "support@example.com"},
        next_update_by=AWARE_AT + timedelta(hours=1),
    )
