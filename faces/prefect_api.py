"""A small client for the Prefect server's REST API: what the CLI needs, without ``import prefect``.

``import prefect`` costs about 4 s; these few calls need only httpx. Endpoints and payloads follow
the server's own routes (``prefect/server/api/deployments.py`` and ``flow_runs.py``, Prefect 3.9)::

    GET  /deployments/name/{flow}/{deployment}     the deployment's id (404: not registered)
    POST /deployments/{id}/create_flow_run         a new run (409: the parameters do not fit the schema)
    GET  /flow_runs/{id}                           one run and its state
    POST /flow_runs/filter                         runs by name, state, flow and parent run
    POST /flow_runs/{id}/resume                    answer a pause; 200/201 even when refused: read ``status``

Errors (all :class:`PrefectApiError`, a :class:`~clarion.errors.ClarionError`)::

    PrefectApiError             the server answered something unexpected (HTTP status and detail)
    ├── PrefectUnreachable      connection refused or timed out: is `clarion serve` running?
    ├── DeploymentMissing       the deployment is not registered
    └── Refused                 the server refused what we sent (parameters, run input): bad input
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from clarion.errors import ClarionError
from clarion.settings import Settings, get_settings

DEFAULT_TIMEOUT = 10.0
QUICK_TIMEOUT = 2.0
"""For answers that are nice to have (``clarion status``): no longer than this, and no retries."""
HINT = "is `clarion serve` running?"
RETRY_STATUSES = frozenset({429, 502, 503})
"""Answers worth another try, as Prefect's own client retries them: a SQLite server answers 503 while
its database is locked, and nothing was changed."""
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
"""Half a minute in all, as Prefect's own client waits out a backlogged server (its SQLite database
locked by a burst of task runs answers 503 for tens of seconds on a busy 2-core machine; the demo
once failed after three seconds of retries)."""
SCHEMA_WAITS = (0.1, 0.2, 0.4, 0.8, 1.6, 2.0)
"""Seconds between answers refused because the paused run has not saved its input schema yet."""
SCHEMA_NOT_SAVED = "Run input schema not found."
MAX_RETRY_AFTER = 10.0


class PrefectApiError(ClarionError):
    """The Prefect server answered something unexpected; carries the HTTP status when there was one."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


class PrefectUnreachable(PrefectApiError):
    """No answer: connection refused, or no answer in time."""


class DeploymentMissing(PrefectApiError):
    """The named deployment is not registered on the server."""


class Refused(PrefectApiError):
    """The server refused what we sent: parameters that fail the schema, run input a pause rejects."""

    input_refused = True  # the CLI exits 2, as for any input that would not be sent


def api_url(settings: Settings) -> str:
    """``PREFECT_API_URL`` when set (as Prefect itself reads it), else the clarion setting."""
    return (os.environ.get("PREFECT_API_URL") or settings.prefect_api_url).rstrip("/")


def ui_url(api: str) -> str:
    """The UI's address: the API's without its ``/api`` suffix."""
    return api.rstrip("/").removesuffix("/api")


