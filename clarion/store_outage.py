"""Riding out a store that goes away for a while: a PostgreSQL restart, a failover, a network cut.

A long-running process (``clarion outbox work``) should not die because the database restarted
under it: :func:`patiently` runs an action again, after a pause that doubles up to
:data:`MAX_PAUSE`, each time it failed because the store could not be reached, for as long as the
store stays unreachable up to ``patience`` seconds; any other error is raised at once, and so is the
last one once patience runs out. The action must be safe to run again from the start (the delivery
worker is: a new run with the same name takes its own claims back, in doubt).

What counts as "unreachable" (:func:`lost_store`): on PostgreSQL, an ``OperationalError`` or
``InterfaceError`` (the server shut down, refused the connection, or the connection broke), a
connection SQLAlchemy marked invalidated, or :func:`clarion.store.migrate`'s
:class:`~clarion.errors.ConfigError` when one of those caused it. SQLite is a file, not a server:
its ``OperationalError`` means a wrong statement or schema and is never waited out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from clarion.errors import ConfigError

T = TypeVar("T")

FIRST_PAUSE = 0.5
MAX_PAUSE = 10.0
FRESH_AFTER = 30.0
"""An action that ran this long before the store went away starts its patience afresh."""


def lost_store(engine: sa.Engine, exc: BaseException) -> bool:
    """Whether ``exc`` says the store could not be reached, rather than that something was wrong."""
    if engine.dialect.name == "sqlite":
        return False
    if isinstance(exc, ConfigError):
        cause = exc.__cause__ or exc.__context__
        return cause is not None and lost_store(engine, cause)
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError)


def patiently(
    engine: sa.Engine,
    action: Callable[[], T],
    *,
    patience: float,
    on_wait: Callable[[BaseException, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """``action()``, run again while the store is unreachable (see the module docstring).

    ``on_wait(error, seconds)`` is told of every pause before it is taken. The engine's pooled
    connections are dropped at each pause: they lead to a server that is gone.
    """
    unreachable_since: float | None = None
    pause = FIRST_PAUSE
    while True:
        started = clock()
        try:
            return action()
        except (sa.exc.SQLAlchemyError, ConfigError) as exc:
            if not lost_store(engine, exc):
                raise
            now = clock()
            if now - started >= FRESH_AFTER:  # it worked for a while: a new outage
                unreachable_since, pause = None, FIRST_PAUSE
            unreachable_since = now if unreachable_since is None else unreachable_since
            if now - unreachable_since >= patience:
                raise
            if on_wait is not None:
                on_wait(exc, pause)
            engine.dispose()
            sleep(pause)
            pause = min(pause * 2, MAX_PAUSE)
