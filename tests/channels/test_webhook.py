"""The Standard Webhooks channel: the adapter against a fake receiver on ``httpx.MockTransport``, and
the sandbox double (``channels.sandbox.webhook``) over loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from channels.sandbox import SandboxHandle
from channels.webhook import (
    MAX_PAYLOAD_BYTES,
    SANDBOX_SECRET,
    SPEC,
    WebhookAdapter,
    check_address,
    load_settings,
    sign,
    webhook_id,
)
from clarion.errors import (
    ChannelError,
    ConfigError,
    InDoubt,
    PermanentChannelError,
    RateLimited,
    TransientChannelError,
)
from clarion.kinds import Channel
from clarion.outbox.port import Content, OutboundMessage, Presence
from clarion.settings import Settings
from clarion.updates.limits import describe, measure, utf8_bytes
from tests.helpers import ROOT

VECTOR: dict[str, str] = json.loads((ROOT / "tests" / "fixtures" / "provider_test_vectors.json").read_text())[
    "standard_webhooks_v1"
]
KEY = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
TOKENS = ("T0KEN-oncall-5f3a9c", "tk-7d41e2b9")
URLS = {
    "oncall": f"https://pager.example.com/hooks/{TOKENS[0]}",
    "tickets": f"https://desk.example.com/in?token={TOKENS[1]}",
}
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
MADE = datetime(2026, 3, 1, 9, 29, 12, tzinfo=UTC)
WEBHOOK = Channel("webhook")
TEXT = "Approval needed for INC-0042 update 3 (Zahlungen gestört).\n\nRun: clarion approve INC-0042 3"


def message(n: int = 1, address: str | None = "oncall", **changes: Any) -> OutboundMessage:
    """Delivery ``n``: a notice about INC-0042 to the endpoint ``address`` names."""
    built = OutboundMessage(
        delivery_id=n,
        idempotency_key=f"n{n}.webhook",
        channel=WEBHOOK,
        content=Content(
            rendition_id=None,
            locale="en",
            text=TEXT,
            subject="[INC-0042] Approval needed",
            link="https://clarion.example.com/i/42",
        ),
        incident_reference="INC-0042",
        severity="sev1",
        status="investigating",
        created_at=MADE,
        address=address,
    )
    return replace(built, **changes)


def with_text(text: str, subject: str | None = "[INC-0042] Approval needed") -> OutboundMessage:
    return message(content=Content(rendition_id=None, locale="en", text=text, subject=subject))


def hmac_signature(secret: str, msg_id: str, timestamp: str, content: bytes) -> str:
    """The spec's v1 signature, computed here without the library."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@dataclass
class Receiver:
    """A receiver that answers 204, or the canned ``answers`` first, in order."""

    answers: list[httpx.Response | Exception] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return httpx.Response(204)


def adapter(
    receiver: Receiver, *, clock: Callable[[], datetime] = lambda: NOW, follow_redirects: bool = False
) -> WebhookAdapter:
    client = httpx.Client(transport=httpx.MockTransport(receiver), follow_redirects=follow_redirects)
    return WebhookAdapter(secret=KEY, client=client, endpoints=URLS, clock=clock)


def error_of(receiver: Receiver, msg: OutboundMessage | None = None) -> ChannelError:
    [result] = adapter(receiver).send([msg or message()])
    assert result.error is not None
    return result.error


# ── signing ───────────────────────────────────────────────────────────────────────────────────────


def test_signing_reproduces_the_standard_webhooks_test_vector() -> None:
    args = (VECTOR["secret"], VECTOR["webhook-id"], int(VECTOR["webhook-timestamp"]), VECTOR["raw_body"])

    assert (
        sign(*args)
        == VECTOR["expected_webhook-signature"]
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
    raw = VECTOR["raw_body"].encode()
    assert hmac_signature(VECTOR["secret"], VECTOR["webhook-id"], VECTOR["webhook-timestamp"], raw) == sign(
        *args
    )


# ── the request ───────────────────────────────────────────────────────────────────────────────────


def test_a_notice_is_one_signed_post_of_the_bytes_it_signs() -> None:
    receiver = Receiver()

    [result] = adapter(receiver).send([message()])

    assert result.accepted and result.provider_id == webhook_id(message(1))
    [request] = receiver.requests
    assert (request.method, str(request.url)) == ("POST", URLS["oncall"])
    assert request.headers["webhook-id"] == webhook_id(message(1))
    assert request.headers["webhook-timestamp"] == str(int(NOW.timestamp())) == "1772357400"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-signature"] == hmac_signature(
        KEY, webhook_id(message(1)), "1772357400", request.content
    )
    assert "Zahlungen gestört".encode() in request.content  # UTF-8 as sent, not \u escapes
    assert json.loads(request.content) == {
        "type": "clarion.notice",
        "timestamp": "2026-03-01T09:29:12Z",
        "data": {
            "subject": "[INC-0042] Approval needed",
            "text": TEXT,
            "link": "https://clarion.example.com/i/42",
            "reference": "INC-0042",
            "severity": "sev1",
            "status": "investigating",
        },
    }


