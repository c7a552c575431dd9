"""Several worker processes on PostgreSQL share the outbox without sending any row twice."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from clarion.kinds import DeliveryState
from clarion.outbox.counts import state_counts
from clarion.updates.publish import Staged
from tests.helpers import ROOT

pytestmark = pytest.mark.postgres


def test_four_workers_claim_100_000_deliveries_without_sending_one_twice(
    pg_engine: sa.Engine, stage: Callable[..., Staged], tmp_path: Path
) -> None:
    staged = stage(pg_engine, 50_000)
    assert staged.audiences["affected-customers"].planned == 100_000
    url = pg_engine.url.render_as_string(hide_password=False)
    schema = pg_engine.dialect.default_schema_name
    logs = [tmp_path / f"w{n}.log" for n in range(4)]
    env = {"PGOPTIONS": f"-c search_path={schema}", "PATH": "/usr/bin:/bin"}

    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.clarion.outbox.fake_worker", url, f"w{n}", str(log)],
            cwd=ROOT,
            env=env,
        )
        for n, log in enumerate(logs)
    ]
    assert [w.wait(timeout=600) for w in workers] == [0, 0, 0, 0]

    sent = Counter(int(line) for log in logs for line in log.read_text().split())
    assert len(sent) == 100_000 and max(sent.values()) == 1
    per_worker = [len(log.read_text().split()) for log in logs]
    assert all(n > 0 for n in per_worker), per_worker  # the work was shared, not done by one
    counts = state_counts(pg_engine, update_id=staged.update_id)
    assert sum(n for (_, state), n in counts.items() if state is DeliveryState.ACCEPTED) == 100_000
