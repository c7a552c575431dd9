"""The Prefect REST client: paths and bodies the server expects, and its answers turned into errors."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from clarion.settings import get_settings
from faces import prefect_api
from faces.prefect_api import (
    DeploymentMissing,
    PrefectApi,
    PrefectApiError,
    PrefectUnreachable,
    Refused,
    RunInfo,
    api_url,
    run_url,
    ui_url,
)

API = "http://prefect.test/api"
DEPLOYMENT_ID = "0b6c7a52-1f7e-4b8e-9d1c-0d6f3f4a9e11"
RUN_ID = "5f0e7c2a-8a43-4d0e-bf3e-3c1b2f9d7a10"


def run_json(
    name: str, state: str = "SCHEDULED", state_name: str = "Scheduled", **extra: Any
) -> dict[str, Any]:
    """A flow run as the server returns it (the fields the client reads)."""
    return {
        "id": extra.pop("id", RUN_ID),
        "name": name,
        "state_type": state,
        "state_name": state_name,
        "state": {
            "type": state,
            "name": state_name,
            "message": extra.pop("message", None),
            "state_details": {},
        },
        "expected_start_time": "2026-11-23T09:00:00Z",
        **extra,
    }


class FakeServer:
    """Answers with ``handler`` and keeps every request."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def api(self) -> PrefectApi:
        return PrefectApi(API, transport=httpx.MockTransport(self))

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


