"""``clarion declare`` publishes the playbook's acknowledgement itself, then starts the declare flow."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from clarion import store
from clarion.kinds import Channel, DeliveryState, UpdateKind, UpdateState
from clarion.models import Banner, Delivery, Incident, Update
from faces import prefect_api
from tests.faces.fake_prefect import FakePrefect
from tests.faces.test_incident_cli import run
from tests.helpers import EXAMPLES, load_raw, write_yaml

FACTS = EXAMPLES / "degraded-performance.yaml"


def _facts(tmp_path: Path, **changes: str) -> str:
    data = load_raw(FACTS) | changes
    for key in ("reference", "as_of", "aware_at", "started_at", "next_update_by"):
        data.pop(key, None)
    return str(write_yaml(tmp_path / "facts.yaml", data))


def test_declare_acknowledges_first_then_starts_the_flow_with_the_incident(
    prefect: FakePrefect, tmp_path: Path
) -> None:
    store.migrate(store.get_engine())
    code, output = run("declare", "degraded-performance", "--facts", _facts(tmp_path), "--no-wait")

    assert code == 0, output
    assert "acknowledged INC-0001 on statuspage, banner in" in output
    [(deployment, body)] = prefect.created()
    assert deployment == "deployment-declare-incident"
    assert body["parameters"]["declaration"]["facts"]["reference"] == "INC-0001"
    with Session(store.get_engine()) as session:
        [incident] = session.exec(select(Incident))
        [update] = session.exec(select(Update))
        deliveries = list(session.exec(select(Delivery)))
        banners = list(session.exec(select(Banner)))
    assert incident.declared_facts["story"]["en"]["cause"]  # the whole declaration is kept for the flow
    assert (update.kind, update.state) == (UpdateKind.ACKNOWLEDGEMENT, UpdateState.PUBLISHED)
    assert {(d.channel, d.state) for d in deliveries} == {(Channel.BANNER, DeliveryState.ACCEPTED)}
    assert [b.audience for b in banners] == ["affected-customers"]
    assert "We know about" in banners[0].text


def test_nothing_is_said_when_the_server_cannot_start_the_flow(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store.migrate(store.get_engine())

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(prefect_api, "make_transport", lambda: httpx.MockTransport(down))
    code, output = run("declare", "degraded-performance", "--facts", _facts(tmp_path), "--no-wait")

    assert code != 0
    assert "cannot reach the Prefect server" in output
    with Session(store.get_engine()) as session:
        assert session.exec(select(Incident)).all() == []
        assert session.exec(select(Update)).all() == []


def test_an_acknowledgement_that_does_not_fit_opens_nothing(prefect: FakePrefect, tmp_path: Path) -> None:
    store.migrate(store.get_engine())
    title = ("Slow builds and deploys in every region we run " * 5)[:200].strip()
    code, output = run(
        "declare", "degraded-performance", "--facts", _facts(tmp_path, title=title), "--no-wait"
    )

    assert code != 0
    assert "banner [en]:" in output and "limit 300" in output
    assert prefect.created() == []
    with Session(store.get_engine()) as session:
        assert session.exec(select(Incident)).all() == []
