"""`CLARION_PROVIDER_RATES` holds for all workers together, as the provider (the sandbox) counts it."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from channels.delivery import run_worker
from channels.registry import build_senders
from channels.sandbox import SandboxHandle
from clarion import store
from clarion.audiences.sources import Source
from clarion.errors import ConfigError
from clarion.facts import load_facts
from clarion.kinds import Channel
from clarion.playbook import load_playbook
from clarion.settings import Settings
from clarion.updates.publish import stage_update
from tests.clarion.outbox.conftest import write_recipients
from tests.helpers import EXAMPLES, PLAYBOOKS, TEMPLATES

PROVIDER_LIMIT = 12  # what the "provider" allows in any one second
OUR_RATE = 8.0  # what we ask of all our workers together: under it, with room for the bucket's burst


def test_two_workers_keep_to_the_rate_together_as_the_provider_counts_it(
    box: SandboxHandle, tmp_path: Path
) -> None:
    box.configure(rate_limit={"twilio": PROVIDER_LIMIT})
    settings = Settings(
        home=tmp_path / "home",
        sandbox_url=box.url,
        templates_dir=TEMPLATES,
        provider_rates={"twilio": OUR_RATE},
    )
    engine: sa.Engine = store.make_engine(f"sqlite:///{tmp_path}/clarion.db")
    store.migrate(engine)
    playbook = load_playbook(PLAYBOOKS / "data-breach.yaml")
    try:
        stage_update(
            engine=engine,
            playbook=playbook,
            facts=load_facts(EXAMPLES / "data-breach.yaml", playbook),
            settings=settings,
            sources={"affected-customers": Source(csv=write_recipients(tmp_path / "a.csv", 40))},
        )
        workers = [
            threading.Thread(
                target=run_worker,
                args=(settings, engine),
                kwargs={"name": f"w{n}", "channels": [Channel.SMS]},
            )
            for n in range(2)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
    finally:
        engine.dispose()

    stats = box.stats()
    assert stats["accepted"]["sms"] == 40
    assert "429" not in stats["rejected"], stats
    assert stats["peak_per_second"]["twilio"] <= PROVIDER_LIMIT


def test_a_rate_for_a_provider_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, provider_rates={"twillio": 5})
    with httpx.Client() as client, pytest.raises(ConfigError, match="twillio: not a provider"):
        build_senders(settings, client=client, engine=None, channels=[Channel.SMS])  # type: ignore[arg-type]


@pytest.mark.parametrize("rates", [{"twilio": 0}, {"twilio": -1}, {"Twilio!": 1}])
def test_a_rate_must_be_positive_and_named_by_a_provider_slug(
    tmp_path: Path, rates: dict[str, float]
) -> None:
    with pytest.raises(ValidationError, match="provider_rates"):
        Settings(home=tmp_path, provider_rates=rates)
