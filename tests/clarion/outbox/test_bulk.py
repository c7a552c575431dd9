"""Bulk inserts: COPY on PostgreSQL, an executemany elsewhere, with the same conflicts and defaults."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from clarion.models import Recipient
from clarion.models.columns import table_of
from clarion.outbox.bulk import insert_rows
from clarion.outbox.fanout import insert_for

_r = table_of(Recipient)
_UPSERT = (
    "ON CONFLICT (external_id) DO UPDATE SET email = EXCLUDED.email, phone_e164 = EXCLUDED.phone_e164,"
    " locale = EXCLUDED.locale, time_zone = EXCLUDED.time_zone"
)


def _upsert(engine: sa.Engine) -> sa.Insert:
    statement = insert_for(engine)(_r)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["external_id"],
        set_={"email": excluded.email, "phone_e164": excluded.phone_e164, "locale": excluded.locale},
    )


def test_rows_are_inserted_and_conflicts_resolved_alike_on_both_stores(engine: sa.Engine) -> None:
    first = [{"external_id": f"c{i}", "email": f"a{i}@example.com", "phone_e164": None} for i in range(3)]
    again = [{"external_id": "c1", "email": "new@example.com", "phone_e164": "+4915112345678"}]
    with engine.begin() as connection:
        insert_rows(connection, _upsert(engine), first, conflict=_UPSERT)
        insert_rows(connection, _upsert(engine), again, conflict=_UPSERT)  # twice in one transaction
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
            _upsert(engine),
            [{"external_id": "c9", 'email"; DROP TABLE recipient; --': "x"}],
            conflict=_UPSERT,
        )
