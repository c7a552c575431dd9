"""The shared sandbox server (``tests/channels/conftest.py``), reset before each test; clients on it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from channels.sandbox import SandboxConfig, SandboxHandle


@pytest.fixture
def sandbox(server: SandboxHandle) -> Iterator[SandboxHandle]:
    """The shared server with a default config and nothing recorded."""
    server.configure(SandboxConfig())
    server.reset()
    yield server
    server.configure(SandboxConfig())


@pytest.fixture
def client(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=10.0) as c:
        yield c