def deployments(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/api/deployments/name/declare-incident/clarion":
        return httpx.Response(200, json={"id": DEPLOYMENT_ID, "name": "clarion"})
    if request.url.path == f"/api/deployments/{DEPLOYMENT_ID}/create_flow_run":
        return httpx.Response(201, json=run_json("declare · data-breach"))
    return httpx.Response(404, json={"detail": "Deployment not found"})


# ── addresses ─────────────────────────────────────────────────────────────────────────────────────


def test_api_url_is_prefects_own_variable_else_the_clarion_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert api_url(get_settings()) == "http://127.0.0.1:4200/api"

    monkeypatch.setenv("CLARION_PREFECT_API_URL", "http://10.0.0.5:4200/api/")
    get_settings.cache_clear()
    assert api_url(get_settings()) == "http://10.0.0.5:4200/api"

    monkeypatch.setenv("PREFECT_API_URL", "http://prefect.internal:4200/api")
    assert api_url(get_settings()) == "http://prefect.internal:4200/api"


def test_ui_and_run_urls() -> None:
    assert ui_url("http://127.0.0.1:4200/api") == "http://127.0.0.1:4200"
    assert ui_url("http://127.0.0.1:4200/api/") == "http://127.0.0.1:4200"
    assert run_url("http://127.0.0.1:4200", RUN_ID) == f"http://127.0.0.1:4200/runs/flow-run/{RUN_ID}"


# ── deployments ───────────────────────────────────────────────────────────────────────────────────


def test_deployment_id_is_read_by_flow_and_deployment_name() -> None:
    server = FakeServer(deployments)

    assert server.api().deployment_id("declare-incident/clarion") == DEPLOYMENT_ID
    [request] = server.requests
    assert (request.method, request.url.path) == ("GET", "/api/deployments/name/declare-incident/clarion")


def test_a_deployment_that_is_not_registered_says_to_start_clarion_serve() -> None:
    server = FakeServer(deployments)

    with pytest.raises(DeploymentMissing) as caught:
        server.api().deployment_id("post-update/clarion")

    assert str(caught.value) == (
        "deployment post-update/clarion is not registered: is `clarion serve` running?"
    )
    assert caught.value.status_code == 404


def test_create_run_posts_parameters_tags_and_name_to_the_deployment() -> None:
    server = FakeServer(deployments)

    run = server.api().create_run(
        "declare-incident/clarion",
        {"declaration": {"playbook": "data-breach"}},
        name="declare · data-breach",
        tags=("INC-0042",),
    )

    assert run == RunInfo(
        id=RUN_ID,
        name="declare · data-breach",
        state_type="SCHEDULED",
        state_name="Scheduled",
        expected_start_time=datetime(2026, 11, 23, 9, tzinfo=UTC),
    )
    create = server.requests[-1]
    assert (create.method, create.url.path) == ("POST", f"/api/deployments/{DEPLOYMENT_ID}/create_flow_run")
    assert server.bodies()[-1] == {
        "parameters": {"declaration": {"playbook": "data-breach"}},
        "tags": ["INC-0042"],
        "name": "declare · data-breach",
    }


def test_parameters_the_server_refuses_carry_its_reason() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            detail = (
                "Error creating flow run: Validation failed for field 'declaration.facts'. "
                "Failure reason: 'title' is a required property"
            )
            return httpx.Response(409, json={"detail": detail})
        return deployments(request)

    with pytest.raises(Refused) as caught:
        FakeServer(refuse).api().create_run("declare-incident/clarion", {"declaration": {}})

    assert str(caught.value) == (
        "the server refused the parameters: Validation failed for field 'declaration.facts'. "
        "Failure reason: 'title' is a required property"
    )
    assert caught.value.status_code == 409


# ── flow runs ─────────────────────────────────────────────────────────────────────────────────────


def test_read_run_gives_name_state_and_details() -> None:
    paused = run_json("INC-0042 · update 1 · publish", "PAUSED", "Paused")
    paused["state"]["state_details"] = {"pause_key": "1", "pause_timeout": "2026-11-23T11:00:00Z"}
    server = FakeServer(lambda _: httpx.Response(200, json=paused))

    run = server.api().read_run(RUN_ID)

    assert (run.name, run.state_type, run.state_name) == ("INC-0042 · update 1 · publish", "PAUSED", "Paused")
    assert run.state_details["pause_key"] == "1"
    assert server.requests[0].url.path == f"/api/flow_runs/{RUN_ID}"


def test_a_failed_run_carries_the_state_message() -> None:
    failed = run_json("INC-0042 · update 1", "FAILED", "Failed", message="ApprovalExpired: no answer")
    server = FakeServer(lambda _: httpx.Response(200, json=failed))

    assert server.api().read_run(RUN_ID).state_message == "ApprovalExpired: no answer"


def test_paused_runs_filter_by_name_and_state_and_keep_only_the_incidents_own() -> None:
    answer = [
        run_json("INC-00421 · update 1 · publish", "PAUSED", "Paused", id="a"),  # another incident
        run_json("INC-0042 · update 2 · publish", "PAUSED", "Suspended", id="b"),
        run_json("old INC-0042 copy", "PAUSED", "Paused", id="c"),
    ]
    server = FakeServer(lambda _: httpx.Response(200, json=answer))

    runs = server.api().paused_runs("INC-0042")

    assert [r.id for r in runs] == ["b"]
    request = server.requests[0]
    assert (request.method, request.url.path) == ("POST", "/api/flow_runs/filter")
    assert server.bodies()[0] == {
        "flow_runs": {"name": {"like_": "INC-0042"}, "state": {"type": {"any_": ["PAUSED"]}}},
        "sort": "START_TIME_DESC",
    }


def test_paused_subflows_are_found_by_their_parent_run() -> None:
    server = FakeServer(
        lambda _: httpx.Response(200, json=[run_json("INC-0042 · update 1 · publish", "PAUSED")])
    )

    [run] = server.api().paused_subflows(RUN_ID)

    assert run.name == "INC-0042 · update 1 · publish"
    assert server.bodies()[0]["flow_runs"] == {
        "parent_flow_run_id": {"any_": [RUN_ID]},
        "state": {"type": {"any_": ["PAUSED"]}},
    }


def test_scheduled_runs_of_one_flow_for_one_incident_soonest_first() -> None:
    answer = [
        run_json("INC-0042 · update 1 · reminder", id="a"),
        run_json("INC-0042 · update 1 · lapse", id="b"),
        run_json("INC-00420 · update 1 · reminder", id="c"),
    ]
    server = FakeServer(lambda _: httpx.Response(200, json=answer))

    runs = server.api().scheduled_runs("cadence-check", "INC-0042")

    assert [r.id for r in runs] == ["a", "b"]
    assert runs[0].expected_start_time == datetime(2026, 11, 23, 9, tzinfo=UTC)
    assert server.bodies()[0] == {
        "flows": {"name": {"any_": ["cadence-check"]}},
        "flow_runs": {"name": {"like_": "INC-0042"}, "state": {"type": {"any_": ["SCHEDULED"]}}},
        "sort": "EXPECTED_START_TIME_ASC",
        "limit": 10,
    }


# ── resume ────────────────────────────────────────────────────────────────────────────────────────


def test_resume_sends_the_run_input() -> None:
    server = FakeServer(lambda _: httpx.Response(201, json={"status": "ACCEPT", "state": {}, "details": {}}))

    server.api().resume(RUN_ID, {"role": "legal", "approver": "legal-on-call@example.com", "approved": True})

    request = server.requests[0]
    assert (request.method, request.url.path) == ("POST", f"/api/flow_runs/{RUN_ID}/resume")
    assert server.bodies()[0] == {
        "run_input": {"role": "legal", "approver": "legal-on-call@example.com", "approved": True}
    }


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("REJECT", "Reason: 'maybe' is not of type 'boolean'"),
        ("ABORT", "Cannot resume a flow run that is not paused."),
    ],
)
def test_a_refused_resume_is_an_error_even_with_http_200(status: str, reason: str) -> None:
    answer = {"status": status, "state": None, "details": {"type": "reject_details", "reason": reason}}
    server = FakeServer(lambda _: httpx.Response(200, json=answer))

    with pytest.raises(Refused) as caught:
        server.api().resume(RUN_ID, {"approved": "maybe"})

    assert str(caught.value) == f"the server did not resume the run ({status}): {reason}"


