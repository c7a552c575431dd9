"""Four workers on PostgreSQL, killed at random, through faults, 429s, a provider outage and a
PostgreSQL restart, lose nothing, never text or post twice, send an email twice only where the
ledger counted a blind resend of it, keep to the provider's rate, and never crash.

The harness is ``bench/chaos.py``'s (:func:`bench.chaos.run_chaos`), run small: 3 000 recipients,
400 of them with a phone, 6 SIGKILLs, 20 % faults, a 4 s outage, one restart of the local cluster
(``pg_ctlcluster``; the test is skipped where there is none to restart). The sandbox counts what
arrived, independently of the ledger. The full run is ``.venv/bin/python bench/chaos.py``.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest
import sqlalchemy as sa

from tests.clarion.conftest import DEFAULT_PG_URL
from tests.helpers import ROOT

pytestmark = pytest.mark.postgres


@pytest.fixture
def chaos(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``bench/chaos.py`` (bench/ holds scripts, not an installed package: its root goes on the path)."""
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module("bench.chaos")


@pytest.fixture
def server(chaos: ModuleType) -> str:
    """The PostgreSQL server of the tests, which this test may restart; skips where it cannot."""
    url = os.environ.get("CLARION_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3}, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as exc:
        message = f"PostgreSQL at {sa.make_url(url).render_as_string()} is unreachable: {exc.orig}"
        if os.environ.get("CLARION_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    finally:
        engine.dispose()
    if chaos.restart_postgres_command(url) is None:
        pytest.skip("no local PostgreSQL cluster to restart (pg_ctlcluster and /etc/postgresql)")
    return url


def test_workers_through_kills_faults_an_outage_and_a_database_restart_lose_and_double_nothing(
    chaos: ModuleType, server: str
) -> None:
    plan = chaos.ChaosPlan(
        recipients=3000,
        phones=400,
        kills=6,
        outage_seconds=4,
        fault_rate=0.2,
        database=server,
        backoff_cap=4.0,
        restart_database=chaos.restart_postgres_command(server),
    )
    lines: list[str] = []

    verdict = chaos.run_chaos(plan, say=lines.append)

    report = "\n".join([*lines[-20:], *verdict.report(), verdict.summary()])
    assert verdict.kills == plan.kills, report
    assert not verdict.crashes, report  # a worker rides out the restart
    assert any("PostgreSQL restarted" in line for line in lines), report
    assert (verdict.expected["email"], verdict.expected["sms"]) == (3000, 400)
    assert verdict.lost == 0, report
    assert verdict.accepted == verdict.total, report
    assert verdict.ledger == {"accepted": sum(verdict.ledger.values())}, report
    assert verdict.duplicates["sms"] == verdict.duplicates["mastodon"] == verdict.duplicates["bluesky"] == 0
    assert verdict.email_over == {}, report  # no delivery has more copies than blind resends counted
    assert verdict.duplicates["email"] <= verdict.blind_resends, report
    assert verdict.stats["faults"].get("429", 0) > 0, report  # 429s were injected, and ridden out
    # counted by the sandbox's own sliding one-second window, lookups included (issue 17)
    assert verdict.over_limit() == verdict.lookups_over_limit() == {}, report
    assert verdict.limiter_429s == 0, report
    assert verdict.held, report