def test_the_request_verifies_with_the_reference_librarys_own_verify() -> None:
    receiver = Receiver()
    adapter(receiver, clock=lambda: datetime.now(UTC)).send([message()])
    [request] = receiver.requests

    payload = Webhook(KEY).verify(request.content, dict(request.headers))

    assert payload["data"]["text"] == TEXT
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(SANDBOX_SECRET).verify(request.content, dict(request.headers))


def test_a_retry_keeps_its_webhook_id_and_body_and_is_signed_anew() -> None:
    times = iter([NOW, NOW + timedelta(minutes=7)])
    receiver = Receiver([httpx.Response(503)])
    channel = adapter(receiver, clock=lambda: next(times))

    [failed] = channel.send([message()])
    [accepted] = channel.send([replace(message(), attempts=1, first_attempt_at=NOW)])

    assert isinstance(failed.error, TransientChannelError) and accepted.accepted
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == webhook_id(message(1))
    assert first.content == second.content
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) == 420
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]


def test_a_notice_without_incident_facts_sends_nulls_not_empty_strings() -> None:
    receiver = Receiver()
    bare = message(incident_reference="", severity="", status="", content=Content(None, "en", "Lapsed."))

    adapter(receiver).send([bare])

    assert json.loads(receiver.requests[0].content)["data"] == {
        "subject": None,
        "text": "Lapsed.",
        "link": None,
        "reference": None,
        "severity": None,
        "status": None,
    }


def test_a_batch_posts_each_message_to_its_own_endpoint() -> None:
    receiver = Receiver()

    results = adapter(receiver).send([message(1, "oncall"), message(2, "tickets"), message(3, "oncall")])

    assert [r.provider_id for r in results] == [
        webhook_id(message(1)),
        webhook_id(message(2)),
        webhook_id(message(3)),
    ]
    sent = {r.headers["webhook-id"]: str(r.url) for r in receiver.requests}
    assert sent == {
        webhook_id(message(1)): URLS["oncall"],
        webhook_id(message(2)): URLS["tickets"],
        webhook_id(message(3)): URLS["oncall"],
    }


def test_a_rate_limit_holds_back_only_that_endpoints_messages() -> None:
    receiver = Receiver([httpx.Response(429, headers={"Retry-After": "30"})])

    first, second, other = adapter(receiver).send([message(1), message(2), message(3, "tickets")])

    assert isinstance(first.error, RateLimited) and first.error.retry_after == 30.0
    assert second.error is first.error  # not tried: the same receiver would say the same
    assert other.accepted
    assert [r.headers["webhook-id"] for r in receiver.requests] == [
        webhook_id(message(1)),
        webhook_id(message(3)),
    ]


def test_messages_of_another_channel_are_refused() -> None:
    with pytest.raises(ValueError, match="mastodon"):
        adapter(Receiver()).send([message(channel=Channel.MASTODON)])


# ── answers ───────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_accepted(status: int) -> None:
    [result] = adapter(Receiver([httpx.Response(status, text="ok")])).send([message()])
    assert result.accepted and result.provider_id == webhook_id(message(1))


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (301, PermanentChannelError),
        (302, PermanentChannelError),
        (307, PermanentChannelError),
        (308, PermanentChannelError),
        (400, PermanentChannelError),
        (401, PermanentChannelError),
        (404, PermanentChannelError),
        (410, PermanentChannelError),
        (413, PermanentChannelError),
        (429, RateLimited),
        (500, InDoubt),
        (502, InDoubt),
        (503, TransientChannelError),
        (504, InDoubt),
    ],
)
def test_each_failure_status_maps_to_what_a_retry_may_do(status: int, kind: type[ChannelError]) -> None:
    error = error_of(Receiver([httpx.Response(status)]))

    assert type(error) is kind
    assert error.status_code == status
    assert "'oncall'" in str(error)
    if isinstance(error, InDoubt):
        assert error.in_flight is (status == 504)  # a gateway gave up: the receiver may still be at it


