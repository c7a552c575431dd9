"""Bluesky XRPC over loopback: sessions and their expiry, createRecord validation, getRecord."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from channels.sandbox import BLUESKY_SANDBOX_DID, BLUESKY_SANDBOX_HANDLE, SandboxHandle
from tests.channels.sandbox.helpers import bluesky_session, post_record

CREATE = "/xrpc/com.atproto.repo.createRecord"
GET = "/xrpc/com.atproto.repo.getRecord"
FACET = "app.bsky.richtext.facet"


def create(client: httpx.Client, token: str, record: dict[str, Any], **extra: Any) -> httpx.Response:
    body = {"repo": BLUESKY_SANDBOX_DID, "collection": "app.bsky.feed.post", "record": record, **extra}
    return client.post(CREATE, headers={"Authorization": f"Bearer {token}"}, json=body)


def xrpc_error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error"], body["message"]


def test_post_is_created_recorded_and_readable(client: httpx.Client, sandbox: SandboxHandle) -> None:
    session = bluesky_session(client)
    assert (session["did"], session["handle"]) == (BLUESKY_SANDBOX_DID, BLUESKY_SANDBOX_HANDLE)

    link = {
        "index": {"byteStart": 9, "byteEnd": 28},
        "features": [{"$type": f"{FACET}#link", "uri": "https://x.test"}],
    }
    record = post_record("Störung: https://x.test/i/1", facets=[link], langs=["de"])
    response = create(client, session["accessJwt"], record)

    assert response.status_code == 200, response.text
    created = response.json()
    rkey = created["uri"].rsplit("/", 1)[1]
    assert created["uri"] == f"at://{BLUESKY_SANDBOX_DID}/app.bsky.feed.post/{rkey}"
    assert created["cid"].startswith("bafyrei") and created["validationStatus"] == "valid"
    assert set(created["commit"]) == {"cid", "rev"}
    fetched = client.get(
        GET, params={"repo": BLUESKY_SANDBOX_DID, "collection": "app.bsky.feed.post", "rkey": rkey}
    )
    assert fetched.json() == {"uri": created["uri"], "cid": created["cid"], "value": record}
    (inbox_record,) = sandbox.inbox("bluesky")
    assert (inbox_record.idempotency_key, inbox_record.text) == (rkey, "Störung: https://x.test/i/1")


def test_generated_rkeys_are_tids_and_given_ones_are_kept(client: httpx.Client) -> None:
    token = bluesky_session(client)["accessJwt"]
    generated = create(client, token, post_record()).json()["uri"].rsplit("/", 1)[1]
    given = create(client, token, post_record(), rkey="3kabcdefghijk").json()["uri"]

    assert len(generated) == 13 and generated[0] in "234567abcdefghij"
    assert given.endswith("/3kabcdefghijk")


def test_a_second_create_with_the_same_rkey_is_500(client: httpx.Client, sandbox: SandboxHandle) -> None:
    token = bluesky_session(client)["accessJwt"]
    assert create(client, token, post_record(), rkey="3kabcdefghijk").status_code == 200

    again = create(client, token, post_record("other"), rkey="3kabcdefghijk")

    assert xrpc_error(again) == (500, "InternalServerError", "Internal Server Error")
    assert len(sandbox.inbox("bluesky")) == 1


def test_get_record_of_an_unknown_rkey_is_400_record_not_found(client: httpx.Client) -> None:
    params = {"repo": BLUESKY_SANDBOX_DID, "collection": "app.bsky.feed.post", "rkey": "3kabcdefghijk"}

    status, error, _ = xrpc_error(client.get(GET, params=params))

    assert (status, error) == (400, "RecordNotFound")


def test_bad_password_is_401(client: httpx.Client) -> None:
    response = client.post(
        "/xrpc/com.atproto.server.createSession", json={"identifier": BLUESKY_SANDBOX_HANDLE, "password": "x"}
    )

    assert xrpc_error(response)[:2] == (401, "AuthenticationRequired")


def test_missing_and_malformed_tokens(client: httpx.Client) -> None:
    missing = client.post(CREATE, json={})
    malformed = create(client, "not.a.jwt", post_record())
    refresh_as_access = create(client, bluesky_session(client)["refreshJwt"], post_record())

    assert xrpc_error(missing)[:2] == (401, "AuthMissing")
    assert xrpc_error(malformed)[:2] == (400, "InvalidToken")
    assert xrpc_error(refresh_as_access)[:2] == (400, "InvalidToken")


def test_an_expired_access_token_is_400_and_refresh_gives_a_working_one(
    client: httpx.Client, sandbox: SandboxHandle
) -> None:
    sandbox.configure(bluesky_access_ttl_seconds=0.2)
    session = bluesky_session(client)
    time.sleep(0.3)

    assert xrpc_error(create(client, session["accessJwt"], post_record())) == (
        400,
        "ExpiredToken",
        "Token has expired",
    )
    sandbox.configure(bluesky_access_ttl_seconds=60)
    refreshed = client.post(
        "/xrpc/com.atproto.server.refreshSession",
        headers={"Authorization": f"Bearer {session['refreshJwt']}"},
    )
    assert refreshed.status_code == 200
    assert create(client, refreshed.json()["accessJwt"], post_record()).status_code == 200


@pytest.mark.parametrize(
    ("record", "extra", "message"),
    [
        (post_record("x" * 301), {}, "Record/text must not be longer than 300 graphemes"),
        (post_record("👩‍👩‍👧‍👦" * 121), {}, "Record/text must not be longer than 3000 characters"),  # bytes
        (post_record(langs=["en", "de", "fr", "es"]), {}, "Record/langs must not have more than 3 elements"),
        (post_record(createdAt="yesterday"), {}, "Record/createdAt must be a valid datetime"),
        ({"$type": "app.bsky.feed.post", "text": "hi"}, {}, 'Record must have the property "createdAt"'),
        (
            post_record("hé", facets=[{"index": {"byteStart": 0, "byteEnd": 4}, "features": []}]),
            {},
            "Record/facets/0/index/byteEnd must not be greater than the text's 3 UTF-8 bytes",
        ),
        (
            post_record(
                facets=[{"index": {"byteStart": 0, "byteEnd": 2}, "features": [{"$type": f"{FACET}#lnk"}]}]
            ),
            {},
            "Record/facets/0/features/0 $type must be one of",
        ),
        (post_record(), {"rkey": "not-a-tid"}, "Input/rkey must be a valid TID"),
        (post_record(), {"collection": "app.bsky.feed.like"}, "Input/collection"),
        (post_record(), {"repo": "did:plc:someoneelse"}, "Could not find repo: did:plc:someoneelse"),
        ({**post_record(), "$type": "app.bsky.feed.like"}, {}, "Invalid $type: expected app.bsky.feed.post"),
        ("a string", {}, "Input/record must be an object"),
    ],
)
def test_invalid_records_are_400_naming_the_field(
    client: httpx.Client, sandbox: SandboxHandle, record: Any, extra: dict[str, Any], message: str
) -> None:
    response = create(client, bluesky_session(client)["accessJwt"], record, **extra)

    status, error, text = xrpc_error(response)
    assert (status, error) == (400, "InvalidRequest")
    assert message in text
    assert sandbox.inbox() == []


@pytest.mark.parametrize("text", ["👩‍👩‍👧‍👦" * 120, "é" * 300], ids=["3000 bytes", "300 graphemes"])
def test_texts_at_the_limits_fit(client: httpx.Client, text: str) -> None:
    response = create(client, bluesky_session(client)["accessJwt"], post_record(text))

    assert response.status_code == 200, response.text


def test_validate_false_skips_the_post_lexicon(client: httpx.Client) -> None:
    response = create(client, bluesky_session(client)["accessJwt"], post_record("x" * 301), validate=False)

    assert response.json()["validationStatus"] == "unknown"
