"""SendGrid mail/send over loopback: auth, the official schema, the rules it leaves out, the inbox."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from channels.sandbox import SandboxHandle
from tests.channels.sandbox.helpers import SENDGRID_AUTH, mail

SEND = "/v3/mail/send"


def errors(response: httpx.Response) -> list[tuple[str | None, str]]:
    return [(e["field"], e["message"]) for e in response.json()["errors"]]


def test_accepted_mail_is_recorded_once_per_recipient(client: httpx.Client, sandbox: SandboxHandle) -> None:
    response = client.post(SEND, headers=SENDGRID_AUTH, json=mail("a@example.com", "b@example.com"))

    assert response.status_code == 202
    assert response.content == b""
    message_id = response.headers["X-Message-Id"]
    assert len(message_id) == 22
    records = sandbox.inbox("email")
    assert [(r.address, r.delivery_id, r.idempotency_key) for r in records] == [
        ("a@example.com", "d-0", "k-0"),
        ("b@example.com", "d-1", "k-1"),
    ]
    assert {r.provider_id for r in records} == {message_id}
    assert records[0].subject == "Payments outage"
    assert records[0].text == "We are investigating."


def test_top_level_custom_args_are_an_object_and_personalizations_override_them(
    client: httpx.Client, sandbox: SandboxHandle
) -> None:
    body = mail("a@example.com", custom_args={"delivery_id": "top", "incident": "INC-1"})
    body["personalizations"][0]["custom_args"] = {"idempotency_key": "k-a"}  # type: ignore[index]

    assert client.post(SEND, headers=SENDGRID_AUTH, json=body).status_code == 202
    (record,) = sandbox.inbox("sendgrid")
    assert (record.delivery_id, record.idempotency_key) == ("top", "k-a")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-sendgrid-key"}, {"Authorization": "SG.key-without-bearer"}],
)
def test_missing_or_wrong_key_is_401(client: httpx.Client, headers: dict[str, str]) -> None:
    response = client.post(SEND, headers=headers, json=mail("a@example.com"))

    assert response.status_code == 401
    assert response.json() == {"errors": [{"message": "authorization required", "field": None, "help": None}]}


def test_a_configured_key_is_the_only_one_accepted(client: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(sendgrid_api_key="SG.exact")

    assert client.post(SEND, headers=SENDGRID_AUTH, json=mail("a@example.com")).status_code == 401
    ok = client.post(SEND, headers={"Authorization": "Bearer SG.exact"}, json=mail("a@example.com"))
    assert ok.status_code == 202


def test_every_schema_violation_is_listed_with_its_field(
    client: httpx.Client, sandbox: SandboxHandle
) -> None:
    body = mail("a@example.com", "b@example.com", "c@example.com", "not-an-address")
    body["categories"] = ["x"] * 2  # uniqueItems
    del body["from"]

    response = client.post(SEND, headers=SENDGRID_AUTH, json=body)

    assert response.status_code == 400
    fields = [field for field, _ in errors(response)]
    assert fields == ["categories", "from", "personalizations.3.to.0.email"]
    assert "does not contain a valid email address" in errors(response)[2][1]
    assert sandbox.inbox() == []


def test_top_level_custom_args_as_a_string_is_refused(client: httpx.Client) -> None:
    response = client.post(SEND, headers=SENDGRID_AUTH, json=mail("a@example.com", custom_args="x"))

    assert response.status_code == 400
    assert errors(response) == [("custom_args", "custom_args must be of type object.")]


def test_more_than_1000_recipients_in_total_is_400(client: httpx.Client, sandbox: SandboxHandle) -> None:
    body = mail(*(f"user{i}@example.com" for i in range(1000)))
    body["personalizations"][0]["cc"] = [{"email": "one-too-many@example.com"}]  # type: ignore[index]

    response = client.post(SEND, headers=SENDGRID_AUTH, json=body)

    assert response.status_code == 400
    ((field, message),) = errors(response)
    assert field == "personalizations"
    assert "no more than 1000" in message and "1001" in message
    assert sandbox.stats()["accepted"]["email"] == 0


def test_1000_recipients_are_accepted(client: httpx.Client, sandbox: SandboxHandle) -> None:
    body = mail(*(f"user{i}@example.com" for i in range(1000)))

    assert client.post(SEND, headers=SENDGRID_AUTH, json=body).status_code == 202
    assert sandbox.stats()["accepted"]["email"] == 1000


def test_an_address_twice_in_one_request_is_400_whatever_its_case(client: httpx.Client) -> None:
    body = mail("a@example.com", "b@example.com", "A@Example.com")

    response = client.post(SEND, headers=SENDGRID_AUTH, json=body)

    assert response.status_code == 400
    ((field, message),) = errors(response)
    assert field == "personalizations.2.to.0.email"
    assert "personalizations.0.to.0.email" in message


def test_names_with_separators_and_oversized_custom_args_are_400(client: httpx.Client) -> None:
    body = mail("a@example.com", "b@example.com")
    body["personalizations"][0]["to"][0]["name"] = "Doe, Jane"  # type: ignore[index]
    body["personalizations"][1]["custom_args"] = {"blob": "x" * 10_001}  # type: ignore[index]

    response = client.post(SEND, headers=SENDGRID_AUTH, json=body)

    assert response.status_code == 400
    assert [field for field, _ in errors(response)] == [
        "personalizations.0.to.0.name",
        "personalizations.1.custom_args",
    ]


def test_content_and_subject_are_required_without_a_template(client: httpx.Client) -> None:
    body = mail("a@example.com")
    del body["content"], body["subject"]

    response = client.post(SEND, headers=SENDGRID_AUTH, json=body)
    assert [field for field, _ in errors(response)] == ["content", "subject"]

    with_template = client.post(SEND, headers=SENDGRID_AUTH, json={**body, "template_id": "d-123"})
    assert with_template.status_code == 202


def test_over_30_mb_is_413_even_when_gzipped(client: httpx.Client, sandbox: SandboxHandle) -> None:
    huge = mail("a@example.com")
    huge["content"] = [{"type": "text/plain", "value": "x" * (31 * 1024 * 1024)}]
    packed = gzip.compress(json.dumps(huge).encode())
    headers = {**SENDGRID_AUTH, "Content-Encoding": "gzip", "Content-Type": "application/json"}

    response = client.post(SEND, headers=headers, content=packed)

    assert response.status_code == 413
    assert errors(response) == [(None, "content too large")]
    assert sandbox.inbox() == []


def test_gzipped_body_is_accepted(client: httpx.Client) -> None:
    headers = {**SENDGRID_AUTH, "Content-Encoding": "gzip", "Content-Type": "application/json"}
    packed = gzip.compress(json.dumps(mail("a@example.com")).encode())

    assert client.post(SEND, headers=headers, content=packed).status_code == 202


def test_invalid_json_is_400(client: httpx.Client) -> None:
    response = client.post(SEND, headers={**SENDGRID_AUTH, "Content-Type": "application/json"}, content=b"{")

    assert response.status_code == 400
    assert errors(response) == [(None, "The JSON you have submitted cannot be parsed.")]


def test_a_retry_is_a_second_message_and_counts_as_a_duplicate(
    client: httpx.Client, sandbox: SandboxHandle
) -> None:
    for _ in range(2):
        assert client.post(SEND, headers=SENDGRID_AUTH, json=mail("a@example.com")).status_code == 202

    assert len(sandbox.inbox("email")) == 2
    assert sandbox.stats()["duplicates"]["email"] == 1