def test_410_says_the_receiver_disabled_the_endpoint() -> None:
    assert "disabled the endpoint" in str(error_of(Receiver([httpx.Response(410)])))


def test_a_redirect_is_a_failure_and_is_not_followed() -> None:
    moved = httpx.Response(302, headers={"Location": "https://elsewhere.example.com/hook"})
    receiver = Receiver([moved])
    channel = adapter(receiver, follow_redirects=True)  # even on a client that would follow

    [result] = channel.send([message()])

    assert isinstance(result.error, PermanentChannelError)
    assert "redirects are not followed" in str(result.error)
    assert [str(r.url) for r in receiver.requests] == [URLS["oncall"]]


@pytest.mark.parametrize(
    ("exc", "kind", "in_flight"),
    [
        (httpx.ConnectError("refused"), TransientChannelError, None),
        (httpx.ReadTimeout("slow"), InDoubt, True),
        (httpx.RemoteProtocolError("dropped"), InDoubt, False),
    ],
)
def test_transport_failures_say_whether_the_request_left(
    exc: Exception, kind: type[ChannelError], in_flight: bool | None
) -> None:
    error = error_of(Receiver([exc]))

    assert type(error) is kind
    if in_flight is not None:
        assert isinstance(error, InDoubt) and error.in_flight is in_flight


# ── limits ────────────────────────────────────────────────────────────────────────────────────────


def test_a_payload_over_20_kb_is_refused_before_any_request() -> None:
    receiver = Receiver()

    error = error_of(receiver, with_text("x" * MAX_PAYLOAD_BYTES))

    assert isinstance(error, PermanentChannelError)
    assert "20480 bytes" in str(error) and "not sent" in str(error)
    assert receiver.requests == []


def test_a_notice_at_the_preview_limits_fits_the_payload() -> None:
    line = "Zahlungen gestört in eu-west; Bestellungen warten. Nächstes Update 10:30 UTC.\n"
    text = (line * 300)[:16_000]
    while utf8_bytes(text) > 16_000:
        text = text[:-1]
    subject = "Ä" * 200
    assert [
        m.fits
        for m in measure(WEBHOOK, {"body": text, "subject": subject}, limits=SPEC.limits, sms_max_segments=3)
    ] == [True, True]

    [result] = adapter(Receiver()).send([with_text(text, subject)])

    assert result.accepted


def test_a_text_that_escaping_swells_over_20_kb_is_refused_not_cut() -> None:
    receiver = Receiver()
    quoted = '"' * 12_000  # 12 000 bytes, within the preview limit; 24 000 bytes as JSON

    error = error_of(receiver, with_text(quoted))

    assert isinstance(error, PermanentChannelError) and "20480" in str(error)
    assert receiver.requests == []


def test_the_preview_names_the_limits() -> None:
    measured = measure(
        WEBHOOK, {"body": "é" * 8_001, "subject": "s" * 201}, limits=SPEC.limits, sms_max_segments=3
    )

    assert sorted(describe(m) for m in measured if not m.fits) == [
        "16002 bytes, limit 16000",
        "201 graphemes, limit 200",
    ]


def test_a_text_that_is_not_unicode_is_refused() -> None:
    receiver = Receiver()
    error = error_of(receiver, with_text("broken \ud800 surrogate"))
    assert isinstance(error, PermanentChannelError) and receiver.requests == []


# ── addresses ─────────────────────────────────────────────────────────────────────────────────────


def test_an_unknown_endpoint_name_is_permanent_and_names_the_setting() -> None:
    receiver = Receiver()

    error = error_of(receiver, message(address="pager"))

    assert isinstance(error, PermanentChannelError)
    assert "'pager'" in str(error) and "CLARION_WEBHOOK_ENDPOINTS" in str(error)
    assert receiver.requests == []


