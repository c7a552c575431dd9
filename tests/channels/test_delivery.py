"""``run_worker``: the delivery worker refuses to start with a signing key anyone could guess, and
sends the request bodies staging built only when it would build the same."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from channels.delivery import links, request_preparation, run_worker
from channels.registry import build_senders
from clarion import store
from clarion.audiences.unsubscribe import secret_key
from clarion.errors import ConfigError
from clarion.kinds import Channel
from clarion.outbox.worker import Worker, WorkerConfig
from clarion.settings import Settings


@pytest.mark.parametrize(
    ("configured", "stored", "says"),
    [
        ("", None, "CLARION_SECRET_KEY is set but empty"),
        ("short", None, "CLARION_SECRET_KEY is set but only 5 characters"),
        (None, "", "the signing key in this file is empty"),
        (None, "Zq3-vF8_kP2wLx9R", "the signing key in this file is only 16 characters"),
    ],
)
def test_missing_empty_or_short_secret_keys_are_refused(
    tmp_path: Path, configured: str | None, stored: str | None, says: str
) -> None:
    home = tmp_path / "home"
    if stored is not None:
        home.mkdir()
        (home / "secret.key").write_text(stored)
    settings = Settings(
        home=home,
        secret_key=None if configured is None else SecretStr(configured),
        sandbox_url="http://127.0.0.1:9",  # nothing listens: a worker that ran would only fail here
    )
    engine = store.make_engine(f"sqlite:///{tmp_path}/clarion.db")
    store.migrate(engine)
    try:
        with pytest.raises(ConfigError, match=says):
            run_worker(settings, engine, name="t")
    finally:
        engine.dispose()


def test_a_worker_takes_the_bodies_staging_built_with_the_same_settings_and_no_others(tmp_path: Path) -> None:
    """The publish flow stages with ``request_preparation``; ``run_worker`` builds its senders and
    links from its own settings. Alike, the worker sends the staged bodies as built; with another
    sender address or link base, it builds each request again from its rows."""
    settings = Settings(home=tmp_path / "home", secret_key=SecretStr("Zq3-vF8_kP2wLx9R-t7Yb4Nm6Hc1Jd5Ge0Ua"))
    engine = store.make_engine(f"sqlite:///{tmp_path}/clarion.db")
    try:
        with httpx.Client() as client:
            senders = build_senders(settings, client=client, engine=engine, channels=[Channel.EMAIL])
            worker = Worker(
                engine, senders, WorkerConfig(name="t"), unsubscribe=links(settings, secret_key(settings))
            )
    finally:
        engine.dispose()
    made = worker.made_with[Channel.EMAIL]

    assert request_preparation(settings).made_with[Channel.EMAIL] == made
    for changed in ({"email_from": "alerts@acme.example"}, {"public_url": "https://status.other.example"}):
        assert request_preparation(settings.model_copy(update=changed)).made_with[Channel.EMAIL] != made
