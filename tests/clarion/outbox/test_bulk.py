"""Bulk inserts: COPY on PostgreSQL, an executemany elsewhere, with the same conflicts and defaults."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery, Recipient
from clarion.models.columns import table_of
from clarion.outbox.bulk import among, insert_rows
from clarion.updates.publish import Staged

_r, _d = table_of(Recipient), table_of(Delivery)
_UPSERT = (
    "ON CONFLICT (external_id) DO UPDATE SET email = EXCLUDED.email, phone_e164 = EXCLUDED.phone_e164,"
    " locale = EXCLUDED.locale, time_zone = EXCLUDED.time_zone"
)


def test_rows_are_inserted_and_conflicts_resolved_alike_on_both_stores(engine: sa.Engine) -> None:
    first = [{"external_id": f"c{i}", "email": f"a{i}@example.com", "phone_e164": None} for i in range(3)]
    again = [{"external_id": "c1", "email": "new@example.com", "phone_e164": "+4915112345678"}]
    with engine.begin() as connection:
        insert_rows(connection, _r, first, conflict=_UPSERT)
        insert_rows(connection, _r, again, conflict=_UPSERT)  # twice in one transaction
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(_r.c.external_id, _r.c.email, _r.c.phone_e164, _r.c.locale).order_by(_r.c.external_id)
        ).all()
    assert rows == [
        ("c0", "a0@example.com", None, "en"),  # the model's default, which COPY does not apply itself
        ("c1", "new@example.com", "+4915112345678", "en"),
        ("c2", "a2@example.com", None, "en"),
    ]


def test_a_column_the_table_lacks_is_refused_before_any_sql(engine: sa.Engine) -> None:
    with engine.begin() as connection, pytest.raises(ValueError, match="no column"):
        insert_rows(
            connection,
            _r,
            [{"external_id": "c9", 'email"; DROP TABLE recipient; --': "x"}],
            conflict=_UPSERT,
        )


def test_rows_are_stored_exactly_as_sqlalchemy_would_store_them(
    engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    """The SQLite path binds its values itself (each column type's processor): every stored value,
    in its raw form, is what SQLAlchemy's own insert of the same row stores."""
    staged = stage(engine, 1)
    with engine.connect() as connection:
        rendition_id, recipient_id = connection.execute(
            sa.select(_d.c.rendition_id, _d.c.recipient_id).where(_d.c.recipient_id.is_not(None)).limit(1)
        ).one()
    when = datetime(2026, 12, 7, 9, 30, 15, 123456, tzinfo=UTC)
    row: dict[str, object] = {
        "update_id": staged.update_id,
        "rendition_id": rendition_id,
        "recipient_id": recipient_id,
        "channel": Channel.SMS,
        "audience": "affected-customers",
        "state": DeliveryState.SUPPRESSED,
        "in_doubt": True,
        "error_detail": "withdrawn ✓ «quoted»",
        "held_until": when,
        "next_attempt_at": when,
        "created_at": when,
    }
    with engine.begin() as connection:
        insert_rows(connection, _d, [row | {"idempotency_key": "bulk-1"}], conflict="ON CONFLICT DO NOTHING")
        connection.execute(sa.insert(_d), [row | {"idempotency_key": "bulk-2"}])
        stored = connection.exec_driver_sql(
            "SELECT * FROM delivery WHERE idempotency_key IN ('bulk-1', 'bulk-2') ORDER BY idempotency_key"
        ).all()
    ours, theirs = (
        {k: v for k, v in r._mapping.items() if k not in ("id", "idempotency_key")} for r in stored
    )
    updated = "updated_at"  # stamped by each insert with the time it ran
    assert ours.pop(updated) is not None and theirs.pop(updated) is not None
    assert ours == theirs
    assert ours["state"] == theirs["state"] and ours["in_doubt"] in (True, 1)


def test_rows_of_one_column_are_written_too(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        insert_rows(connection, _r, [{"external_id": "solo"}, {"external_id": "duo"}], conflict="")
    with engine.connect() as connection:
        found = connection.execute(sa.select(_r.c.external_id, _r.c.locale).order_by(_r.c.id)).all()
    assert found == [("solo", "en"), ("duo", "en")]


@pytest.mark.parametrize("wanted", [["c1", "c3", "nobody"], [], ["c0"] * 3])
def test_rows_are_found_among_keys_alike_on_both_stores(engine: sa.Engine, wanted: list[str]) -> None:
    rows = [{"external_id": f"c{i}", "email": f"a{i}@example.com", "phone_e164": None} for i in range(5)]
    with engine.begin() as connection:
        insert_rows(connection, _r, rows, conflict=_UPSERT)
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(_r.c.external_id).where(among(connection, _r.c.external_id, wanted)).order_by(_r.c.id)
        ).scalars()
        ids = connection.execute(sa.select(_r.c.id).where(_r.c.external_id.in_(wanted))).scalars().all()
        by_id = connection.execute(
            sa.select(_r.c.external_id).where(among(connection, _r.c.id, ids))
        ).scalars()
        assert list(found) == sorted(set(wanted) - {"nobody"}, key=lambda key: int(key[1:]))
        assert sorted(by_id) == sorted(set(wanted) - {"nobody"})


def test_among_is_one_parameter_on_postgresql_whatever_the_number_of_keys(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        texts = {
            str(
                sa.select(_r.c.id)
                .where(among(connection, _r.c.external_id, [f"c{i}" for i in range(n)]))
                .compile(dialect=connection.dialect)
            )
            for n in (1, 2_000)
        }
    [text] = texts  # the same statement for one key and for a chunk's 2 000
    if engine.dialect.name == "postgresql":
        assert "= ANY (" in text  # and it stays so when executed: one array parameter
    else:
        assert " IN (__[POSTCOMPILE" in text  # SQLite's IN list, expanded when executed
