"""Every response of the web app carries the framing, sniffing, referrer and content-security headers."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

with warnings.catch_warnings():  # Starlette 1.x asks for "httpx2"; the httpx we have works the same
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", UserWarning)
    from fastapi.testclient import TestClient

from channels.signatures import twilio_signature
from channels.sms import SANDBOX_AUTH_TOKEN
from clarion import store
from clarion.audiences.unsubscribe import secret_key, unsubscribe_url
from clarion.kinds import Channel, ConsentState
from clarion.models import RecipientCreate
from clarion.settings import Settings
from faces.web.app import create_app
from faces.web.headers import secured
from faces.web.limits import DEFAULT_MAX_BYTES

PUBLIC = "https://status.example.com"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", public_url=PUBLIC)


@pytest.fixture
def app(settings: Settings, engine: sa.Engine) -> FastAPI:
    app = create_app(settings, engine=engine)

    @app.get("/test-only/boom")
    def boom() -> None:
        raise RuntimeError("an unexpected failure: the server-error page must carry the headers too")

    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def token(settings: Settings, engine: sa.Engine) -> str:
    with store.session_scope(engine) as session:
        recipient = store.add_recipient(
            session=session,
            recipient_in=RecipientCreate(external_id="c1", email="ada@example.com"),
            consents={Channel.EMAIL: ConsentState.GRANTED},
        )
        recipient_id = recipient.id or 0
    url = unsubscribe_url(settings, secret_key(settings), recipient_id=recipient_id, channel=Channel.EMAIL)
    return urlsplit(url).path.rsplit("/", 1)[1]


def directives(policy: str) -> set[str]:
    return {" ".join(d.split()) for d in policy.split(";") if d.strip()}


def assert_secured(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path} → {response.status_code}"
    headers = response.headers
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("x-frame-options") == "DENY", where
    assert headers.get("referrer-policy") in ("no-referrer", "same-origin", "strict-origin"), where
    [policy] = headers.get_list("content-security-policy")
    assert {"frame-ancestors 'none'", "default-src 'none'"} <= directives(policy), where


def every_request(app: FastAPI, client: TestClient, token: str) -> Iterator[httpx.Response]:
    """Each method of each route the app declares, with good and bad path parameters, and then the
    answers nobody routes to on purpose: conditional GETs, 404, 405, 413, 500."""
    with warnings.catch_warnings():  # GET+HEAD routes share an operation id; the schema is only read
        warnings.filterwarnings("ignore", "Duplicate Operation ID", UserWarning)
        paths = app.openapi()["paths"]
    assert len(paths) >= 7  # the feeds, unsubscribe and both webhooks: a new route is covered by itself
    for template, operations in paths.items():
        for value in (token, "garbage"):
            path = template.replace("{token}", value)
            for method in operations:
                response = client.request(method.upper(), path)
                yield response
                if etag := response.headers.get("etag"):
                    yield client.request(method.upper(), path, headers={"If-None-Match": etag})
    form = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "sent"}
    signature = twilio_signature(SANDBOX_AUTH_TOKEN, PUBLIC + "/webhooks/twilio/status", form)
    yield client.post(
        "/webhooks/twilio/status",
        data=form,
        headers={"X-Twilio-Signature": signature},
    )
    yield client.post("/webhooks/sendgrid/events", content=b"[]")
    yield client.get("/no/such/page")
    yield client.get("/webhooks/twilio/status")
    yield client.post("/webhooks/sendgrid/events", content=b"[" * 100 + b"]" * 100)
    yield client.post("/healthz", content=b"x" * (DEFAULT_MAX_BYTES + 1))
    yield client.get("/test-only/boom")


def test_every_response_carries_frame_and_content_security_headers(
    app: FastAPI, client: TestClient, token: str
) -> None:
    statuses = set()
    pages = 0
    for response in every_request(app, client, token):
        assert_secured(response)
        statuses.add(response.status_code)
        if response.headers.get("content-type", "").startswith("text/html"):
            pages += 1
            assert "unsafe-inline" not in response.headers["content-security-policy"], response.url
            assert not re.search(r"<style|<script>| style=", response.text), response.url  # CSP would block
    assert {200, 204, 304, 400, 404, 405, 413, 500} <= statuses
    assert pages >= 6  # the status pages, their 404 and the unsubscribe pages


def test_routes_keep_their_own_headers_and_the_banner_stays_embeddable(
    client: TestClient, token: str
) -> None:
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and "<form" in page.text
    assert {"default-src 'none'", "style-src 'self'", "form-action 'self'"} <= directives(
        page.headers["content-security-policy"]
    )
    assert '<link rel="stylesheet" href="/static/status.css">' in page.text and "<style" not in page.text
    assert (page.headers["referrer-policy"], page.headers["cache-control"]) == ("no-referrer", "no-store")

    for path, media_type in (("/banner.js", "application/javascript"), ("/banner.json", "application/json")):
        response = client.get(path, headers={"Origin": "https://shop.example.org"})
        assert response.headers["content-type"].startswith(media_type)  # nosniff needs the right type
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["cross-origin-resource-policy"] == "cross-origin"
        assert directives(response.headers["content-security-policy"]) == {
            "default-src 'none'",
            "frame-ancestors 'none'",
        }


def test_a_routes_own_framing_policy_is_kept() -> None:
    own = [(b"Content-Security-Policy", b"default-src 'self'; frame-ancestors https://partner.example")]
    own.append((b"X-Frame-Options", b"SAMEORIGIN"))
    headers = dict(secured(own))
    assert headers[b"Content-Security-Policy"] == own[0][1]
    assert headers[b"X-Frame-Options"] == b"SAMEORIGIN"
    assert b"x-frame-options" not in headers  # never a second, conflicting copy
    page = dict(secured([(b"content-type", b"text/html; charset=utf-8")]))
    assert directives(page[b"content-security-policy"].decode()) >= {
        "frame-ancestors 'none'", "form-action 'self'", "style-src 'self'", "script-src 'self'",
    }  # fmt: skip
    assert b"unsafe-inline" not in page[b"content-security-policy"]
