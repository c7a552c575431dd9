"""The suite's own checks can fail: good input does change what the bad-input cases say stays the same.

Every case of this folder asserts "nothing changed" (store, home, sandbox, Prefect server). These
controls run the same commands with good input and show each of those changes being seen, so an
"unchanged" verdict is never the harness looking the wrong way.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from clarion import store
from clarion.audiences.unsubscribe import make_token
from clarion.kinds import Channel
from clarion.settings import Settings
from faces.web.app import create_app
from tests.security.cases import AUDIENCE_CSV, FRESH_FACTS, text_file
from tests.security.conftest import World
from tests.security.web_cases import KEY, PUBLIC

with warnings.catch_warnings():  # Starlette 1.x asks for "httpx2"; the httpx we have works the same
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", UserWarning)
    from fastapi.testclient import TestClient


def test_staging_good_input_is_seen_in_the_store(world: World) -> None:
    world.seed()
    facts = text_file("facts.yaml", FRESH_FACTS)(world.work)
    audience = text_file("audience.csv", AUDIENCE_CSV)(world.work)
    before = world.snapshot()

    outcome = world.run(
        "outbox", "stage", "data-breach", "-f", str(facts), "-r", f"affected-customers={audience}"
    )

    assert outcome.code == 0, outcome
    assert any(change.startswith("store tables changed") for change in world.snapshot().changes_from(before))


def test_a_worker_sending_is_seen_in_the_sandbox(world: World) -> None:
    world.seed()
    before = world.snapshot()

    outcome = world.run("outbox", "work", "--no-progress", "--max-wait", "0")

    assert outcome.code in (0, 3), outcome
    changes = world.snapshot().changes_from(before)
    assert any(change.startswith("sandbox received something") for change in changes), changes


def test_a_command_that_reaches_the_server_is_seen_in_the_fake(world: World) -> None:
    world.seed()
    before = world.snapshot()

    world.run("update", "INC-0042", "--status", "monitoring", "--no-wait")

    assert any(
        change.startswith("the Prefect server was asked") for change in world.snapshot().changes_from(before)
    )


@pytest.mark.parametrize("where", ["home", "elsewhere"])
def test_creating_a_store_is_seen(world: World, where: str) -> None:
    home = world.home if where == "home" else world.work / "new" / "folder"
    before = world.snapshot(home)

    outcome = world.run("db", "upgrade", env={"CLARION_DATABASE_URL": f"sqlite:///{home / 'clarion.db'}"})

    assert outcome.code == 0, outcome
    assert world.snapshot(home).changes_from(before) != []


def test_a_genuine_unsubscribe_is_seen_in_the_store(world: World) -> None:
    world.seed()
    engine = store.make_engine(f"sqlite:///{world.store_path}")
    settings = Settings(_env_file=None, home=world.home, public_url=PUBLIC, secret_key=SecretStr(KEY))
    token = make_token(KEY.encode(), recipient_id=1, channel=Channel.EMAIL, now=datetime.now(UTC))
    before = world.snapshot()

    with TestClient(create_app(settings, engine=engine)) as client:
        response = client.post(f"/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click")
    engine.dispose()

    assert response.status_code == 200, response.text
    assert any(change.startswith("store tables changed") for change in world.snapshot().changes_from(before))
