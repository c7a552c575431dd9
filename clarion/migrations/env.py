"""Alembic environment for the clarion store.

Run through :func:`clarion.store.migrate`, which passes an open connection in
``config.attributes["connection"]``; without one (the ``alembic`` command line with a config that
points ``script_location`` here) the engine comes from clarion's settings.

A new revision, after changing :mod:`clarion.models`::

    python -c "from clarion import store; import alembic.command as c; \
c.revision(store.alembic_config(), autogenerate=True, message='what changed')"

Read the result before committing it: autogenerate renders clarion's column types as the plain
SQLAlchemy types stored (see :func:`render_item`), but it cannot see triggers, data moves or renames.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from clarion.models import UTCDateTime
from clarion.models.columns import (  # importing clarion.models registers every table
    ENUM_LENGTH,
    ChannelColumn,
)

target_metadata = SQLModel.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render clarion's column types as what the database stores, so revisions do not import models."""
    if type_ != "type":
        return False
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, ChannelColumn):
        return f"sa.String(length={ENUM_LENGTH})"
    if isinstance(obj, sa.Enum) and not obj.native_enum:
        return f"sa.String(length={obj.length})"
    if isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=render_item,
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """Emit SQL to standard output instead of running it (``alembic upgrade --sql``)."""
    from clarion.settings import get_settings

    _configure(
        url=get_settings().effective_database_url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},  # or "%" in the trigger function would come out as "%%"
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: sa.Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    from clarion.store import make_engine

    engine = make_engine(poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            _run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