@pytest.mark.parametrize("address", [None, "", f"https://pager.example.com/hooks/{TOKENS[0]}"])
def test_a_message_without_an_endpoint_name_is_refused_without_echoing_it(address: str | None) -> None:
    receiver = Receiver()

    error = error_of(receiver, message(address=address))

    assert isinstance(error, PermanentChannelError)
    assert TOKENS[0] not in str(error)
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("given", "stored"), [("oncall", "oncall"), (" ops-team-2 ", "ops-team-2"), ("a", "a")]
)
def test_an_endpoint_name_is_a_slug(given: str, stored: str) -> None:
    assert SPEC.check_address is check_address
    assert check_address(given) == stored


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("OnCall", "lowercase"),
        ("2nd-line", "lowercase letter"),
        ("on call", "lowercase"),
        ("a" * 64, "up to 62"),
        ("", "lowercase"),
        (f"https://pager.example.com/hooks/{TOKENS[0]}", "credential"),
    ],
)
def test_a_malformed_address_says_why_without_echoing_it(given: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        check_address(given)
    assert given.strip() == "" or given not in str(caught.value)


# ── settings: sandbox or configured ───────────────────────────────────────────────────────────────


def build(tmp_path: Path, receiver: Receiver) -> WebhookAdapter:
    settings = Settings(home=tmp_path, sandbox_url="http://sandbox.test:8766")
    client = httpx.Client(transport=httpx.MockTransport(receiver))
    factory = SPEC.adapter
    assert factory is not None
    sender = factory(settings, client=client, engine=sa.create_engine("sqlite://"))  # an HTTP one: unused
    assert isinstance(sender, WebhookAdapter)
    return sender


def test_without_endpoints_every_name_goes_to_the_sandbox_signed_with_its_secret(tmp_path: Path) -> None:
    receiver = Receiver()
    assert SPEC.sandboxed(Settings(home=tmp_path))

    build(tmp_path, receiver).send([message(1, "oncall"), message(2, "any-name")])

    assert [str(r.url) for r in receiver.requests] == [
        "http://sandbox.test:8766/webhook/receive/oncall",
        "http://sandbox.test:8766/webhook/receive/any-name",
    ]
    request = receiver.requests[0]
    expected = hmac_signature(
        SANDBOX_SECRET, webhook_id(message(1)), request.headers["webhook-timestamp"], request.content
    )
    assert request.headers["webhook-signature"] == expected


def test_with_endpoints_the_configured_urls_and_secret_are_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLARION_WEBHOOK_ENDPOINTS", json.dumps(URLS))
    monkeypatch.setenv("CLARION_WEBHOOK_SECRET", KEY)
    receiver = Receiver()
    assert not SPEC.sandboxed(Settings(home=tmp_path))

    sender = build(tmp_path, receiver)
    [accepted, unknown] = sender.send([message(1, "tickets"), message(2, "any-name")])

    assert accepted.accepted and isinstance(unknown.error, PermanentChannelError)
    [request] = receiver.requests
    assert str(request.url) == URLS["tickets"]
    assert Webhook(KEY).verify(request.content, dict(request.headers))


def test_endpoints_without_a_secret_fail_when_the_adapter_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLARION_WEBHOOK_ENDPOINTS", json.dumps(URLS))

    with pytest.raises(ConfigError, match="CLARION_WEBHOOK_SECRET is not set"):
        build(tmp_path, Receiver())


def test_a_secret_pasted_with_its_newline_signs_as_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLARION_WEBHOOK_ENDPOINTS", json.dumps(URLS))
    monkeypatch.setenv("CLARION_WEBHOOK_SECRET", KEY + "\n")
    receiver = Receiver()

    build(tmp_path, receiver).send([message()])

    [request] = receiver.requests
    assert Webhook(KEY).verify(request.content, dict(request.headers))


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ("s3cr3t-without-the-prefix", "must start with 'whsec_'"),
        ("whsec_n0t*base64!s3cr3t", "not base64"),
        ("whsec_" + base64.b64encode(b"s3cr3t-16-bytes!").decode(), "holds 16 bytes; a secret is 24 to 64"),
        ("whsec_" + base64.b64encode(b"s3cr3t" * 11).decode(), "holds 66 bytes"),
    ],
)
def test_a_malformed_secret_is_named_and_never_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret: str, says: str
) -> None:
    monkeypatch.setenv("CLARION_WEBHOOK_ENDPOINTS", json.dumps(URLS))
    monkeypatch.setenv("CLARION_WEBHOOK_SECRET", secret)

    with pytest.raises(ConfigError, match=says) as caught:
        build(tmp_path, Receiver())

    assert "CLARION_WEBHOOK_SECRET" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize(
    ("endpoints", "says"),
    [
        ('{"oncall": "https://pager.example.com/hooks/T0KEN-oncall-5f3a9c"', "must be a JSON object"),
        ('["https://pager.example.com/hooks/T0KEN-oncall-5f3a9c"]', "must be a JSON object"),
        ('{"oncall": "ftp://pager.example.com/T0KEN-oncall-5f3a9c"}', "the URL of 'oncall' is not http"),
        ('{"oncall": "https://pager.example.com/T0KEN-oncall-5f3a9c\\u001b[2J"}', "the URL of 'oncall'"),
        (
            '{"On Call": "https://pager.example.com/hooks/T0KEN-oncall-5f3a9c"}',
            "'On Call' is not an endpoint name",
        ),
    ],
)
def test_unusable_endpoints_are_named_never_echoed_and_never_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoints: str, says: str
) -> None:
    monkeypatch.setenv("CLARION_WEBHOOK_ENDPOINTS", endpoints)
    monkeypatch.setenv("CLARION_WEBHOOK_SECRET", KEY)

    with pytest.raises(ConfigError, match=says) as caught:
        build(tmp_path, Receiver())

    assert "CLARION_WEBHOOK_ENDPOINTS" in str(caught.value)
    assert TOKENS[0] not in str(caught.value)
    assert not SPEC.sandboxed(Settings(home=tmp_path))


