"""Mastodon statuses over loopback: auth, length as Mastodon counts it, Idempotency-Key replays."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from channels.sandbox import MASTODON_SANDBOX_TOKEN, SandboxHandle

AUTH = {"Authorization": f"Bearer {MASTODON_SANDBOX_TOKEN}"}


def post(client: httpx.Client, key: str | None = None, **form: str) -> httpx.Response:
    headers = {**AUTH, **({"Idempotency-Key": key} if key else {})}
    return client.post("/api/v1/statuses", headers=headers, data=form)


def test_status_is_posted_and_recorded(client: httpx.Client, sandbox: SandboxHandle) -> None:
    response = post(client, "key-1", status="Payments are down.\n\nNext update 16:00.", visibility="unlisted")

    assert response.status_code == 200
    status = response.json()
    assert status["content"] == "<p>Payments are down.</p><p>Next update 16:00.</p>"
    assert (status["visibility"], status["account"]["acct"]) == ("unlisted", "clarion")
    assert status["url"].endswith(f"/@clarion/{status['id']}")
    (record,) = sandbox.inbox("mastodon")
    assert (record.provider_id, record.idempotency_key, record.address) == (status["id"], "key-1", None)


def test_json_bodies_work_too(client: httpx.Client) -> None:
    response = client.post(
        "/api/v1/statuses", headers=AUTH, json={"status": "Hi", "spoiler_text": "Outage", "language": "de"}
    )

    assert response.status_code == 200
    assert (response.json()["spoiler_text"], response.json()["language"]) == ("Outage", "de")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_a_bad_token_is_401(client: httpx.Client, headers: dict[str, str]) -> None:
    response = client.post("/api/v1/statuses", headers=headers, data={"status": "hi"})

    assert response.status_code == 401
    assert response.json() == {"error": "The access token is invalid"}


def test_idempotency_key_replays_the_same_status_and_records_once(
    client: httpx.Client, sandbox: SandboxHandle
) -> None:
    first = post(client, "k", status="Payments are down.")
    replay = post(client, "k", status="Payments are down.")
    other = post(client, "k2", status="Payments are down.")

    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"] != other.json()["id"]
    assert len(sandbox.inbox("mastodon")) == 2
    assert sandbox.stats()["duplicates"]["mastodon"] == 0


def test_a_refused_status_does_not_store_its_key(client: httpx.Client) -> None:
    assert post(client, "k", status=" ").status_code == 422

    assert post(client, "k", status="Now with words").status_code == 200


def test_urls_count_23_and_spoiler_text_counts(client: httpx.Client) -> None:
    url = "https://status.example.com/incidents/" + "x" * 200
    fits = "y" * (500 - 23 - 1) + " " + url

    assert post(client, status=fits).status_code == 200
    over = post(client, status=fits, spoiler_text="!")
    assert over.status_code == 422
    assert over.json() == {"error": "Validation failed: Text character limit of 500 exceeded"}


def test_the_limit_follows_the_instance_configuration(client: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(mastodon_max_characters=20)

    statuses = client.get("/api/v2/instance").json()["configuration"]["statuses"]
    assert (statuses["max_characters"], statuses["characters_reserved_per_url"]) == (20, 23)
    response = post(client, status="x" * 21)
    assert response.json() == {"error": "Validation failed: Text character limit of 20 exceeded"}


def test_blank_status_is_422(client: httpx.Client) -> None:
    response = post(client, status="  \n")

    assert response.status_code == 422
    assert response.json() == {"error": "Validation failed: Text can't be blank"}


def test_verify_credentials_and_fetch(client: httpx.Client) -> None:
    assert client.get("/api/v1/accounts/verify_credentials", headers=AUTH).json()["username"] == "clarion"
    assert client.get("/api/v1/accounts/verify_credentials").status_code == 401
    status_id = post(client, status="hi").json()["id"]
    assert client.get(f"/api/v1/statuses/{status_id}").json()["id"] == status_id
    assert client.get("/api/v1/statuses/1").status_code == 404


def test_answers_carry_rate_limit_headers_with_an_iso_reset(client: httpx.Client) -> None:
    headers = post(client, status="hi").headers

    assert headers["X-RateLimit-Limit"] == "300"
    assert headers["X-RateLimit-Remaining"] == "300"
    reset = headers["X-RateLimit-Reset"]
    assert reset.endswith("Z") and len(reset.split(".")[1]) == 7  # microseconds + Z
    assert datetime.fromisoformat(reset.replace("Z", "+00:00"))
