"""Shared fixtures: a hermetic environment for every test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from clarion.settings import get_settings


@pytest.fixture(autouse=True)
def clean_environ(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No CLARION_* setting leaks in from the developer's shell; each test gets its own home."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if (
            key.startswith("CLARION_")
            and not key.startswith("CLARION_TEST_")
            and key != "CLARION_REQUIRE_POSTGRES"
        ):
            del os.environ[key]
    os.environ["CLARION_HOME"] = str(tmp_path_factory.mktemp("clarion-home"))
    get_settings.cache_clear()
    yield
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()
