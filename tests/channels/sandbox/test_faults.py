"""Fault injection, latency and rate limits, each in the provider's own shape."""

from __future__ import annotations

import time
from datetime import datetime

import httpx
import pytest

from channels.sandbox import MASTODON_SANDBOX_TOKEN, SandboxHandle
from channels.sandbox.inbox import Inbox
from tests.channels.sandbox.helpers import (
    MESSAGES,
    SENDGRID_AUTH,
    TWILIO_AUTH,
    bluesky_session,
    mail,
    post_record,
    sms,
)

MASTODON = {"Authorization": f"Bearer {MASTODON_SANDBOX_TOKEN}"}


def send_email(client: httpx.Client) -> httpx.Response:
    return client.post("/v3/mail/send", headers=SENDGRID_AUTH, json=mail("a@example.com"))


def send_sms(client: httpx.Client) -> httpx.Response:
    return client.post(MESSAGES, auth=TWILIO_AUTH, data=sms())


def test_sendgrid_429_has_its_headers_and_body(client: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(rate_limit={"sendgrid": 2})

    statuses = [send_email(client).status_code for _ in range(3)]

    assert statuses == [202, 202, 429]
    limited = send_email(client)
    assert limited.json() == {"errors": [{"message": "too many requests", "field": None, "help": None}]}
    assert (limited.headers["X-RateLimit-Limit"], limited.headers["X-RateLimit-Remaining"]) == ("2", "0")
    assert 0 <= int(limited.headers["X-RateLimit-Reset"]) - time.time() <= 2
    assert len(sandbox.inbox("email")) == 2
    assert sandbox.stats()["rejected"] == {"429": 2}


def test_twilio_429_is_code_20429(client: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(rate_limit={"twilio": 1})

    assert send_sms(client).status_code == 201
    limited = send_sms(client)

    assert limited.status_code == 429
    assert limited.json()["code"] == 20429


def test_mastodon_429_counts_down_and_resets_in_iso(client: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(rate_limit={"mastodon": 2})

    first = client.post("/api/v1/statuses", headers=MASTODON, data={"status": "1"})
    client.post("/api/v1/statuses", headers=MASTODON, data={"status": "2"})
    limited = client.post("/api/v1/statuses", headers=MASTODON, data={"status": "3"})

    assert first.headers["X-RateLimit-Remaining"] == "1"
    assert limited.status_code == 429
    assert limited.json() == {"error": "Too many requests"}
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    reset = datetime.fromisoformat(limited.headers["X-RateLimit-Reset"].replace("Z", "+00:00"))
    assert 0 <= reset.timestamp() - time.time() <= 1.5


def test_bluesky_429_has_ratelimit_headers_with_epoch_reset(
    client: httpx.Client, sandbox: SandboxHandle
) -> None:
    session = bluesky_session(client)
    sandbox.configure(rate_limit={"bluesky": 1})
    headers = {"Authorization": f"Bearer {session['accessJwt']}"}
    body = {"repo": session["did"], "collection": "app.bsky.feed.post", "record": post_record()}

    assert client.post("/xrpc/com.atproto.repo.createRecord", headers=headers, json=body).status_code == 200
    limited = client.post("/xrpc/com.atproto.repo.createRecord", headers=headers, json=body)

    assert limited.status_code == 429
    assert limited.json()["error"] == "RateLimitExceeded"
    assert (limited.headers["RateLimit-Limit"], limited.headers["RateLimit-Remaining"]) == ("1", "0")
    assert limited.headers["RateLimit-Policy"] == "1;w=1"
    assert 0 <= int(limited.headers["RateLimit-Reset"]) - time.time() <= 2


def test_503_is_not_processed(client: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(fault_rate=1.0, fault_kinds=("503",))

    response = send_sms(client)

    assert response.status_code == 503
    assert response.json()["status"] == 503
    assert sandbox.inbox() == []
    assert sandbox.stats()["faults"] == {"503": 1}


def test_an_injected_429_is_the_providers_own_and_counted_as_a_fault_not_a_refusal(
    client: httpx.Client, sandbox: SandboxHandle
) -> None:
    sandbox.configure(fault_rate=1.0, fault_kinds=("429",))

    texted, emailed = send_sms(client), send_email(client)

    assert (texted.status_code, texted.json()["code"]) == (429, 20429)
    assert emailed.status_code == 429
    assert emailed.json()["errors"][0]["message"] == "too many requests"
    assert int(emailed.headers["X-RateLimit-Reset"]) >= int(time.time())
    assert sandbox.inbox() == []
    stats = sandbox.stats()
    assert stats["faults"] == {"429": 2}
    assert stats["rejected"] == {}  # rejected["429"] stays the rate limit's own refusals


def test_500_after_accept_is_recorded(client: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(fault_rate=1.0, fault_kinds=("500_after_accept",))

    response = send_email(client)

    assert response.status_code == 500
    assert response.json()["errors"][0]["message"] == "internal server error"
    assert [r.delivery_id for r in sandbox.inbox("email")] == ["d-0"]
    assert sandbox.stats()["faults"] == {"500_after_accept": 1}


def test_a_refused_request_gets_no_fault_after_accept(client: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(fault_rate=1.0, fault_kinds=("500_after_accept", "drop"))

    response = client.post(MESSAGES, auth=TWILIO_AUTH, data=sms(to="12345"))

    assert response.json()["code"] == 21211
    assert sandbox.stats()["faults"] == {}


def test_timeout_hangs_and_records_nothing(client: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(fault_rate=1.0, fault_kinds=("timeout",), hang_seconds=5)

    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.post(MESSAGES, auth=TWILIO_AUTH, data=sms(), timeout=0.3)

    assert time.monotonic() - started < 2
    assert sandbox.inbox() == []
    assert sandbox.stats()["faults"] == {"timeout": 1}


def test_a_short_hang_answers_504(client: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(fault_rate=1.0, fault_kinds=("timeout",), hang_seconds=0.1)

    response = client.post("/api/v1/statuses", headers=MASTODON, data={"status": "hi"})

    assert response.status_code == 504
    assert sandbox.inbox() == []


def test_drop_cuts_the_connection_after_recording(client: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(fault_rate=1.0, fault_kinds=("drop",))

    with pytest.raises(httpx.RemoteProtocolError):
        send_email(client)
    with pytest.raises(httpx.RemoteProtocolError):
        send_sms(client)

    assert [r.channel.value for r in sandbox.inbox()] == ["email", "sms"]
    assert sandbox.stats()["faults"] == {"drop": 2}
    sandbox.configure(fault_rate=0.0)
    assert send_sms(client).status_code == 201  # the client recovers with a new connection


def outcomes(client: httpx.Client, n: int) -> list[int]:
    return [send_sms(client).status_code for _ in range(n)]


def test_a_seed_makes_faults_reproducible(client: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(fault_rate=0.5, fault_kinds=("503", "500_after_accept"), seed=42)
    first = outcomes(client, 20)
    sandbox.configure(fault_rate=0.5, fault_kinds=("503", "500_after_accept"), seed=42)
    second = outcomes(client, 20)

    assert first == second
    assert {201, 500, 503} == set(first)


def test_faults_apply_only_to_the_chosen_providers_and_never_to_control(
    client: httpx.Client, sandbox: SandboxHandle
) -> None:
    sandbox.configure(fault_rate=1.0, fault_kinds=("503",), providers=("twilio",), rate_limit={"sendgrid": 1})

    assert send_email(client).status_code == 202
    assert send_sms(client).status_code == 503
    for _ in range(3):
        assert client.get("/_sandbox/stats").status_code == 200


def test_latency_delays_answers(client: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(latency_ms=150)

    started = time.monotonic()
    response = send_sms(client)

    assert time.monotonic() - started >= 0.15
    assert float(response.headers["Server-Timing"].split("dur=")[1]) < 150  # latency excluded


def test_stats_give_the_busiest_second_per_provider_refused_requests_included(
    client: httpx.Client, sandbox: SandboxHandle
) -> None:
    sandbox.configure(rate_limit={"sendgrid": 2})

    statuses = [send_email(client).status_code for _ in range(3)] + [send_sms(client).status_code]

    assert statuses == [202, 202, 429, 201]
    assert sandbox.stats()["peak_per_second"] == {"sendgrid": 3, "twilio": 1}
    sandbox.reset()
    assert sandbox.stats()["peak_per_second"] == {}


def test_lookups_count_in_the_busiest_second_but_not_in_the_busiest_second_of_sends(
    client: httpx.Client, sandbox: SandboxHandle
) -> None:
    assert send_sms(client).status_code == 201
    for _ in range(2):
        assert client.get(MESSAGES, params={"To": "+4915112345678"}, auth=TWILIO_AUTH).status_code == 200

    stats = sandbox.stats()
    assert stats["peak_per_second"] == {"twilio": 3}
    assert stats["peak_sends_per_second"] == {"twilio": 1}


def test_the_busiest_second_is_a_sliding_window_not_a_calendar_second() -> None:
    inbox = Inbox()
    for at in (10.2, 10.9, 11.1, 11.15, 12.5, 13.6):  # 10.2–11.15 is 0.95 s: four requests
        inbox.count_request("twilio", at=at)

    assert inbox.stats()["peak_per_second"] == {"twilio": 4}
    inbox.count_request("twilio", at=14.6)  # exactly one second after 13.6: the window is (t-1, t]
    assert inbox.stats()["peak_per_second"] == {"twilio": 4}
