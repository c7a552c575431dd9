"""What the web app's tests share: a migrated store of the test's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from clarion import store


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """A migrated SQLite file store in the test's folder."""
    engine = store.make_engine(f"sqlite:///{tmp_path}/store/clarion.db")
    store.migrate(engine)
    yield engine
    engine.dispose()