def test_no_url_token_or_secret_shows_in_repr_or_in_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    echo = httpx.Response(404, text=f"no hook at /hooks/{TOKENS[0]}; see {URLS['tickets']}")
    receiver = Receiver([echo, httpx.Response(400, text=f"bad token {TOKENS[1]}")])
    channel = adapter(receiver)

    errors = [str(r.error) for r in channel.send([message(1, "oncall"), message(2, "tickets")])]

    assert repr(channel) == "<WebhookAdapter endpoints oncall, tickets>"
    assert "no hook at" in errors[0] and "bad token" in errors[1]  # the receiver's words, its secrets cut
    monkeypatch.setenv("CLARION_WEBHOOK_ENDPOINTS", json.dumps(URLS))
    monkeypatch.setenv("CLARION_WEBHOOK_SECRET", KEY)
    for shown in [repr(channel), *errors, repr(load_settings())]:
        assert not any(token in shown for token in TOKENS)
        assert KEY.removeprefix("whsec_") not in shown


# ── reconcile ─────────────────────────────────────────────────────────────────────────────────────


def test_reconcile_says_a_resend_is_safe_because_the_receiver_drops_a_repeated_id() -> None:
    receiver = Receiver([httpx.Response(502)])
    channel = adapter(receiver)
    [doubt] = channel.send([message()])
    assert isinstance(doubt.error, InDoubt)

    [answer] = channel.reconcile([message()])
    channel.send([replace(message(), attempts=1, first_attempt_at=NOW)])

    assert answer.presence is Presence.ABSENT
    assert SPEC.no_duplicates and "webhook-id" in SPEC.reconcile and "does not dedupe" in SPEC.reconcile
    assert [r.headers["webhook-id"] for r in receiver.requests] == [
        webhook_id(message(1)),
        webhook_id(message(1)),
    ]


# ── the sandbox double, over loopback ─────────────────────────────────────────────────────────────


@pytest.fixture
def http(box: SandboxHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=box.url, timeout=10.0) as client:
        yield client


def to_sandbox(box: SandboxHandle, http: httpx.Client, **kwargs: Any) -> WebhookAdapter:
    return WebhookAdapter(secret=SANDBOX_SECRET, client=http, sandbox_url=box.url, **kwargs)


def post(
    http: httpx.Client,
    body: bytes,
    *,
    name: str = "oncall",
    msg_id: str = "msg-1",
    secret: str = SANDBOX_SECRET,
    at: datetime | None = None,
) -> httpx.Response:
    timestamp = int((at or datetime.now(UTC)).timestamp())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body.decode()),
        "content-type": "application/json",
    }
    return http.post(f"/webhook/receive/{name}", content=body, headers=headers)


ENVELOPE = json.dumps(
    {"type": "clarion.notice", "timestamp": "2026-03-01T09:29:12Z", "data": {"subject": "S", "text": "T"}}
).encode()