def run_url(ui: str, run_id: str) -> str:
    return f"{ui.rstrip('/')}/runs/flow-run/{run_id}"


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What the CLI shows of one flow run."""

    id: str
    name: str
    state_type: str | None
    """``SCHEDULED``, ``PENDING``, ``RUNNING``, ``PAUSED``, ``COMPLETED``, ``FAILED``, ``CRASHED``…"""
    state_name: str | None
    """What the UI shows: "Late", "Suspended", "Resuming"…"""
    state_message: str | None = None
    state_details: Mapping[str, Any] = field(default_factory=dict)
    expected_start_time: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunInfo:
        state = data.get("state") or {}
        start = data.get("expected_start_time")
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or ""),
            state_type=state.get("type") or data.get("state_type"),
            state_name=state.get("name") or data.get("state_name"),
            state_message=state.get("message"),
            state_details=state.get("state_details") or {},
            expected_start_time=datetime.fromisoformat(start) if start else None,
        )


def make_transport() -> httpx.BaseTransport:
    """The transport of every client (tests swap in an ``httpx.MockTransport``)."""
    return httpx.HTTPTransport(retries=1)


def connect(*, quick: bool = False) -> PrefectApi:
    """A client for the configured server (:func:`api_url`); ``quick``: see :data:`QUICK_TIMEOUT`."""
    if quick:
        return PrefectApi(api_url(get_settings()), timeout=QUICK_TIMEOUT, retry_delays=())
    return PrefectApi(api_url(get_settings()))


class PrefectApi:
    """The calls clarion makes to a running Prefect server."""

    def __init__(
        self,
        api: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        client: httpx.Client | None = None,
        retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        self.api = api.rstrip("/")
        self.timeout = timeout
        self.retry_delays = tuple(retry_delays)
        self._client = client or httpx.Client(
            base_url=self.api, timeout=timeout, transport=transport or make_transport()
        )

    def __repr__(self) -> str:
        return f"PrefectApi({self.api!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PrefectApi:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def ui(self) -> str:
        return ui_url(self.api)

    # ── deployments ───────────────────────────────────────────────────────────────────────────────

    def deployment_id(self, full_name: str) -> str:
        """The id of deployment ``flow/deployment``; :class:`DeploymentMissing` when not registered."""
        flow, _, deployment = full_name.partition("/")
        path = f"/deployments/name/{quote(flow, safe='')}/{quote(deployment, safe='')}"
        response = self._request("GET", path)
        if response.status_code == httpx.codes.NOT_FOUND:
            raise DeploymentMissing(f"deployment {full_name} is not registered: {HINT}", status_code=404)
        return str(self._json(response)["id"])

    def create_run(
        self,
        full_name: str,
        parameters: Mapping[str, Any],
        *,
        name: str | None = None,
        tags: Iterable[str] = (),
    ) -> RunInfo:
        """A new run of deployment ``flow/deployment``, scheduled now.

        The server checks ``parameters`` against the deployment's schema: :class:`Refused` with the
        server's reason when they do not fit (HTTP 409).
        """
        body: dict[str, Any] = {"parameters": dict(parameters), "tags": list(tags)}
        if name is not None:
            body["name"] = name
        path = f"/deployments/{self.deployment_id(full_name)}/create_flow_run"
        response = self._request("POST", path, json=body)
        if response.status_code == httpx.codes.CONFLICT:
            detail = _detail(response).removeprefix("Error creating flow run: ")
            raise Refused(f"the server refused the parameters: {detail}", status_code=409)
        if response.status_code == httpx.codes.NOT_FOUND:
            raise DeploymentMissing(f"deployment {full_name} is not registered: {HINT}", status_code=404)
        return RunInfo.from_json(self._json(response))

    # ── flow runs ─────────────────────────────────────────────────────────────────────────────────

    def read_run(self, run_id: str) -> RunInfo:
        return RunInfo.from_json(self._json(self._request("GET", f"/flow_runs/{run_id}")))

    def paused_runs(self, reference: str) -> list[RunInfo]:
        """Paused runs of the incident ``reference`` (run names start ``INC-0042 ``), newest first."""
        body = {
            "flow_runs": {"name": {"like_": reference}, "state": {"type": {"any_": ["PAUSED"]}}},
            "sort": "START_TIME_DESC",
        }
        return _named_for(reference, self._filter(body))

    def paused_subflows(self, run_id: str) -> list[RunInfo]:
        """Paused subflow runs of run ``run_id`` (the publish subflow pauses for approval, not its parent)."""
        body = {
            "flow_runs": {
                "parent_flow_run_id": {"any_": [run_id]},
                "state": {"type": {"any_": ["PAUSED"]}},
            },
            "sort": "START_TIME_DESC",
        }
        return self._filter(body)

    def scheduled_runs(self, flow_name: str, reference: str, *, limit: int = 10) -> list[RunInfo]:
        """Runs of flow ``flow_name`` scheduled for the incident ``reference``, soonest first."""
        body = {
            "flows": {"name": {"any_": [flow_name]}},
            "flow_runs": {"name": {"like_": reference}, "state": {"type": {"any_": ["SCHEDULED"]}}},
            "sort": "EXPECTED_START_TIME_ASC",
            "limit": limit,
        }
        return _named_for(reference, self._filter(body))

    def start_now(self, run_id: str) -> None:
        """Bring a scheduled run forward to now (what "Run now" on a late run does): it stays the
        same run, with its parameters, and the runner or a worker picks it up at its next poll."""
        state = {"type": "SCHEDULED", "name": "Scheduled", "state_details": {"scheduled_time": _now_iso()}}
        self._json(
            self._request("POST", f"/flow_runs/{run_id}/set_state", json={"state": state, "force": True})
        )

    def resume(self, run_id: str, run_input: Mapping[str, Any]) -> None:
        """Answer a paused run. The server says 200/201 even when it refuses: :class:`Refused` then.

        A run that pauses for input is PAUSED a moment before it has saved the schema of the input it
        waits for, and the server refuses an answer in between ("Run input schema not found."): that
        refusal is retried for a few seconds, any other is final.
        """
        for wait in (*SCHEMA_WAITS, None):
            answer = self._json(
                self._request("POST", f"/flow_runs/{run_id}/resume", json={"run_input": dict(run_input)})
            )
            reason = (answer.get("details") or {}).get("reason")
            if answer.get("status") != "REJECT" or reason != SCHEMA_NOT_SAVED or wait is None:
                break
            time.sleep(wait)
        status = answer.get("status")
        if status != "ACCEPT":
            details = answer.get("details") or {}
            reason = details.get("reason") or (
                f"try again in {details['delay_seconds']} s"
                if "delay_seconds" in details
                else "no reason given"
            )
            raise Refused(f"the server did not resume the run ({status}): {reason}")

    # ── plumbing ──────────────────────────────────────────────────────────────────────────────────

    def _filter(self, body: Mapping[str, Any]) -> list[RunInfo]:
        runs = self._json(self._request("POST", "/flow_runs/filter", json=body))
        if not isinstance(runs, list):
            raise PrefectApiError(f"POST /flow_runs/filter: expected a list, got {type(runs).__name__}")
        return [RunInfo.from_json(run) for run in runs]

    def _request(self, method: str, path: str, *, json: Any = None) -> httpx.Response:
        """One call; retried after :data:`RETRY_STATUSES` (honouring ``Retry-After``)."""
        for delay in self.retry_delays:
            response = self._send(method, path, json)
            if response.status_code not in RETRY_STATUSES:
                return response
            time.sleep(_retry_after(response) or delay)
        return self._send(method, path, json)

    def _send(self, method: str, path: str, json: Any) -> httpx.Response:
        try:
            return self._client.request(method, path, json=json)
        except (httpx.ConnectError, httpx.TimeoutException) as exc:
            raise PrefectUnreachable(f"cannot reach the Prefect server at {self.api}: {HINT}") from exc
        except httpx.TransportError as exc:
            raise PrefectUnreachable(f"the Prefect server at {self.api} failed to answer: {exc}") from exc

    def _json(self, response: httpx.Response) -> Any:
        if response.is_error:
            request = response.request
            raise PrefectApiError(
                f"the Prefect server answered HTTP {response.status_code} to {request.method} "
                f"{request.url.path}: {_detail(response)}",
                status_code=response.status_code,
            )
        try:
            return response.json()
        except ValueError as exc:
            raise PrefectApiError(
                f"the Prefect server at {self.api} answered something that is not JSON "
                f"(HTTP {response.status_code}); is PREFECT_API_URL right?",
                status_code=response.status_code,
            ) from exc


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _retry_after(response: httpx.Response) -> float | None:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _named_for(reference: str, runs: list[RunInfo]) -> list[RunInfo]:
    # The server's name filter is a case-insensitive substring match: INC-0042 also finds INC-00421.
    return [run for run in runs if run.name.startswith(f"{reference} ")]


def _detail(response: httpx.Response) -> str:
    """The server's ``detail`` text (FastAPI's error body), or the body itself."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        return detail if isinstance(detail, str) else str(detail)
    return str(body)
