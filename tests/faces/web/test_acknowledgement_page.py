"""The status page shows an incident's acknowledgement the moment it is stored."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", UserWarning)
    from fastapi.testclient import TestClient

from faces.web.app import create_app
from tests.clarion.incidents.test_acknowledgement import store_with_acknowledgement


def test_the_status_page_shows_it_at_once() -> None:
    incident, _ = store_with_acknowledgement()
    with TestClient(create_app()) as client:
        page = client.get(f"/incidents/{incident.reference}")
    assert page.status_code == 200
    assert "We are aware of a problem: &#34;Slow builds and deploys in ap-northeast&#34;" in page.text
    assert "First word: we know about this and are working on it." in page.text
