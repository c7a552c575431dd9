"""Twilio adapter against ``httpx.MockTransport``: every create request must pass the official schema."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from channels.sms import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SANDBOX_FROM_NUMBER,
    SmsAdapter,
)
from clarion.errors import (
    ConfigError,
    InDoubt,
    PermanentChannelError,
    RateLimited,
    TransientChannelError,
)
from clarion.kinds import Channel
from clarion.outbox.port import OutboundMessage, Presence
from clarion.settings import Settings
from tests.channels.conftest import CREATED_AT, MakeMessage, assert_valid_twilio

SID = "AC" + "1a2b3c4d" * 4
TOKEN = "real-auth-token-123"
SERVICE = "MG" + "9f" * 16
FROM = "+14155550100"
MESSAGES = f"https://twilio.test/2010-04-01/Accounts/{SID}/Messages.json"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport that keeps every request; create requests are checked against the schema."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.forms: list[dict[str, str]] = []
        self.handler = handler or created

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "POST":
            self.forms.append(assert_valid_twilio(request))
        return self.handler(request)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def created(request: httpx.Request) -> httpx.Response:
    form = assert_valid_twilio(request)
    sid = "SM" + form["To"][1:].rjust(32, "0")
    return httpx.Response(201, json={"sid": sid, "status": "queued", "to": form["To"], "body": form["Body"]})


def twilio_error(status: int, code: int, message: str = "refused") -> Handler:
    body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}"}
    return lambda request: httpx.Response(status, json=body | {"status": status})


def adapter(recorder: Recorder, **overrides: Any) -> SmsAdapter:
    options: dict[str, Any] = {
        "client": recorder.client(),
        "account_sid": SID,
        "auth_token": SecretStr(TOKEN),
        "from_number": FROM,
        "base_url": "https://twilio.test/",
        "status_callback": "https://clarion.example.com/webhooks/twilio/status",
    }
    return SmsAdapter(**(options | overrides))


def texts(make_message: MakeMessage, count: int, **changes: Any) -> list[OutboundMessage]:
    return [make_message(Channel.SMS, n, **changes) for n in range(1, count + 1)]


# ── send ──────────────────────────────────────────────────────────────────────────────────────────


def test_one_request_per_message(make_message: MakeMessage) -> None:
    recorder = Recorder()
    batch = texts(make_message, 3)

    results = adapter(recorder).send(batch)

    assert [str(r.url) for r in recorder.requests] == [MESSAGES] * 3
    expected_auth = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert {r.headers["authorization"] for r in recorder.requests} == {expected_auth}
    assert recorder.forms[0] == {
        "To": "+14155550001",
        "Body": batch[0].content.text,
        "From": FROM,
        "StatusCallback": "https://clarion.example.com/webhooks/twilio/status",
        "ValidityPeriod": "14400",
    }
    assert [r.delivery_id for r in results] == [1, 2, 3]
    assert all(r.accepted and r.provider_status == "queued" for r in results)
    assert all(r.provider_id and r.provider_id.startswith("SM") for r in results)


def test_a_messaging_service_replaces_from(make_message: MakeMessage) -> None:
    recorder = Recorder()

    adapter(recorder, messaging_service_sid=SERVICE, validity_period=600).send([make_message(Channel.SMS)])

    assert recorder.forms[0]["MessagingServiceSid"] == SERVICE
    assert recorder.forms[0]["ValidityPeriod"] == "600"
    assert "From" not in recorder.forms[0]


def test_numbers_are_written_as_e164(make_message: MakeMessage) -> None:
    recorder = Recorder()

    adapter(recorder).send([make_message(Channel.SMS, address="+49 (0)151 2345 6789")])

    assert recorder.forms[0]["To"] == "+4915123456789"


@pytest.mark.parametrize("address", ["+15551234567", "4155550001", "call me", "", None])
def test_invalid_numbers_are_never_sent(make_message: MakeMessage, address: str | None) -> None:
    recorder = Recorder()

    bad, good = adapter(recorder).send(
        [make_message(Channel.SMS, 1, address=address), make_message(Channel.SMS, 2)]
    )

    assert [f["To"] for f in recorder.forms] == ["+14155550002"]
    assert isinstance(bad.error, PermanentChannelError)
    assert bad.error.code == "invalid-number"
    assert good.accepted


def test_no_status_callback_unless_one_is_set(make_message: MakeMessage) -> None:
    recorder = Recorder()

    adapter(recorder, status_callback=None).send([make_message(Channel.SMS)])

    assert "StatusCallback" not in recorder.forms[0]


# ── errors ────────────────────────────────────────────────────────────────────────────────────────


def test_21610_opt_out_is_permanent_with_its_code(make_message: MakeMessage) -> None:
    def stop_for_first(request: httpx.Request) -> httpx.Response:
        if len(recorder.requests) == 1:
            return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")(request)
        return created(request)

    recorder = Recorder(stop_for_first)

    opted_out, other = adapter(recorder).send(texts(make_message, 2))

    assert isinstance(opted_out.error, PermanentChannelError)
    assert (opted_out.error.code, opted_out.error.status_code) == ("21610", 400)
    assert "unsubscribed recipient" in str(opted_out.error)
    assert other.accepted


@pytest.mark.parametrize("code", [21211, 21617, 21408, 21606, 21612, 21614])
def test_recipient_refusals_are_permanent(make_message: MakeMessage, code: int) -> None:
    (result,) = adapter(Recorder(twilio_error(400, code))).send(texts(make_message, 1))

    assert isinstance(result.error, PermanentChannelError)
    assert result.error.code == str(code)


def test_bad_credentials_are_permanent_and_stop_the_batch(make_message: MakeMessage) -> None:
    recorder = Recorder(twilio_error(401, 20003, "Authenticate"))

    results = adapter(recorder).send(texts(make_message, 3))

    assert len(recorder.requests) == 1
    assert all(isinstance(r.error, PermanentChannelError) and r.error.code == "20003" for r in results)


@pytest.mark.parametrize("status", [429, 400])
def test_20429_is_rate_limited_and_stops_the_batch(make_message: MakeMessage, status: int) -> None:
    recorder = Recorder(twilio_error(status, 20429, "Too Many Requests"))

    results = adapter(recorder).send(texts(make_message, 3))

    assert len(recorder.requests) == 1
    assert all(isinstance(r.error, RateLimited) and r.error.code == "20429" for r in results)


def test_429_waits_as_long_as_twilio_says(make_message: MakeMessage) -> None:
    recorder = Recorder(lambda request: httpx.Response(429, headers={"Retry-After": "7"}))

    (result,) = adapter(recorder).send(texts(make_message, 1))

    assert isinstance(result.error, RateLimited)
    assert result.error.retry_after == 7


@pytest.mark.parametrize(("status", "in_doubt"), [(500, True), (502, True), (503, False)])
def test_server_errors_end_one_message(make_message: MakeMessage, status: int, in_doubt: bool) -> None:
    def first_fails(request: httpx.Request) -> httpx.Response:
        return twilio_error(status, 20500)(request) if len(recorder.requests) == 1 else created(request)

    recorder = Recorder(first_fails)

    failed, other = adapter(recorder).send(texts(make_message, 2))

    assert isinstance(failed.error, TransientChannelError)
    assert isinstance(failed.error, InDoubt) is in_doubt
    assert other.accepted


def test_a_connection_failure_ends_the_batch_without_more_requests(make_message: MakeMessage) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    recorder = Recorder(refuse)

    results = adapter(recorder).send(texts(make_message, 3))

    assert len(recorder.requests) == 1
    assert all(type(r.error) is TransientChannelError for r in results)


def test_a_read_timeout_is_in_doubt_for_that_message_only(make_message: MakeMessage) -> None:
    def first_times_out(request: httpx.Request) -> httpx.Response:
        if len(recorder.requests) == 1:
            raise httpx.ReadTimeout("no answer", request=request)
        return created(request)

    recorder = Recorder(first_times_out)

    timed_out, other = adapter(recorder).send(texts(make_message, 2))

    assert isinstance(timed_out.error, InDoubt)
    assert isinstance(timed_out.error.__cause__, httpx.ReadTimeout)
    assert other.accepted


def test_more_than_a_batch_is_refused(make_message: MakeMessage) -> None:
    with pytest.raises(ValueError, match="at most 50"):
        adapter(Recorder()).send(texts(make_message, 51))


# ── reconcile ─────────────────────────────────────────────────────────────────────────────────────


def listed(message: OutboundMessage, *, sid: str = "SM" + "ab" * 16, **changes: Any) -> dict[str, Any]:
    """A Twilio Message resource as the list endpoint shows it."""
    item: dict[str, Any] = {
        "sid": sid,
        "to": "+14155550001",
        "from": FROM,
        "messaging_service_sid": None,
        "body": message.content.text,
        "status": "delivered",
        "date_created": format_datetime(message.first_attempt_at or message.created_at),
    }
    return item | changes


def pages(*pages: list[dict[str, Any]]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("Page", "0"))
        more = page + 1 < len(pages)
        next_uri = (
            f"/2010-04-01/Accounts/{SID}/Messages.json?To=%2B14155550001&Page={page + 1}" if more else None
        )
        return httpx.Response(200, json={"messages": pages[page], "next_page_uri": next_uri, "page": page})

    return handler


def test_reconcile_finds_the_message(make_message: MakeMessage) -> None:
    message = make_message(Channel.SMS, first_attempt_at=CREATED_AT + timedelta(minutes=5))
    recorder = Recorder(pages([listed(message, sid="SM" + "01" * 16)]))

    (answer,) = adapter(recorder).reconcile([message])

    assert (answer.delivery_id, answer.presence, answer.provider_id) == (
        1,
        Presence.PRESENT,
        "SM" + "01" * 16,
    )
    (request,) = recorder.requests
    assert request.method == "GET"
    assert request.url.copy_with(query=None) == MESSAGES
    assert dict(request.url.params) == {"To": "+14155550001", "From": FROM}


def test_reconcile_finds_a_message_twilio_still_holds_queued(make_message: MakeMessage) -> None:
    """A queued message has no date_sent yet: the lookup must not filter on it."""
    message = make_message(Channel.SMS)
    recorder = Recorder(pages([listed(message, status="queued", date_sent=None)]))

    (answer,) = adapter(recorder).reconcile([message])

    assert answer.presence is Presence.PRESENT
    assert not any(name.startswith("DateSent") for name in recorder.requests[0].url.params)


@pytest.mark.parametrize(
    "changes",
    [
        {"body": "some other text"},
        {"from": "+14155550199"},
        {"date_created": format_datetime(CREATED_AT - timedelta(minutes=2))},
    ],
)
def test_reconcile_ignores_other_messages(make_message: MakeMessage, changes: dict[str, Any]) -> None:
    message = make_message(Channel.SMS)

    (answer,) = adapter(Recorder(pages([listed(message, **changes)]))).reconcile([message])

    assert answer.presence == Presence.ABSENT
    assert answer.provider_id is None


def test_reconcile_allows_a_minute_of_clock_skew(make_message: MakeMessage) -> None:
    message = make_message(Channel.SMS)
    early = listed(message, date_created=format_datetime(CREATED_AT - timedelta(seconds=40)))

    (answer,) = adapter(Recorder(pages([early]))).reconcile([message])

    assert answer.presence == Presence.PRESENT


def test_reconcile_matches_a_messaging_service_by_its_sid(make_message: MakeMessage) -> None:
    message = make_message(Channel.SMS)
    item = listed(message, **{"from": None, "messaging_service_sid": SERVICE})

    (answer,) = adapter(Recorder(pages([item])), messaging_service_sid=SERVICE).reconcile([message])

    assert answer.presence == Presence.PRESENT


def test_reconcile_follows_next_page_uri(make_message: MakeMessage) -> None:
    message = make_message(Channel.SMS)
    other = listed(message, body="older update")
    recorder = Recorder(pages([other], [other], [listed(message, sid="SM" + "03" * 16)]))

    (answer,) = adapter(recorder).reconcile([message])

    assert answer.provider_id == "SM" + "03" * 16
    assert [r.url.params.get("Page") for r in recorder.requests] == [None, "1", "2"]
    assert all(str(r.url).startswith(MESSAGES) for r in recorder.requests)


def test_reconcile_absent_after_the_last_page(make_message: MakeMessage) -> None:
    message = make_message(Channel.SMS)
    recorder = Recorder(pages([], []))

    (answer,) = adapter(recorder).reconcile([message])

    assert answer.presence == Presence.ABSENT
    assert len(recorder.requests) == 2


def test_reconcile_an_invalid_number_is_absent_without_a_lookup(make_message: MakeMessage) -> None:
    recorder = Recorder()

    (answer,) = adapter(recorder).reconcile([make_message(Channel.SMS, address="nope")])

    assert answer.presence == Presence.ABSENT
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("handler", "error"),
    [
        (twilio_error(500, 20500), InDoubt),
        (twilio_error(401, 20003), PermanentChannelError),
        (twilio_error(429, 20429), RateLimited),
    ],
)
def test_a_failed_lookup_answers_for_its_own_message(
    make_message: MakeMessage, handler: Handler, error: type[Exception]
) -> None:
    """A lookup that fails leaves its message in doubt; it never fails the batch's other lookups
    (issue 12: one failed lookup in fifty retried all fifty, and burnt their budgets)."""
    (answer,) = adapter(Recorder(handler)).reconcile([make_message(Channel.SMS)])

    assert answer.presence is Presence.UNKNOWN and isinstance(answer.error, error)


def test_one_failed_lookup_does_not_hold_back_the_others(make_message: MakeMessage) -> None:
    first, second = make_message(Channel.SMS, 1), make_message(Channel.SMS, 2, address="+14155550002")
    calls = {"n": 0}

    def once_down(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            return twilio_error(500, 20500)(request)
        return pages([listed(second, sid="SM" + "02" * 16, to="+14155550002")])(request)

    answers = adapter(Recorder(once_down)).reconcile([first, second])

    assert isinstance(answers[0].error, InDoubt)
    assert (answers[1].presence, answers[1].error) == (Presence.PRESENT, None)


def test_a_lookup_that_cannot_connect_leaves_the_rest_unasked(make_message: MakeMessage) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    recorder = Recorder(refuse)
    answers = adapter(recorder).reconcile([make_message(Channel.SMS, 1), make_message(Channel.SMS, 2)])

    assert all(
        isinstance(a.error, TransientChannelError) and not isinstance(a.error, InDoubt) for a in answers
    )
    assert len(recorder.requests) == 1


# ── configuration ─────────────────────────────────────────────────────────────────────────────────


def test_repr_hides_the_token_and_most_of_the_sid() -> None:
    text = repr(adapter(Recorder()))

    assert "https://twilio.test" in text and "AC1a2b" in text
    assert TOKEN not in text and SID not in text


def test_from_settings_defaults_to_the_sandbox(make_message: MakeMessage) -> None:
    recorder = Recorder()
    settings = Settings(
        _env_file=None, sandbox_url="http://127.0.0.1:9999", public_url="http://localhost:8765/"
    )

    SmsAdapter.from_settings(settings, client=recorder.client()).send([make_message(Channel.SMS)])

    (request,) = recorder.requests
    assert (
        str(request.url) == f"http://127.0.0.1:9999/2010-04-01/Accounts/{SANDBOX_ACCOUNT_SID}/Messages.json"
    )
    credentials = base64.b64encode(f"{SANDBOX_ACCOUNT_SID}:{SANDBOX_AUTH_TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {credentials}"
    assert recorder.forms[0]["From"] == SANDBOX_FROM_NUMBER
    assert recorder.forms[0]["StatusCallback"] == "http://localhost:8765/webhooks/twilio/status"


def test_from_settings_uses_real_credentials_when_set(make_message: MakeMessage) -> None:
    recorder = Recorder()
    settings = Settings(
        _env_file=None,
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_messaging_service_sid=SERVICE,
        twilio_base_url="https://twilio.test",
        public_url="https://status.example.com",
    )

    sms = SmsAdapter.from_settings(settings, client=recorder.client())
    sms.send([make_message(Channel.SMS)])

    assert str(recorder.requests[0].url) == MESSAGES
    assert recorder.forms[0]["MessagingServiceSid"] == SERVICE
    assert recorder.forms[0]["StatusCallback"] == "https://status.example.com/webhooks/twilio/status"


@pytest.mark.parametrize("public_url", ["http://my_host.internal", "http://clarion_web:8765"])
def test_no_status_callback_twilio_could_not_call(make_message: MakeMessage, public_url: str) -> None:
    """(A public URL that is not http(s) with a host is refused by the settings themselves.)"""
    recorder = Recorder()
    settings = Settings(_env_file=None, public_url=public_url)

    SmsAdapter.from_settings(settings, client=recorder.client()).send([make_message(Channel.SMS)])

    assert "StatusCallback" not in recorder.forms[0]


REAL = {"twilio_account_sid": SID, "twilio_auth_token": TOKEN}


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"twilio_account_sid": SID, "twilio_from_number": FROM}, "twilio_auth_token"),
        ({"twilio_auth_token": TOKEN, "twilio_from_number": FROM}, "twilio_account_sid"),
        (REAL | {"twilio_account_sid": "AC123", "twilio_from_number": FROM}, "twilio_account_sid"),
        (REAL, "twilio_messaging_service_sid or twilio_from_number"),
        (REAL | {"twilio_from_number": FROM, "twilio_base_url": "twilio"}, "twilio_base_url"),
        ({"twilio_from_number": "+1555123456"}, "twilio_from_number"),
        ({"twilio_messaging_service_sid": "MG-nope"}, "twilio_messaging_service_sid"),
        ({"sandbox_url": "127.0.0.1:8766"}, "sandbox_url"),
    ],
)
def test_bad_configuration_fails_fast_naming_the_setting(settings: dict[str, Any], named: str) -> None:
    """A URL that is not http(s) with a host is refused by the settings, anything else by the adapter."""
    with pytest.raises((ConfigError, ValidationError), match=named):
        SmsAdapter.from_settings(Settings(_env_file=None, **settings), client=Recorder().client())


@pytest.mark.parametrize("validity_period", [0, 36_001])
def test_validity_period_is_checked(validity_period: int) -> None:
    with pytest.raises(ConfigError, match="validity_period"):
        adapter(Recorder(), validity_period=validity_period)


def test_naive_timestamps_read_as_utc(make_message: MakeMessage) -> None:
    message = make_message(Channel.SMS, created_at=datetime(2026, 3, 1, 0, 0, 30))
    within = listed(message, date_created="Sat, 28 Feb 2026 23:59:45 +0000")
    before = listed(message, date_created="Sat, 28 Feb 2026 23:58:00 +0000")

    (found,) = adapter(Recorder(pages([within]))).reconcile([message])
    (missing,) = adapter(Recorder(pages([before]))).reconcile([message])

    assert (found.presence, missing.presence) == (Presence.PRESENT, Presence.ABSENT)
