"""Rate limits of the subscribe form, in the store so that every process of the web app counts together.

A limit allows ``most`` requests per sliding ``window`` for one key (a keyed digest of a client's IP
address, or of an address asked for). :func:`admit` checks every limit a request is under first and
counts the request in all of them only when none is full: a refused request stores nothing, so a
flood neither grows the table nor locks its victim out for longer. Old hits are deleted as new ones
come (the table holds at most a day of them).

Two web processes checking the same key at the same moment must not both see room for one more. On
SQLite every write transaction holds the database's one write lock from its first statement (see
:mod:`clarion.store`), so checks are already one at a time; on PostgreSQL each key's check takes a
transaction-scoped advisory lock first.

The limits: a client may ask :data:`CLIENT` (10 requests in 10 minutes, and :data:`CLIENT_DAY` 50 a
day); an address may be asked for :data:`ADDRESS` (3 times an hour, and :data:`ADDRESS_DAY` 6 a day),
whoever asks: that is what stops someone from flooding a stranger's inbox or phone (subscription
bombing) from many clients.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from clarion.models import RateHit
from clarion.models.columns import table_of
from clarion.subscriptions.refusals import Reason, Refused

_hits = table_of(RateHit)


@dataclass(frozen=True)
class Limit:
    bucket: str
    most: int
    window: timedelta


CLIENT = Limit("subscribe-client", 10, timedelta(minutes=10))
CLIENT_DAY = Limit("subscribe-client-day", 50, timedelta(days=1))
ADDRESS = Limit("subscribe-address", 3, timedelta(hours=1))
ADDRESS_DAY = Limit("subscribe-address-day", 6, timedelta(days=1))
CLIENT_LIMITS = (CLIENT, CLIENT_DAY)
ADDRESS_LIMITS = (ADDRESS, ADDRESS_DAY)
KEPT = timedelta(days=1)
"""The longest window: older hits count for nothing and are deleted."""


def _lock_id(bucket: str, key: str) -> int:
    digest = hashlib.blake2b(f"{bucket}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def admit(*, session: Session, limits: Sequence[tuple[Limit, str]], now: datetime) -> None:
    """Count a request under every ``(limit, key)``, or raise :class:`Refused` (too many) counting
    nothing when one of them is full. Runs in the caller's transaction."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        for lock in sorted({_lock_id(limit.bucket, key) for limit, key in limits}):  # one order: no deadlock
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
    connection.execute(_hits.delete().where(_hits.c.at < now - KEPT))
    for limit, key in limits:
        since = now - limit.window
        found = connection.execute(
            sa.select(sa.func.count(), sa.func.min(_hits.c.at)).where(
                _hits.c.bucket == limit.bucket, _hits.c.key == key, _hits.c.at > since
            )
        ).one()
        if found[0] >= limit.most:
            oldest: datetime = found[1]
            wait = max(1, int((oldest + limit.window - now).total_seconds()) + 1)
            raise Refused(
                Reason.TOO_MANY, f"{limit.bucket}: {limit.most} requests a window", retry_after=wait
            )
    connection.execute(
        _hits.insert(), [{"bucket": limit.bucket, "key": key, "at": now} for limit, key in limits]
    )