def test_an_answer_sent_before_the_run_saved_its_input_schema_is_sent_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Prefect sets PAUSED, then saves the schema of the input it waits for: in between, it refuses
    monkeypatch.setattr("faces.prefect_api.SCHEMA_WAITS", (0, 0, 0))
    answers = iter(
        [
            {"status": "REJECT", "state": None, "details": {"reason": "Run input schema not found."}},
            {"status": "REJECT", "state": None, "details": {"reason": "Run input schema not found."}},
            {"status": "ACCEPT", "state": {}, "details": {}},
        ]
    )
    server = FakeServer(lambda _: httpx.Response(201, json=next(answers)))

    server.api().resume(RUN_ID, {"role": "legal"})

    assert len(server.requests) == 3


def test_a_schema_that_never_appears_is_refused_after_the_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("faces.prefect_api.SCHEMA_WAITS", (0, 0))
    answer = {"status": "REJECT", "state": None, "details": {"reason": "Run input schema not found."}}
    server = FakeServer(lambda _: httpx.Response(201, json=answer))

    with pytest.raises(Refused, match="Run input schema not found"):
        server.api().resume(RUN_ID, {"role": "legal"})

    assert len(server.requests) == 3  # the first answer and one after each wait


# ── failures ──────────────────────────────────────────────────────────────────────────────────────


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_server_that_is_not_running_is_one_clear_line() -> None:
    api = f"http://127.0.0.1:{free_port()}/api"

    with PrefectApi(api, timeout=2) as client, pytest.raises(PrefectUnreachable) as caught:
        client.read_run(RUN_ID)

    assert str(caught.value) == f"cannot reach the Prefect server at {api}: is `clarion serve` running?"


