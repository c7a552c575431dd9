"""The shipped migrations build exactly the schema the models describe, and take it down again."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from clarion import store

MODEL_TABLES = set(SQLModel.metadata.tables)


def _head() -> str | None:
    return ScriptDirectory.from_config(store.alembic_config()).get_current_head()


def _diff(engine: sa.Engine, metadata: sa.MetaData) -> list[object]:
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))


def _downgrade(engine: sa.Engine, revision: str = "base") -> None:
    with engine.begin() as connection:
        command.downgrade(store.alembic_config(connection), revision)


def test_every_table_of_the_product_is_modelled() -> None:
    expected = {
        "incident",
        "incident_update",
        "rendition",
        "approval",
        "recipient",
        "audience_membership",
        "channel_consent",
        "delivery",
        "provider_event",
        "banner",
        "deadline",
        "survey_invite",
        "survey_response",
        "survey",
        "survey_followup",
        "audit_event",
        "notice",
        "subscriber",
        "subscription_confirmation",
        "rate_hit",
        "commitment",
        "provider_rate",
        "provider_request",
        "held_event",
    }
    assert set(SQLModel.metadata.tables) == expected


def test_a_new_store_has_no_revision(bare_engine: sa.Engine) -> None:
    assert store.current_revision(bare_engine) is None


def test_upgrade_head_builds_every_table(bare_engine: sa.Engine) -> None:
    store.migrate(bare_engine)

    assert store.current_revision(bare_engine) == _head() == "0016"
    assert set(sa.inspect(bare_engine).get_table_names()) == MODEL_TABLES | {"alembic_version"}


def test_migrated_schema_matches_the_models_exactly(engine: sa.Engine) -> None:
    assert _diff(engine, SQLModel.metadata) == []


def test_the_comparison_notices_a_schema_that_drifted(engine: sa.Engine) -> None:
    """Guards the test above: an empty diff means something only if drift shows up."""
    drifted = sa.MetaData(naming_convention=SQLModel.metadata.naming_convention)
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["incident"].append_column(sa.Column("severity_rank", sa.Integer()))
    drifted.tables["delivery"].c.error_detail.type = sa.String(200)

    changes = {
        (d[0], d[2], d[3]) if d[0] == "modify_type" else d[0] for d in _flatten(_diff(engine, drifted))
    }

    assert "add_column" in changes
    assert ("modify_type", "delivery", "error_detail") in changes


def _flatten(diff: list[object]) -> list[tuple[object, ...]]:
    flat: list[tuple[object, ...]] = []
    for entry in diff:
        if isinstance(entry, list):  # column modifications come grouped per column
            flat.extend(tuple(item) for item in entry)
        else:
            assert isinstance(entry, tuple)
            flat.append(entry)
    return flat


def test_migrate_twice_is_harmless(engine: sa.Engine) -> None:
    store.migrate(engine)

    assert store.current_revision(engine) == _head()


def test_downgrade_to_base_removes_everything_and_upgrade_rebuilds_it(engine: sa.Engine) -> None:
    _downgrade(engine)

    assert store.current_revision(engine) is None
    assert set(sa.inspect(engine).get_table_names()) == {"alembic_version"}

    store.migrate(engine)  # would fail if the downgrade had left a trigger or function behind
    assert _diff(engine, SQLModel.metadata) == []


@pytest.mark.postgres
def test_downgrade_leaves_no_trigger_function_on_postgresql(pg_engine: sa.Engine) -> None:
    _downgrade(pg_engine)

    with pg_engine.connect() as connection:
        functions = connection.exec_driver_sql(
            "SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace"
        ).all()
    assert functions == []


def test_migrate_with_default_settings_creates_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clarion.settings import get_settings

    home = tmp_path / "not" / "there" / "yet"
    monkeypatch.setenv("CLARION_HOME", str(home))
    get_settings.cache_clear()

    store.migrate()

    assert (home / "clarion.db").is_file()
    assert store.current_revision() == _head()


def test_offline_sql_for_postgresql_keeps_the_trigger_function_intact(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``alembic upgrade --sql``: the script a DBA reviews and applies by hand."""
    from clarion.settings import get_settings

    monkeypatch.setenv("CLARION_DATABASE_URL", "postgresql+psycopg://dba@db.invalid/clarion")
    get_settings.cache_clear()

    command.upgrade(store.alembic_config(), "head", sql=True)

    script = capsys.readouterr().out
    assert "RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP" in script
    assert "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event" in script
    assert "CREATE TABLE incident_update" in script
