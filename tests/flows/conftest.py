"""Flow tests: one Prefect test server per session, a provider sandbox and a seeded store per test.

``prefect_test_harness`` starts a temporary Prefect server (about 15–25 s here, so once per session,
with a generous timeout for a loaded CI machine). The deployments are registered on it once, so
``run_deployment`` (the cadence timers) and the REST API see them as they would under
``clarion serve``; nothing serves them, so a scheduled timer only runs when a test calls it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import FlowRun
from prefect.flow_runs import resume_flow_run
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.testing.utilities import prefect_test_harness

from channels.sandbox.runner import SandboxHandle, running_sandbox
from clarion import store
from clarion.audiences.audience import copy_csv_to_table
from clarion.settings import get_settings
from tests.helpers import ROOT

AUDIENCE_CSV = ROOT / "examples" / "audiences" / "affected-customers.csv"
STARTUP_TIMEOUT = 240


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with (
        prefect_test_harness(server_startup_timeout=STARTUP_TIMEOUT),
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),  # 1 s less per run
    ):
        from flows.deployments import runner_deployments

        for deployment in runner_deployments():
            deployment.apply()
        yield


@pytest.fixture
def sandbox(prefect_server: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxHandle]:
    """A provider sandbox the flows send to, and a store whose affected_customers table is seeded."""
    with running_sandbox() as handle:
        monkeypatch.setenv("CLARION_SANDBOX_URL", handle.url)
        get_settings.cache_clear()
        store.get_engine.cache_clear()
        engine = store.get_engine()
        store.migrate(engine)
        copy_csv_to_table(engine, AUDIENCE_CSV, "affected_customers")
        yield handle
        store.get_engine().dispose()
        store.get_engine.cache_clear()


def paused_runs() -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        return list(
            client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=["PAUSED"]))
                )
            )
        )


@dataclass
class Running:
    """A flow called in a background thread, as a served run would be."""

    thread: threading.Thread
    result: dict[str, Any] = field(default_factory=dict)
    error: list[BaseException] = field(default_factory=list)

    def wait_paused(self, timeout: float = 60) -> FlowRun:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = paused_runs()
            if runs:
                return runs[0]
            if not self.thread.is_alive():
                raise AssertionError(f"the flow ended without pausing: {self.result or self.error}")
            time.sleep(0.3)
        raise AssertionError("the flow did not pause")

    def answer(self, run: FlowRun, **run_input: Any) -> None:
        """Resume ``run`` and wait until it has left the PAUSED state it was in."""
        resume_flow_run(run.id, run_input=run_input)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(
                r.id != run.id or r.state_details.pause_key != run.state_details.pause_key
                for r in paused_runs()
            ):
                return
            time.sleep(0.2)
        raise AssertionError("the run did not resume")

    def join(self, timeout: float = 120) -> dict[str, Any]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the flow did not finish"
        if self.error:
            raise self.error[0]
        return self.result


def start(call: Callable[[], dict[str, Any]]) -> Running:
    running = Running(threading.Thread(target=lambda: None))

    def target() -> None:
        try:
            running.result.update(call())
        except BaseException as exc:
            running.error.append(exc)

    running.thread = threading.Thread(target=target, daemon=True)
    running.thread.start()
    return running


def facts_file(name: str) -> Path:
    return ROOT / "examples" / "facts" / f"{name}.yaml"