def test_a_server_that_does_not_answer_in_time_is_unreachable() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(PrefectUnreachable) as caught:
        FakeServer(hang).api().paused_runs("INC-0042")

    assert str(caught.value) == f"cannot reach the Prefect server at {API}: is `clarion serve` running?"


def test_an_unexpected_answer_names_status_request_and_detail() -> None:
    server = FakeServer(lambda _: httpx.Response(500, json={"exception_message": "Internal Server Error"}))

    with pytest.raises(PrefectApiError) as caught:
        server.api().read_run(RUN_ID)

    assert str(caught.value) == (
        f"the Prefect server answered HTTP 500 to GET /api/flow_runs/{RUN_ID}: "
        "{'exception_message': 'Internal Server Error'}"
    )
    assert caught.value.status_code == 500
    assert len(server.requests) == 1  # a 500 is not retried


def test_a_busy_server_is_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SQLite server answers 503 while its database is locked; Prefect's own client retries."""
    slept: list[float] = []
    monkeypatch.setattr(prefect_api.time, "sleep", slept.append)
    answers = iter(
        [
            httpx.Response(503, json={"exception_message": "Service Unavailable"}),
            httpx.Response(429, headers={"Retry-After": "3"}, json={"detail": "slow down"}),
            httpx.Response(201, json={"status": "ACCEPT", "details": {}}),
        ]
    )
    server = FakeServer(lambda _: next(answers))

    server.api().resume(RUN_ID, {"role": "dpo"})

    assert len(server.requests) == 3
    assert slept == [0.5, 3.0]


def test_a_server_that_stays_busy_is_an_error_after_the_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prefect_api.time, "sleep", lambda _: None)
    server = FakeServer(lambda _: httpx.Response(503, json={"exception_message": "Service Unavailable"}))

    with pytest.raises(PrefectApiError, match="HTTP 503"):
        server.api().read_run(RUN_ID)

    assert len(server.requests) == 1 + len(prefect_api.RETRY_DELAYS)


def test_an_answer_that_is_not_json_suggests_checking_the_address() -> None:
    server = FakeServer(lambda _: httpx.Response(200, text="<html>a proxy</html>"))

    with pytest.raises(PrefectApiError) as caught:
        server.api().read_run(RUN_ID)

    assert str(caught.value) == (
        f"the Prefect server at {API} answered something that is not JSON (HTTP 200); "
        "is PREFECT_API_URL right?"
    )


# ── the server's own schemas accept every body we send ────────────────────────────────────────────


def test_every_request_body_fits_the_servers_schemas() -> None:
    """Checked against the installed Prefect server's models (extra keys forbidden), not by eye."""
    from prefect.server.schemas.actions import DeploymentFlowRunCreate
    from prefect.server.schemas.filters import FlowFilter, FlowRunFilter
    from prefect.server.schemas.sorting import FlowRunSort

    def answer(request: httpx.Request) -> httpx.Response:
        if "deployments" in request.url.path:
            return deployments(request)
        if request.url.path.endswith("/resume"):
            return httpx.Response(200, json={"status": "ACCEPT", "details": {}})
        return httpx.Response(200, json=[])

    server = FakeServer(answer)
    api = server.api()
    api.create_run("declare-incident/clarion", {"declaration": {}}, name="declare · x", tags=["a"])
    api.paused_runs("INC-0042")
    api.paused_subflows(RUN_ID)
    api.scheduled_runs("cadence-check", "INC-0042")
    api.resume(RUN_ID, {"role": "legal"})

    create, *filters, resume = [b for b in server.bodies() if b is not None]
    DeploymentFlowRunCreate.model_validate(create)
    for body in filters:
        FlowRunFilter.model_validate(body["flow_runs"])
        FlowRunSort(body["sort"])
        if "flows" in body:
            FlowFilter.model_validate(body["flows"])
        assert set(body) <= {"flow_runs", "flows", "sort", "limit"}
    assert set(resume) == {"run_input"}
