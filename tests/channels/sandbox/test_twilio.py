"""Twilio Messages.json over loopback: create, the error codes, the list a client reconciles with."""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from channels.sandbox import TWILIO_SANDBOX_SID, SandboxHandle
from tests.channels.sandbox.helpers import MESSAGES, TWILIO_AUTH, sms
from tests.helpers import ROOT

SERVICE = "MG" + "1" * 32


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` as JSON Schema: ``type: [T, "null"]``."""
    if isinstance(node, dict):
        node = {k: _nullable(v) for k, v in node.items()}
        if node.pop("nullable", False) and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        return node
    return [_nullable(v) for v in node] if isinstance(node, list) else node


@cache
def message_schema() -> Draft202012Validator:
    path = ROOT / "channels" / "sandbox" / "schemas" / "twilio_message_resource.schema.json"
    checker = FormatChecker()

    @checker.checks("date-time-rfc-2822")
    def rfc_2822(value: object) -> bool:
        return not isinstance(value, str) or email.utils.parsedate_to_datetime(value) is not None

    schema = _nullable(json.loads(path.read_text()))
    schema["required"] = ["sid", "status", "to", "date_created", "uri", "num_segments"]
    return Draft202012Validator(schema, format_checker=checker)


def create(client: httpx.Client, form: dict[str, Any]) -> httpx.Response:
    return client.post(MESSAGES, auth=TWILIO_AUTH, data=form)


def assert_error(response: httpx.Response, status: int, code: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert (body["code"], body["status"]) == (code, status)
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"


def test_created_message_matches_the_official_schema(client: httpx.Client, sandbox: SandboxHandle) -> None:
    response = create(client, sms(body="x" * 161))

    assert response.status_code == 201
    message = response.json()
    assert list(message_schema().iter_errors(message)) == []
    assert message["sid"].startswith("SM") and len(message["sid"]) == 34
    assert (message["status"], message["num_segments"], message["to"]) == ("queued", "2", "+4915112345678")
    assert message["uri"] == f"{MESSAGES.removesuffix('.json')}/{message['sid']}.json"
    (record,) = sandbox.inbox("sms")
    assert (record.provider_id, record.address, record.text) == (message["sid"], "+4915112345678", "x" * 161)


def test_messaging_service_sends_are_accepted_and_media_urls_repeat(client: httpx.Client) -> None:
    form = {"To": "+4915112345678", "MessagingServiceSid": SERVICE, "MediaUrl": ["https://a.test/1.png"]}
    form["MediaUrl"].append("https://a.test/2.png")

    message = create(client, form).json()

    assert (message["status"], message["num_segments"], message["num_media"]) == ("accepted", "0", "2")
    assert message["from"] is None
    assert list(message_schema().iter_errors(message)) == []


@pytest.mark.parametrize(
    "auth", [None, (TWILIO_SANDBOX_SID, "wrong"), ("AC" + "f" * 32, "sandbox-auth-token")]
)
def test_wrong_credentials_are_401_20003(client: httpx.Client, auth: tuple[str, str] | None) -> None:
    response = client.post(MESSAGES, auth=auth, data=sms()) if auth else client.post(MESSAGES, data=sms())

    assert_error(response, 401, 20003)
    assert response.json()["message"] == "Authenticate"


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": "+15005550006", "Body": "hi"}, 21604),
        (sms(to="004915112345678"), 21211),
        ({"To": "+4915112345678", "Body": "hi"}, 21603),
        (sms(From="not a sender!"), 21212),
        ({"To": "+4915112345678", "From": "+15005550006"}, 21602),
        (sms(body="x" * 1601), 21617),
        (sms(ValidityPeriod="soon"), 20001),
        (sms(MessagingServiceSid="MG123"), 20001),
    ],
)
def test_invalid_requests_get_twilios_codes(
    client: httpx.Client, sandbox: SandboxHandle, form: dict[str, str], code: int
) -> None:
    assert_error(create(client, form), 400, code)
    assert sandbox.inbox() == []


def test_schema_violations_name_the_parameter(client: httpx.Client) -> None:
    response = create(client, sms(ValidityPeriod="soon"))

    assert "ValidityPeriod" in response.json()["message"]


def test_coerced_types_pass_the_schema(client: httpx.Client) -> None:
    form = sms(ValidityPeriod="600", SmartEncoded="true", ContentRetention="discard")

    assert create(client, form).status_code == 201


def test_a_number_that_replied_stop_is_refused_with_21610(client: httpx.Client) -> None:
    assert create(client, sms()).status_code == 201

    stopped = client.post("/_sandbox/twilio/stop", json={"number": "+4915112345678"})
    assert stopped.json() == {"opted_out": ["+4915112345678"]}
    assert_error(create(client, sms()), 400, 21610)

    client.post("/_sandbox/twilio/start", json={"number": "+4915112345678"})
    assert create(client, sms()).status_code == 201


def test_fetch_shows_the_message_sent_and_404_otherwise(client: httpx.Client) -> None:
    sid = create(client, sms()).json()["sid"]
    base = MESSAGES.removesuffix(".json")

    fetched = client.get(f"{base}/{sid}.json", auth=TWILIO_AUTH).json()
    assert (fetched["sid"], fetched["status"], fetched["from"]) == (sid, "sent", "+15005550006")
    assert fetched["date_sent"] == fetched["date_created"]
    assert list(message_schema().iter_errors(fetched)) == []

    missing = client.get(f"{base}/SM{'0' * 32}.json", auth=TWILIO_AUTH)
    assert_error(missing, 404, 20404)


def listing(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get(MESSAGES, auth=TWILIO_AUTH, params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_list_filters_by_to_from_and_date_sent(client: httpx.Client) -> None:
    first = create(client, sms(to="+4915100000001")).json()["sid"]
    second = create(client, sms(to="+4915100000002")).json()["sid"]
    third = create(client, sms(to="+4915100000001", From="ACME")).json()["sid"]
    today = datetime.now(UTC).date()
    tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)

    def sids(**params: Any) -> list[str]:
        return [m["sid"] for m in listing(client, **params)["messages"]]

    assert sids() == [third, second, first]  # newest first
    assert sids(To="+4915100000001") == [third, first]
    assert sids(To="+4915100000001", From="+15005550006") == [first]
    assert sids(DateSent=today.isoformat()) == [third, second, first]
    assert sids(**{"DateSent>": tomorrow.isoformat()}) == []
    assert sids(**{"DateSent<": yesterday.isoformat()}) == []
    assert sids(**{"DateSent>": today.isoformat(), "DateSent<": today.isoformat()}) == [third, second, first]
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sids(**{"DateSent>": an_hour_ago}) == [third, second, first]


def test_list_pages_with_next_page_uri(client: httpx.Client) -> None:
    sids = [create(client, sms(to=f"+49151000000{i:02d}")).json()["sid"] for i in range(5)]

    page = listing(client, PageSize=2)
    seen = [m["sid"] for m in page["messages"]]
    assert (page["page"], page["page_size"], page["start"], page["end"]) == (0, 2, 0, 1)
    while page["next_page_uri"]:
        response = client.get(page["next_page_uri"], auth=TWILIO_AUTH)
        page = response.json()
        seen += [m["sid"] for m in page["messages"]]
    assert seen == sids[::-1]
    assert page["page"] == 2 and page["previous_page_uri"] is not None


def test_list_with_a_bad_date_is_400(client: httpx.Client) -> None:
    response = client.get(MESSAGES, auth=TWILIO_AUTH, params={"DateSent": "yesterday"})

    assert_error(response, 400, 20001)


def test_same_to_and_body_twice_counts_as_a_duplicate(client: httpx.Client, sandbox: SandboxHandle) -> None:
    create(client, sms())
    create(client, sms())
    create(client, sms(body="Payments are back."))

    assert sandbox.stats()["duplicates"]["sms"] == 1


def test_delivery_id_in_the_status_callback_is_the_duplicate_key(
    client: httpx.Client, sandbox: SandboxHandle
) -> None:
    callback = "https://clarion.test/webhooks/twilio?delivery_id={}"
    create(client, sms(StatusCallback=callback.format(7)))
    create(client, sms(body="other words", StatusCallback=callback.format(7)))

    assert [r.delivery_id for r in sandbox.inbox("sms")] == ["7", "7"]
    assert sandbox.stats()["duplicates"]["sms"] == 1
