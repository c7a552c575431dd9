"""``run_worker``: the delivery worker refuses to start with a signing key anyone could guess."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from channels.delivery import run_worker
from clarion import store
from clarion.errors import ConfigError
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
