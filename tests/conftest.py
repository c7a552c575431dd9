"""Shared fixtures: a hermetic environment for every test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from clarion.settings import get_settings
from clarion.store import get_engine
from tests.helpers import TEMPLATES


@pytest.fixture(autouse=True)
def clean_environ(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No CLARION_* setting leaks in from the developer's shell; each test gets its own home."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if (
            key.startswith("CLARION_")
            and not key.startswith("CLARION_TEST_")
            and key
            not in ("CLARION_REQUIRE_POSTGRES", "CLARION_REQUIRE_BROWSER", "CLARION_REQUIRE_BENCH_TOOLS")
        ):
            del os.environ[key]
    os.environ["CLARION_HOME"] = str(tmp_path_factory.mktemp("clarion-home"))
    get_settings.cache_clear()
    get_engine.cache_clear()  # the process-wide engine belongs to a settings of an earlier test
    yield
    if get_engine.cache_info().currsize:  # its connections go with the test that made them
        get_engine().dispose()
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()
    get_engine.cache_clear()


@pytest.fixture
def own_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the shipped templates that the settings point at; edit it freely."""
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    monkeypatch.setenv("CLARION_TEMPLATES_DIR", str(templates))
    get_settings.cache_clear()
    return templates
