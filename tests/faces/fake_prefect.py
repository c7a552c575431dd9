"""A Prefect server for the CLI's tests, as an ``httpx`` transport: it answers as the real server does
(paths and bodies checked against its schemas in ``test_prefect_api.py``) and records every request."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

RUN_ID = "5f0e7c2a-8a43-4d0e-bf3e-3c1b2f9d7a10"
CHILD_ID = "9a1d3e55-0c4f-4a7e-8f0b-7d2c6b1e4f22"


def run_json(
    name: str, state: str, state_name: str, *, id: str = RUN_ID, message: str | None = None
) -> dict[str, Any]:
    return {
        "id": id,
        "name": name,
        "state_type": state,
        "state_name": state_name,
        "state": {"type": state, "name": state_name, "message": message, "state_details": {}},
        "expected_start_time": "2026-11-23T10:50:00Z",
    }


class FakePrefect:
    """A Prefect server with every clarion deployment registered; runs move through ``states``."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.states: list[dict[str, Any]] = [run_json("x", "COMPLETED", "Completed")]
        self.reads = 0
        self.paused: list[dict[str, Any]] = []
        self.paused_asked, self.pause_after = 0, 0
        self.children: list[dict[str, Any]] = []
        self.scheduled: list[dict[str, Any]] = []
        self.resume_answer: dict[str, Any] = {"status": "ACCEPT", "details": {}}
        self.on_pause: Callable[[], None] = lambda: None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/api")
        body = json.loads(request.content) if request.content else {}
        if path.startswith("/deployments/name/"):
            flow = path.split("/")[3]
            return httpx.Response(200, json={"id": f"deployment-{flow}"})
        if path.endswith("/create_flow_run"):
            return httpx.Response(201, json=run_json(body["name"], "SCHEDULED", "Scheduled"))
        if path == f"/flow_runs/{RUN_ID}":
            state = self.states[min(self.reads, len(self.states) - 1)]
            self.reads += 1
            return httpx.Response(200, json=state)
        if path == "/flow_runs/filter":
            wanted = body["flow_runs"]
            if "parent_flow_run_id" in wanted:
                children = self.children if self.reads >= len(self.states) else []  # in the last state
                if children:
                    self.on_pause()
                return httpx.Response(200, json=children)
            if "PAUSED" in str(wanted):
                self.paused_asked += 1
                return httpx.Response(200, json=self.paused if self.paused_asked > self.pause_after else [])
            return httpx.Response(200, json=self.scheduled)
        if path.endswith("/resume"):
            return httpx.Response(201, json=self.resume_answer)
        return httpx.Response(404, json={"detail": "Not Found"})

    def created(self) -> list[tuple[str, dict[str, Any]]]:
        """(deployment, body) of every run created."""
        return [
            (r.url.path.split("/")[3], json.loads(r.content))
            for r in self.requests
            if r.url.path.endswith("/create_flow_run")
        ]

    def resumed(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (r.url.path.split("/")[3], json.loads(r.content))
            for r in self.requests
            if r.url.path.endswith("/resume")
        ]
