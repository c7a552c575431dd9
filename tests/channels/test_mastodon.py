"""The Mastodon adapter against a fake instance on ``httpx.MockTransport``."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from channels.mastodon import SANDBOX_TOKEN, MastodonAdapter
from clarion.errors import (
    ConfigError,
    InDoubt,
    PermanentChannelError,
    RateLimited,
    TransientChannelError,
)
from clarion.kinds import Channel
from clarion.outbox.port import Content, OutboundMessage, Presence
from clarion.settings import Settings

BASE = "https://social.example"
TOKEN = "real-token-0123456789"
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
TEXT = "INC-0042: payments are degraded. Next update 10:30 UTC. https://status.example.com/INC-0042"


def message(n: int = 1, **changes: Any) -> OutboundMessage:
    """Delivery ``n``: a Mastodon broadcast of INC-0042; ``changes`` override any field."""
    built = OutboundMessage(
        delivery_id=n,
        idempotency_key=f"INC-0042/u1/mastodon/{n}",
        channel=Channel.MASTODON,
        content=Content(rendition_id=n, locale="en", text=TEXT),
        incident_reference="INC-0042",
        severity="sev1",
        status="investigating",
        created_at=NOW,
    )
    return replace(built, **changes)


def text_message(text: str, n: int = 1) -> OutboundMessage:
    return message(n, content=Content(rendition_id=n, locale="en", text=text))


@dataclass
class FakeMastodon:
    """An instance: ``/api/v2/instance``, and ``/api/v1/statuses`` with Idempotency-Key replay.

    ``answers`` holds canned responses, served first-in first-out before the normal behaviour.
    """

    max_characters: int = 500
    url_chars: int = 23
    instance_answer: httpx.Response | None = None
    answers: list[httpx.Response | Exception] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)  # by Idempotency-Key
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            if request.url.path == "/api/v2/instance":
                return self.instance_answer or httpx.Response(200, json=self.instance())
            assert request.url.path == "/api/v1/statuses"
            if self.answers:
                answer = self.answers.pop(0)
                if isinstance(answer, Exception):
                    raise answer
                return answer
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return httpx.Response(401, json={"error": "The access token is invalid"})
            key = request.headers["idempotency-key"]
            if key not in self.statuses:
                status_id = str(109_000 + len(self.statuses))
                self.statuses[key] = {
                    "id": status_id,
                    "url": f"{BASE}/@status/{status_id}",
                    "content": json.loads(request.content)["status"],
                }
            return httpx.Response(200, json=self.statuses[key])

    def instance(self) -> dict[str, Any]:
        return {
            "domain": "social.example",
            "configuration": {
                "urls": {"streaming": "wss://social.example"},
                "statuses": {
                    "max_characters": self.max_characters,
                    "max_media_attachments": 4,
                    "characters_reserved_per_url": self.url_chars,
                },
            },
        }

    def posts(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == "/api/v1/statuses"]

    def instance_reads(self) -> int:
        return sum(r.url.path == "/api/v2/instance" for r in self.requests)


def adapter(fake: FakeMastodon, **kwargs: Any) -> MastodonAdapter:
    return MastodonAdapter(
        base_url=BASE, access_token=TOKEN, client=httpx.Client(transport=httpx.MockTransport(fake)), **kwargs
    )


# ── posting ───────────────────────────────────────────────────────────────────────────────────────────


def test_a_message_becomes_one_public_status() -> None:
    fake = FakeMastodon()
    msg = message(content=Content(rendition_id=1, locale="de-AT", text="Zahlungen gestört. " + TEXT))

    [result] = adapter(fake).send([msg])

    assert result.accepted
    assert result.provider_id == "109000"
    assert result.provider_status == f"{BASE}/@status/109000"
    [post] = fake.posts()
    assert post.method == "POST"
    assert str(post.url) == f"{BASE}/api/v1/statuses"
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    assert post.headers["idempotency-key"] == "INC-0042/u1/mastodon/1"
    assert post.headers["content-type"] == "application/json"
    assert json.loads(post.content) == {
        "status": "Zahlungen gestört. " + TEXT,
        "visibility": "public",
        "language": "de",
    }


def test_a_locale_without_a_language_code_sends_no_language() -> None:
    fake = FakeMastodon()
    adapter(fake).send([message(content=Content(rendition_id=1, locale="x-klingon", text="Hi"))])
    assert "language" not in json.loads(fake.posts()[0].content)


def test_a_batch_posts_each_message_with_its_own_key() -> None:
    fake = FakeMastodon()
    results = adapter(fake).send([message(1), message(2), message(3)])
    assert [r.provider_id for r in results] == ["109000", "109001", "109002"]
    assert [p.headers["idempotency-key"] for p in fake.posts()] == [
        f"INC-0042/u1/mastodon/{n}" for n in (1, 2, 3)
    ]


def test_a_resend_carries_the_same_key_and_gets_the_original_status() -> None:
    fake = FakeMastodon()
    channel = adapter(fake)
    first = channel.send([message()])
    again = channel.send([replace(message(), attempts=2, first_attempt_at=NOW)])
    assert first[0].provider_id == again[0].provider_id
    assert len(fake.statuses) == 1


def test_messages_of_another_channel_are_refused() -> None:
    with pytest.raises(ValueError, match="bluesky"):
        adapter(FakeMastodon()).send([message(channel=Channel.BLUESKY)])


# ── instance limits ───────────────────────────────────────────────────────────────────────────────────


def test_the_instance_is_read_once_for_many_posts_and_threads() -> None:
    fake = FakeMastodon()
    channel = adapter(fake)

    def post(n: int) -> None:
        for i in range(5):
            assert channel.send([message(n * 10 + i)])[0].accepted

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert fake.instance_reads() == 1
    assert len(fake.posts()) == 40


def test_a_text_over_the_instance_limit_is_refused_without_posting() -> None:
    fake = FakeMastodon(max_characters=100)
    too_long = text_message("x" * 101)

    [result] = adapter(fake).send([too_long])

    assert isinstance(result.error, PermanentChannelError)
    assert "101 characters" in str(result.error)
    assert "allows 100" in str(result.error)
    assert fake.posts() == []


def test_urls_count_what_the_instance_reserves_for_them() -> None:
    # 80 characters of text and a 60-character URL: 103 with 23 per URL, 90 with 10 per URL.
    text = "y" * 79 + " https://status.example.com/incidents/INC-0042/updates/3?lang=en"
    fits_here = FakeMastodon(max_characters=100, url_chars=10)
    too_long_there = FakeMastodon(max_characters=100, url_chars=23)

    assert adapter(fits_here).send([text_message(text)])[0].accepted
    assert isinstance(adapter(too_long_there).send([text_message(text)])[0].error, PermanentChannelError)
    assert too_long_there.posts() == []


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(503, text="down for maintenance"),
        httpx.Response(429, json={"error": "Too many requests"}),
    ],
)
def test_a_failed_instance_read_falls_back_to_500_and_asks_again(answer: httpx.Response) -> None:
    fake = FakeMastodon(max_characters=5000, instance_answer=answer)
    channel = adapter(fake)

    assert isinstance(channel.send([text_message("z" * 501)])[0].error, PermanentChannelError)
    assert channel.send([text_message("z" * 500)])[0].accepted

    assert fake.instance_reads() == 2
    assert len(fake.posts()) == 1


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(404, json={"error": "Not found"}), httpx.Response(200, json={"configuration": {}})],
)
def test_an_instance_without_limits_is_taken_at_mastodons_defaults_once(answer: httpx.Response) -> None:
    fake = FakeMastodon(instance_answer=answer)
    channel = adapter(fake)

    assert channel.send([text_message("z" * 500)])[0].accepted
    assert isinstance(channel.send([text_message("z" * 501)])[0].error, PermanentChannelError)

    assert fake.instance_reads() == 1


def test_an_unreachable_instance_falls_back_and_the_post_still_goes_out() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/api/v2/instance":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"id": "1", "url": None})

    channel = MastodonAdapter(
        base_url=BASE, access_token=TOKEN, client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    [result] = channel.send([message()])
    assert result.accepted and result.provider_status is None
    assert calls == ["/api/v2/instance", "/api/v1/statuses"]


# ── errors ────────────────────────────────────────────────────────────────────────────────────────────


def test_a_refused_token_is_permanent_and_ends_the_batch() -> None:
    fake = FakeMastodon()
    channel = MastodonAdapter(
        base_url=BASE, access_token="wrong", client=httpx.Client(transport=httpx.MockTransport(fake))
    )

    results = channel.send([message(1), message(2)])

    error = results[0].error
    assert isinstance(error, PermanentChannelError)
    assert error.status_code == 401
    assert "The access token is invalid" in str(error)
    assert results[1].error is error
    assert len(fake.posts()) == 1


def test_a_validation_failure_is_permanent_with_the_servers_message() -> None:
    fake = FakeMastodon(
        answers=[httpx.Response(422, json={"error": "Validation failed: Text can't be blank"})]
    )

    results = adapter(fake).send([message(1), message(2)])

    assert isinstance(results[0].error, PermanentChannelError)
    assert results[0].error.status_code == 422
    assert "Validation failed: Text can't be blank" in str(results[0].error)
    assert results[1].accepted  # one bad message does not stop the others


def test_a_rate_limit_carries_the_reset_time_and_ends_the_batch() -> None:
    reset = (datetime.now(UTC) + timedelta(seconds=120)).isoformat(timespec="microseconds")[:-6] + "Z"
    fake = FakeMastodon(
        answers=[
            httpx.Response(429, json={"error": "Too many requests"}, headers={"X-RateLimit-Reset": reset})
        ]
    )

    results = adapter(fake).send([message(1), message(2)])

    error = results[0].error
    assert isinstance(error, RateLimited)
    assert error.retry_after is not None
    assert 110 < error.retry_after <= 120
    assert results[1].error is error
    assert len(fake.posts()) == 1


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (httpx.Response(500, text="<html>oops</html>"), InDoubt),
        (httpx.Response(502, text="bad gateway"), InDoubt),
        (httpx.Response(503, text="maintenance"), TransientChannelError),
        (httpx.ConnectError("refused"), TransientChannelError),
        (httpx.ReadTimeout("slow"), InDoubt),
        (httpx.Response(200, text="not json"), InDoubt),
    ],
)
def test_server_and_transport_failures(answer: httpx.Response | Exception, kind: type[Exception]) -> None:
    [result] = adapter(FakeMastodon(answers=[answer])).send([message()])
    assert type(result.error) is kind


# ── reconcile ─────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("age", "presence"),
    [
        (timedelta(minutes=2), Presence.ABSENT),
        (timedelta(minutes=54, seconds=59), Presence.ABSENT),
        (timedelta(minutes=55), Presence.UNKNOWN),
        (timedelta(hours=3), Presence.UNKNOWN),
    ],
)
def test_reconcile_trusts_the_idempotency_key_for_55_minutes(age: timedelta, presence: Presence) -> None:
    now = NOW + timedelta(hours=5)
    fake = FakeMastodon()
    channel = adapter(fake, clock=lambda: now)

    [by_first_attempt] = channel.reconcile([message(first_attempt_at=now - age)])
    [by_creation] = channel.reconcile([message(created_at=now - age)])

    assert by_first_attempt.presence is presence
    assert by_creation.presence is presence
    assert by_first_attempt.delivery_id == 1
    assert fake.requests == []  # Mastodon is not asked: it offers no lookup by key


def test_in_doubt_lookups_are_anchored_on_the_first_attempt() -> None:
    """The key was stored when some attempt succeeded, no earlier than the first one: a row first
    tried four hours ago may hold a status whose key expired, however recent its latest claim."""
    now = NOW + timedelta(hours=5)
    first_tried_long_ago = message(
        created_at=now - timedelta(hours=4), first_attempt_at=now - timedelta(hours=4)
    )
    first_tried_lately = message(
        created_at=now - timedelta(hours=4), first_attempt_at=now - timedelta(minutes=5)
    )
    results = adapter(FakeMastodon(), clock=lambda: now).reconcile([first_tried_long_ago, first_tried_lately])
    assert [r.presence for r in results] == [Presence.UNKNOWN, Presence.ABSENT]


def test_the_default_clock_is_now() -> None:
    recent = message(first_attempt_at=datetime.now(UTC) - timedelta(minutes=1))
    old = message(2, first_attempt_at=datetime.now(UTC) - timedelta(hours=1))
    results = adapter(FakeMastodon()).reconcile([recent, old])
    assert [r.presence for r in results] == [Presence.ABSENT, Presence.UNKNOWN]


# ── configuration ─────────────────────────────────────────────────────────────────────────────────────


def test_repr_shows_the_instance_never_the_token() -> None:
    shown = repr(adapter(FakeMastodon()))
    assert BASE in shown
    assert TOKEN not in shown


def test_from_settings_uses_the_sandbox_without_credentials() -> None:
    fake = FakeMastodon()
    client = httpx.Client(transport=httpx.MockTransport(fake))
    settings = Settings(_env_file=None, sandbox_url="http://127.0.0.1:9999/")

    channel = MastodonAdapter.from_settings(settings, client=client)
    fake.answers.append(httpx.Response(200, json={"id": "7", "url": "http://127.0.0.1:9999/@s/7"}))
    channel.send([message()])

    [read, post] = fake.requests
    assert str(read.url) == "http://127.0.0.1:9999/api/v2/instance"
    assert str(post.url) == "http://127.0.0.1:9999/api/v1/statuses"
    assert post.headers["authorization"] == f"Bearer {SANDBOX_TOKEN}"


def test_from_settings_uses_real_credentials_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARION_MASTODON_BASE_URL", BASE)
    monkeypatch.setenv("CLARION_MASTODON_ACCESS_TOKEN", TOKEN)
    fake = FakeMastodon()

    channel = MastodonAdapter.from_settings(
        Settings(_env_file=None), client=httpx.Client(transport=httpx.MockTransport(fake))
    )

    assert channel.send([message()])[0].accepted
    assert str(fake.posts()[0].url) == f"{BASE}/api/v1/statuses"
    assert TOKEN not in repr(channel)


@pytest.mark.parametrize(
    ("settings", "missing"),
    [
        ({"mastodon_base_url": BASE}, "CLARION_MASTODON_ACCESS_TOKEN"),
        ({"mastodon_access_token": TOKEN}, "CLARION_MASTODON_BASE_URL"),
        ({"mastodon_base_url": BASE, "mastodon_access_token": ""}, "CLARION_MASTODON_ACCESS_TOKEN"),
    ],
)
def test_half_a_configuration_fails_naming_the_setting(settings: dict[str, str], missing: str) -> None:
    with pytest.raises(ConfigError, match=missing):
        MastodonAdapter.from_settings(Settings(_env_file=None, **settings), client=httpx.Client())


@pytest.mark.parametrize("url", ["social.example", "ftp://social.example", "http://[::1"])
def test_a_base_url_must_be_http(url: str) -> None:
    with pytest.raises(ConfigError, match="CLARION_MASTODON_BASE_URL must be an http"):
        MastodonAdapter(base_url=url, access_token=TOKEN, client=httpx.Client())


def test_class_data() -> None:
    assert MastodonAdapter.channel is Channel.MASTODON
    assert MastodonAdapter.no_duplicates is True
    assert MastodonAdapter.max_batch >= 1
