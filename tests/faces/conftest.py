"""Fixtures of the command-line tests."""

from __future__ import annotations

import httpx
import pytest

from faces import incident_show, prefect_api
from tests.faces.fake_prefect import FakePrefect


@pytest.fixture
def prefect(monkeypatch: pytest.MonkeyPatch) -> FakePrefect:
    """The CLI talks to a :class:`FakePrefect` (whatever PREFECT_API_URL the shell has), and follows
    runs without sleeping between polls."""
    fake = FakePrefect()
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(prefect_api, "make_transport", lambda: httpx.MockTransport(fake))
    monkeypatch.setattr(incident_show, "POLL_SECONDS", 0.0)
    return fake
