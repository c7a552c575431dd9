"""SendGrid adapter against ``httpx.MockTransport``: every body it sends must pass the official schema."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from sendgrid.helpers.mail import CustomArg, Header, Personalization, To

from channels.email import ONE_CLICK, SANDBOX_API_KEY, EmailAdapter, EmailBodies
from clarion.errors import (
    ConfigError,
    InDoubt,
    PermanentChannelError,
    RateLimited,
    TransientChannelError,
)
from clarion.kinds import Channel
from clarion.outbox.port import Content, OutboundMessage, Presence
from clarion.outbox.prepared import made_with
from clarion.settings import Settings
from tests.channels.conftest import MakeMessage, assert_valid_sendgrid

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport that keeps every request (after checking it against the schema)."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.bodies: list[dict[str, Any]] = []
        self.handler = handler or accepted

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.bodies.append(assert_valid_sendgrid(request))
        return self.handler(request)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def accepted(request: httpx.Request) -> httpx.Response:
    return httpx.Response(202, headers={"X-Message-Id": "14c5d75ce93.dfd.64b469.filter0001"})


def adapter(recorder: Recorder, **overrides: Any) -> EmailAdapter:
    options: dict[str, Any] = {
        "client": recorder.client(),
        "api_key": SecretStr("SG.real-key.secret"),
        "from_email": "incidents@example.com",
        "from_name": "Example Incidents",
        "base_url": "https://sendgrid.test",
    }
    return EmailAdapter(**(options | overrides))


def emails(make_message: MakeMessage, count: int, **changes: Any) -> list[OutboundMessage]:
    return [make_message(Channel.EMAIL, n, **changes) for n in range(1, count + 1)]


# ── the request ───────────────────────────────────────────────────────────────────────────────────


def test_a_thousand_messages_go_in_one_request(make_message: MakeMessage) -> None:
    recorder = Recorder()
    batch = emails(make_message, 1000)

    results = adapter(recorder).send(batch)

    assert len(recorder.requests) == 1
    request = recorder.requests[0]
    assert request.url == "https://sendgrid.test/v3/mail/send"
    assert request.headers["authorization"] == "Bearer SG.real-key.secret"
    personalizations = recorder.bodies[0]["personalizations"]
    assert [p["to"] for p in personalizations] == [[{"email": m.address}] for m in batch]
    assert [(r.delivery_id, r.accepted, r.provider_id) for r in results] == [
        (m.delivery_id, True, "14c5d75ce93.dfd.64b469.filter0001") for m in batch
    ]


@pytest.mark.parametrize(
    "changes",
    [{}, {"unsubscribe_url": "https://status.example.com/u/t0k"}, {"mandatory_reason": "gdpr-art34"}],
)
def test_personalizations_are_what_the_sdk_writes(make_message: MakeMessage, changes: dict[str, Any]) -> None:
    """Recipients' entries are plain dicts for speed; the SDK's helpers write the very same JSON."""
    message = make_message(Channel.EMAIL, 3, **changes)
    recorder = Recorder()

    adapter(recorder).send([message])

    expected = Personalization()
    to = To()
    to.email = message.address
    expected.add_to(to)
    expected.add_custom_arg(CustomArg("delivery_id", str(message.delivery_id)))
    expected.add_custom_arg(CustomArg("idempotency_key", message.idempotency_key))
    if message.unsubscribe_url and not message.mandatory_reason:
        expected.add_header(Header("List-Unsubscribe", f"<{message.unsubscribe_url}>"))
        expected.add_header(Header("List-Unsubscribe-Post", ONE_CLICK))
    assert recorder.bodies[0]["personalizations"] == [expected.get()]


def test_each_personalization_carries_opaque_ids_only(make_message: MakeMessage) -> None:
    recorder = Recorder()

    adapter(recorder).send([make_message(Channel.EMAIL, 7)])

    (personalization,) = recorder.bodies[0]["personalizations"]
    assert personalization["custom_args"] == {"delivery_id": "7", "idempotency_key": "INC-0042/u1/email/7"}
    assert "user7" not in str(personalization["custom_args"])


def test_subject_content_categories_and_sender(make_message: MakeMessage) -> None:
    recorder = Recorder()
    message = make_message(Channel.EMAIL, severity="sev2")

    adapter(recorder).send([message])

    body = recorder.bodies[0]
    assert body["from"] == {"email": "incidents@example.com", "name": "Example Incidents"}
    assert body["subject"] == "[INC-0042] Payments degraded"
    assert body["content"] == [
        {"type": "text/plain", "value": message.content.text},
        {"type": "text/html", "value": message.content.html},
    ]
    assert body["categories"] == ["clarion", "INC-0042", "severity-sev2"]


def test_plain_text_only_when_there_is_no_html(make_message: MakeMessage) -> None:
    recorder = Recorder()
    content = Content(rendition_id=3, locale="de", text="Zahlungen gestört.", subject="Störung")

    adapter(recorder).send([make_message(Channel.EMAIL, content=content)])

    assert recorder.bodies[0]["content"] == [{"type": "text/plain", "value": "Zahlungen gestört."}]


def test_optional_messages_carry_one_click_unsubscribe(make_message: MakeMessage) -> None:
    recorder = Recorder()

    adapter(recorder).send(emails(make_message, 2))

    body = recorder.bodies[0]
    assert [p["headers"] for p in body["personalizations"]] == [
        {
            "List-Unsubscribe": f"<https://status.example.com/unsubscribe/tok{n}>",
            "List-Unsubscribe-Post": ONE_CLICK,
        }
        for n in (1, 2)
    ]
    assert "mail_settings" not in body


def test_no_unsubscribe_header_without_a_link(make_message: MakeMessage) -> None:
    recorder = Recorder()

    adapter(recorder).send([make_message(Channel.EMAIL, unsubscribe_url=None)])

    assert "headers" not in recorder.bodies[0]["personalizations"][0]


def test_mandatory_messages_bypass_list_management_in_their_own_request(make_message: MakeMessage) -> None:
    recorder = Recorder()
    batch = [
        make_message(Channel.EMAIL, 1),
        make_message(Channel.EMAIL, 2, mandatory_reason="life-safety"),
        make_message(Channel.EMAIL, 3),
    ]

    results = adapter(recorder).send(batch)

    assert len(recorder.bodies) == 2
    optional, mandatory = recorder.bodies
    assert [p["to"][0]["email"] for p in optional["personalizations"]] == [
        "user1@example.com",
        "user3@example.com",
    ]
    assert "mail_settings" not in optional
    assert all("headers" in p for p in optional["personalizations"])
    assert [p["to"][0]["email"] for p in mandatory["personalizations"]] == ["user2@example.com"]
    assert mandatory["mail_settings"] == {"bypass_list_management": {"enable": True}}
    assert "headers" not in mandatory["personalizations"][0]
    assert [r.delivery_id for r in results] == [1, 2, 3]
    assert all(r.accepted for r in results)


def test_different_content_goes_in_separate_requests(make_message: MakeMessage) -> None:
    recorder = Recorder()
    german = Content(rendition_id=9, locale="de", text="Zahlungen gestört.", subject="Störung")

    adapter(recorder).send([make_message(Channel.EMAIL, 1), make_message(Channel.EMAIL, 2, content=german)])

    assert [b["subject"] for b in recorder.bodies] == ["[INC-0042] Payments degraded", "Störung"]


def test_a_repeated_address_goes_in_another_request(make_message: MakeMessage) -> None:
    recorder = Recorder()
    batch = [make_message(Channel.EMAIL, n, address="Same@example.com") for n in (1, 2)]

    results = adapter(recorder).send([*batch, make_message(Channel.EMAIL, 3)])

    assert [len(b["personalizations"]) for b in recorder.bodies] == [2, 1]
    assert all(r.accepted for r in results)


def test_invalid_addresses_are_never_sent(make_message: MakeMessage) -> None:
    recorder = Recorder()
    batch = [
        make_message(Channel.EMAIL, 1, address="not an address"),
        make_message(Channel.EMAIL, 2),
        make_message(Channel.EMAIL, 3, address="someone@localhost"),
        make_message(Channel.EMAIL, 4, address=None),
    ]

    results = adapter(recorder).send(batch)

    assert [p["to"] for p in recorder.bodies[0]["personalizations"]] == [[{"email": "user2@example.com"}]]
    assert results[1].accepted
    for result in (results[0], results[2], results[3]):
        assert isinstance(result.error, PermanentChannelError)
        assert result.error.code == "invalid-address"


def test_a_batch_without_a_valid_address_sends_nothing(make_message: MakeMessage) -> None:
    recorder = Recorder()

    results = adapter(recorder).send([make_message(Channel.EMAIL, n, address="@nowhere") for n in (1, 2)])

    assert recorder.requests == []
    assert [r.error.code if r.error else None for r in results] == ["invalid-address"] * 2


def test_a_single_invalid_address_is_a_result_not_a_raise(make_message: MakeMessage) -> None:
    (result,) = adapter(Recorder()).send([make_message(Channel.EMAIL, address="nope")])

    assert result.error is not None and result.error.code == "invalid-address"


def test_a_rendition_without_subject_is_never_sent(make_message: MakeMessage) -> None:
    recorder = Recorder()
    no_subject = Content(rendition_id=4, locale="en", text="Payments degraded.")

    bad, good = adapter(recorder).send(
        [make_message(Channel.EMAIL, 1, content=no_subject), make_message(Channel.EMAIL, 2)]
    )

    assert isinstance(bad.error, PermanentChannelError) and bad.error.code == "no-subject"
    assert good.accepted
    assert len(recorder.requests) == 1


def test_content_that_looks_like_an_api_key_is_refused(make_message: MakeMessage) -> None:
    recorder = Recorder()
    leaky = Content(rendition_id=5, locale="en", text="SG.abcdefgh.ijklmnop", subject="oops")

    with pytest.raises(PermanentChannelError, match="API key"):
        adapter(recorder).send([make_message(Channel.EMAIL, content=leaky)])

    assert recorder.requests == []


def test_more_than_a_batch_is_refused(make_message: MakeMessage) -> None:
    with pytest.raises(ValueError, match="at most 1000"):
        adapter(Recorder()).send(emails(make_message, 1001))


# ── bodies built once (at staging) ────────────────────────────────────────────────────────────────


def test_a_prepared_body_is_the_request_send_would_make_and_goes_as_built(make_message: MakeMessage) -> None:
    batch = emails(make_message, 3, unsubscribe_url="https://status.example.com/unsubscribe/t")
    built, made = Recorder(), Recorder()
    sender = adapter(built)
    body = sender.prepare(batch)
    assert body is not None
    adapter(made).send(batch)

    answer = sender.send_prepared(body)

    assert built.requests[0].content == body  # the bytes built, unchanged
    assert built.requests[0].headers["content-type"] == "application/json"
    assert built.bodies == made.bodies  # what a send from the rows would have posted
    assert answer.error is None and answer.provider_id == "14c5d75ce93.dfd.64b469.filter0001"


@pytest.mark.parametrize(
    "odd",
    [
        {"address": "not an address"},
        {"address": "user1@example.com"},  # message 1's address again: SendGrid refuses a repeat
        {"content": Content(rendition_id=9, locale="de", text="Gestört.", subject="Störung")},
        {"content": Content(rendition_id=5, locale="en", text="SG.abcdefgh.ijklmnop", subject="oops")},
    ],
)
def test_messages_that_cannot_go_as_one_request_get_no_body(
    make_message: MakeMessage, odd: dict[str, Any]
) -> None:
    batch = [
        make_message(Channel.EMAIL, 1, address="user1@example.com"),
        make_message(Channel.EMAIL, 2, **odd),
    ]

    assert adapter(Recorder()).prepare(batch) is None


def test_what_a_body_is_made_with_tells_senders_and_link_bases_apart() -> None:
    """A worker takes a body staged elsewhere only when it would build the same (prepared.made_with):
    the sender's address and name and the links' base tell, the time a link was signed does not."""

    def links(base: str) -> Callable[[int, Channel], str]:
        return lambda recipient, channel: f"{base}/unsubscribe/{recipient}.{time.monotonic_ns()}"

    def made(address: str, name: str | None = "Acme", base: str = "https://status.acme.example") -> str:
        return made_with(EmailBodies(address, name), links(base), Channel.EMAIL)

    first = made("ops@acme.example")
    assert made("ops@acme.example") == first  # signed again, later: the same
    assert made("alerts@acme.example") != first
    assert made("ops@acme.example", "Acme Status") != first
    assert made("ops@acme.example", base="https://status.other.example") != first
    assert made_with(EmailBodies("ops@acme.example", "Acme"), None, Channel.EMAIL) != first


def test_a_prepared_request_meets_the_same_errors(make_message: MakeMessage) -> None:
    errors = {"errors": [{"message": "Invalid from email", "field": "from.email"}]}
    sender = adapter(Recorder(respond(400, errors)))
    body = sender.prepare(emails(make_message, 2))
    assert body is not None

    answer = sender.send_prepared(body)

    assert isinstance(answer.error, PermanentChannelError) and answer.error.status_code == 400
    assert "Invalid from email (field from.email)" in str(answer.error)
    timed_out = adapter(Recorder(failing(httpx.ReadTimeout))).send_prepared(body)
    assert isinstance(timed_out.error, InDoubt)


# ── outcomes ──────────────────────────────────────────────────────────────────────────────────────


def respond(status: int, body: object = None, headers: dict[str, str] | None = None) -> Handler:
    return lambda request: httpx.Response(status, json=body, headers=headers)


def test_400_is_permanent_for_the_batch_with_the_first_error(make_message: MakeMessage) -> None:
    errors = {"errors": [{"message": "Invalid from email", "field": "from.email"}, {"message": "other"}]}
    recorder = Recorder(respond(400, errors))

    with pytest.raises(PermanentChannelError, match=r"Invalid from email \(field from.email\)") as caught:
        adapter(recorder).send(emails(make_message, 3))

    assert caught.value.status_code == 400


@pytest.mark.parametrize("status", [401, 403, 413])
def test_refusals_are_permanent(make_message: MakeMessage, status: int) -> None:
    recorder = Recorder(respond(status, {"errors": [{"message": "access forbidden", "field": None}]}))

    with pytest.raises(PermanentChannelError, match="access forbidden") as caught:
        adapter(recorder).send(emails(make_message, 2))

    assert caught.value.status_code == status


def test_429_is_rate_limited_until_the_reset(make_message: MakeMessage) -> None:
    reset = str(int(time.time()) + 30)
    headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    recorder = Recorder(respond(429, {"errors": [{"field": None, "message": "too many requests"}]}, headers))

    with pytest.raises(RateLimited) as caught:
        adapter(recorder).send(emails(make_message, 2))

    assert caught.value.retry_after is not None
    assert 25 <= caught.value.retry_after <= 31


@pytest.mark.parametrize(("status", "in_doubt"), [(500, True), (502, True), (504, True), (503, False)])
def test_server_errors(make_message: MakeMessage, status: int, in_doubt: bool) -> None:
    recorder = Recorder(respond(status, {"errors": [{"message": "internal server error", "field": None}]}))

    with pytest.raises(TransientChannelError) as caught:
        adapter(recorder).send(emails(make_message, 2))

    assert isinstance(caught.value, InDoubt) is in_doubt
    assert caught.value.status_code == status


def test_a_non_json_error_body_still_maps(make_message: MakeMessage) -> None:
    recorder = Recorder(lambda request: httpx.Response(502, text="<html>Bad gateway</html>"))

    with pytest.raises(InDoubt, match="Bad Gateway"):
        adapter(recorder).send(emails(make_message, 1))


def failing(exc: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)

    return handler


def test_a_connection_failure_is_transient_and_not_in_doubt(make_message: MakeMessage) -> None:
    recorder = Recorder(failing(httpx.ConnectError))

    with pytest.raises(TransientChannelError) as caught:
        adapter(recorder).send(emails(make_message, 2))

    assert not isinstance(caught.value, InDoubt)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_a_read_timeout_is_in_doubt(make_message: MakeMessage) -> None:
    with pytest.raises(InDoubt):
        adapter(Recorder(failing(httpx.ReadTimeout))).send(emails(make_message, 2))


def test_a_failed_request_does_not_undo_an_accepted_one(make_message: MakeMessage) -> None:
    def second_fails(request: httpx.Request) -> httpx.Response:
        if len(recorder.requests) == 2:
            raise httpx.ReadTimeout("no answer", request=request)
        return httpx.Response(202, headers={"X-Message-Id": "first"})

    recorder = Recorder(second_fails)
    batch = [make_message(Channel.EMAIL, 1), make_message(Channel.EMAIL, 2, mandatory_reason="life-safety")]

    first, second = adapter(recorder).send(batch)

    assert first.accepted and first.provider_id == "first"
    assert isinstance(second.error, InDoubt)


def test_after_a_connection_failure_no_further_request(make_message: MakeMessage) -> None:
    recorder = Recorder(failing(httpx.ConnectError))
    batch = [make_message(Channel.EMAIL, 1), make_message(Channel.EMAIL, 2, mandatory_reason="life-safety")]

    with pytest.raises(TransientChannelError):
        adapter(recorder).send(batch)

    assert len(recorder.requests) == 1


def test_invalid_addresses_keep_their_own_error_when_the_request_fails(make_message: MakeMessage) -> None:
    recorder = Recorder(respond(503))

    bad, good = adapter(recorder).send(
        [make_message(Channel.EMAIL, 1, address="nope"), make_message(Channel.EMAIL, 2)]
    )

    assert bad.error is not None and bad.error.code == "invalid-address"
    assert type(good.error) is TransientChannelError


def test_reconcile_cannot_tell(make_message: MakeMessage) -> None:
    recorder = Recorder()

    (answer,) = adapter(recorder).reconcile([make_message(Channel.EMAIL, 5)])

    assert (answer.delivery_id, answer.presence) == (5, Presence.UNKNOWN)
    assert recorder.requests == []


# ── configuration ─────────────────────────────────────────────────────────────────────────────────


def test_repr_hides_the_key() -> None:
    text = repr(adapter(Recorder()))

    assert "https://sendgrid.test" in text
    assert "secret" not in text and "SG." not in text


def test_from_settings_defaults_to_the_sandbox(make_message: MakeMessage) -> None:
    recorder = Recorder()
    settings = Settings(_env_file=None, sandbox_url="http://127.0.0.1:9999/")

    email = EmailAdapter.from_settings(settings, client=recorder.client())
    email.send([make_message(Channel.EMAIL)])

    assert recorder.requests[0].url == "http://127.0.0.1:9999/v3/mail/send"
    assert recorder.requests[0].headers["authorization"] == f"Bearer {SANDBOX_API_KEY}"
    assert recorder.bodies[0]["from"] == {"email": "incidents@example.com", "name": "Incident communications"}


def test_from_settings_uses_real_credentials_when_set(make_message: MakeMessage) -> None:
    recorder = Recorder()
    settings = Settings(
        _env_file=None,
        sendgrid_api_key="SG.live.key",
        sendgrid_base_url="https://api.eu.sendgrid.com",
        email_from="status@acme.example",
        email_from_name="ACME Status",
    )

    EmailAdapter.from_settings(settings, client=recorder.client()).send([make_message(Channel.EMAIL)])

    assert recorder.requests[0].url == "https://api.eu.sendgrid.com/v3/mail/send"
    assert recorder.requests[0].headers["authorization"] == "Bearer SG.live.key"
    assert recorder.bodies[0]["from"] == {"email": "status@acme.example", "name": "ACME Status"}


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"sendgrid_api_key": ""}, "sendgrid_api_key"),
        ({"sendgrid_api_key": "SG.x", "sendgrid_base_url": "api.sendgrid.com"}, "sendgrid_base_url"),
        ({"sandbox_url": "ftp://sandbox"}, "sandbox_url"),
        ({"email_from": "incidents at example"}, "email_from"),
        ({"email_from": ""}, "email_from"),
    ],
)
def test_bad_configuration_fails_fast_naming_the_setting(settings: dict[str, Any], named: str) -> None:
    """URLs and the sender address are refused by the settings themselves, the rest by the adapter."""
    with pytest.raises((ConfigError, ValidationError), match=named):
        EmailAdapter.from_settings(Settings(_env_file=None, **settings), client=Recorder().client())