def test_the_double_takes_a_signed_notice_and_records_it(box: SandboxHandle, http: httpx.Client) -> None:
    [result] = to_sandbox(box, http).send([message(7, "ops")])

    assert result.accepted
    [record] = box.inbox("webhook")
    assert (record.provider_id, record.idempotency_key, record.address) == (
        webhook_id(message(7)),
        webhook_id(message(7)),
        "ops",
    )
    assert (record.subject, record.text) == ("[INC-0042] Approval needed", TEXT)


def test_the_double_records_a_repeated_webhook_id_once(box: SandboxHandle, http: httpx.Client) -> None:
    first = post(http, ENVELOPE)
    again = post(http, ENVELOPE)
    other = post(http, ENVELOPE, msg_id="msg-2")

    assert (first.status_code, again.status_code, other.status_code) == (204, 200, 204)
    assert [r.idempotency_key for r in box.inbox("webhook")] == ["msg-1", "msg-2"]
    assert box.stats()["duplicates"]["webhook"] == 0


def test_the_double_refuses_a_forged_signature(box: SandboxHandle, http: httpx.Client) -> None:
    forged = post(http, ENVELOPE, secret=KEY)
    unsigned = http.post("/webhook/receive/oncall", content=ENVELOPE, headers={"webhook-id": "msg-1"})

    assert (forged.status_code, unsigned.status_code) == (401, 401)
    assert "No matching signature" in forged.json()["error"]
    assert "Missing required headers" in unsigned.json()["error"]
    assert box.inbox("webhook") == []


@pytest.mark.parametrize(("minutes", "says"), [(-6, "too old"), (6, "too new")])
def test_the_double_refuses_a_timestamp_more_than_5_minutes_off(
    box: SandboxHandle, http: httpx.Client, minutes: int, says: str
) -> None:
    response = post(http, ENVELOPE, at=datetime.now(UTC) + timedelta(minutes=minutes))

    assert response.status_code == 401 and says in response.json()["error"]
    assert box.inbox("webhook") == []


def test_an_adapter_with_a_stale_clock_is_refused_for_good(box: SandboxHandle, http: httpx.Client) -> None:
    stale = to_sandbox(box, http, clock=lambda: datetime.now(UTC) - timedelta(minutes=10))

    [result] = stale.send([message()])

    assert isinstance(result.error, PermanentChannelError) and result.error.status_code == 401
    assert box.inbox("webhook") == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "not JSON"),
        (b'["clarion.notice"]', "JSON object"),
        (b'{"timestamp": "2026-03-01T09:29:12Z", "data": {}}', "type"),
        (b'{"type": "clarion.notice", "timestamp": "yesterday", "data": {}}', "timestamp"),
        (b'{"type": "clarion.notice", "timestamp": "2026-03-01T09:29:12Z", "data": "hi"}', "data"),
    ],
)
def test_the_double_refuses_a_body_without_the_envelope(
    box: SandboxHandle, http: httpx.Client, body: bytes, says: str
) -> None:
    response = post(http, body)

    assert response.status_code == 400 and says in response.json()["error"]
    assert box.inbox("webhook") == []


def test_the_double_answers_413_over_20_kb(box: SandboxHandle, http: httpx.Client) -> None:
    data = {"text": ""}
    fits = json.dumps({"type": "t", "timestamp": "2026-03-01T09:29:12Z", "data": data})
    data["text"] = "x" * (MAX_PAYLOAD_BYTES - len(fits))
    at_limit = json.dumps({"type": "t", "timestamp": "2026-03-01T09:29:12Z", "data": data}).encode()
    assert len(at_limit) == MAX_PAYLOAD_BYTES

    assert post(http, at_limit).status_code == 204
    assert post(http, at_limit + b" ", msg_id="msg-2").status_code == 413
    assert len(box.inbox("webhook")) == 1


def test_the_double_knows_only_slug_names(http: httpx.Client) -> None:
    assert post(http, ENVELOPE, name="On-Call").status_code == 404


def test_a_reset_forgets_the_ids_it_took(box: SandboxHandle, http: httpx.Client) -> None:
    assert post(http, ENVELOPE).status_code == 204
    box.reset()
    assert post(http, ENVELOPE).status_code == 204
    assert len(box.inbox("webhook")) == 1
