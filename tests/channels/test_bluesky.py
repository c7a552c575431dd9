"""The Bluesky adapter against a fake PDS on ``httpx.MockTransport``, and the record it writes.

The fake checks every createRecord against the lexicon rules a test can check without the atproto
toolchain (``channels/sandbox/schemas/``): required fields, TID record keys, the post record, and
facets whose UTF-8 byte ranges really cover the URL they link.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.bluesky import SANDBOX_APP_PASSWORD, SANDBOX_IDENTIFIER, BlueskyAdapter
from channels.bluesky_post import TID_ALPHABET, link_facets, make_tid
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
from clarion.updates.limits import graphemes, utf8_bytes

PDS = "https://pds.example"
HANDLE = "status.example.com"
PASSWORD = "abcd-efgh-ijkl-mnop"
DID = "did:plc:clarionstatus0000000000"
NOW = datetime(2026, 3, 1, 9, 30, 5, 123456, tzinfo=UTC)
TEXT = "INC-0042: payments are degraded. Next update 10:30 UTC. https://status.example.com/INC-0042"

# From the lexicons and the atproto specs, written out here rather than imported from the code.
TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
DATETIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
NSID_RE = re.compile(r"^[a-zA-Z]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)+$")
CREATE_RECORD_FIELDS = {"repo", "collection", "rkey", "validate", "record", "swapCommit"}
POST_FIELDS = {
    "$type",
    "text",
    "entities",
    "facets",
    "reply",
    "embed",
    "langs",
    "labels",
    "tags",
    "createdAt",
}


def message(n: int = 1, **changes: Any) -> OutboundMessage:
    """Delivery ``n``: a Bluesky broadcast of INC-0042; ``changes`` override any field."""
    built = OutboundMessage(
        delivery_id=n,
        idempotency_key=f"INC-0042/u1/bluesky/{n}",
        channel=Channel.BLUESKY,
        content=Content(rendition_id=n, locale="en", text=TEXT),
        incident_reference="INC-0042",
        severity="sev1",
        status="investigating",
        created_at=NOW + timedelta(microseconds=n),
    )
    return replace(built, **changes)


def text_message(text: str, n: int = 1, locale: str = "en") -> OutboundMessage:
    return message(n, content=Content(rendition_id=n, locale=locale, text=text))


def xrpc_error(status: int, error: str, text: str = "", **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "message": text or error}, headers=headers)


def check_create_record(body: dict[str, Any]) -> None:
    """Assert ``body`` is a createRecord input holding a valid app.bsky.feed.post."""
    assert set(body) <= CREATE_RECORD_FIELDS
    assert {"repo", "collection", "record"} <= set(body)
    assert body["repo"] == DID
    assert NSID_RE.match(body["collection"]) and body["collection"] == "app.bsky.feed.post"
    assert TID_RE.match(body["rkey"]), body["rkey"]
    record = body["record"]
    assert set(record) <= POST_FIELDS
    assert record["$type"] == "app.bsky.feed.post"
    text = record["text"]
    assert isinstance(text, str) and graphemes(text) <= 300 and utf8_bytes(text) <= 3000
    assert DATETIME_RE.match(record["createdAt"])
    langs = record.get("langs", [])
    assert len(langs) <= 3 and all(re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]+)*", lang) for lang in langs)
    data = text.encode("utf-8")
    for facet in record.get("facets", []):
        assert set(facet) == {"index", "features"}
        start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
        assert set(facet["index"]) == {"byteStart", "byteEnd"}
        assert isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(data)
        for feature in facet["features"]:
            assert feature["$type"] == "app.bsky.richtext.facet#link"
            assert feature["uri"].startswith(("http://", "https://"))
            assert data[start:end].decode("utf-8") == feature["uri"]


@dataclass
class FakePds:
    """A PDS: sessions that expire on demand, createRecord (duplicate rkey → 500), getRecord.

    ``answers[nsid]`` holds canned responses or exceptions for that method, served first.
    """

    answers: dict[str, list[httpx.Response | Exception]] = field(default_factory=dict)
    identifier: str = HANDLE
    password: str = PASSWORD
    requests: list[httpx.Request] = field(default_factory=list)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    access: set[str] = field(default_factory=set)
    expired: set[str] = field(default_factory=set)
    refresh: set[str] = field(default_factory=set)
    issued: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            nsid = request.url.path.removeprefix("/xrpc/")
            if self.answers.get(nsid):
                answer = self.answers[nsid].pop(0)
                if isinstance(answer, Exception):
                    raise answer
                return answer
            return getattr(self, nsid.rsplit(".", 1)[1])(request)

    def count(self, method: str) -> int:
        return sum(r.url.path == f"/xrpc/com.atproto.{method}" for r in self.requests)

    def expire_access_tokens(self) -> None:
        self.expired |= self.access
        self.access.clear()

    def _session(self) -> httpx.Response:
        self.issued += 1
        access, refresh = f"access-{self.issued}", f"refresh-{self.issued}"
        self.access.add(access)
        self.refresh.add(refresh)
        return httpx.Response(
            200, json={"did": DID, "handle": HANDLE, "accessJwt": access, "refreshJwt": refresh}
        )

    def _auth(self, request: httpx.Request, tokens: set[str]) -> httpx.Response | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token in tokens:
            return None
        if token in self.expired:
            return xrpc_error(400, "ExpiredToken", "Token has expired")
        return xrpc_error(401, "AuthMissing", "Authentication Required")

    def createSession(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert set(body) <= {"identifier", "password", "authFactorToken", "allowTakendown"}
        if (body["identifier"], body["password"]) != (self.identifier, self.password):
            return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
        return self._session()

    def refreshSession(self, request: httpx.Request) -> httpx.Response:
        assert request.content == b""
        refused = self._auth(request, self.refresh)
        if refused is not None:
            return refused
        self.refresh.discard(request.headers["authorization"].removeprefix("Bearer "))
        return self._session()

    def createRecord(self, request: httpx.Request) -> httpx.Response:
        refused = self._auth(request, self.access)
        if refused is not None:
            return refused
        body = json.loads(request.content)
        check_create_record(body)
        uri = f"at://{DID}/{body['collection']}/{body['rkey']}"
        if uri in self.records:  # the MST refuses the key; the PDS answers a generic 500
            return xrpc_error(500, "InternalServerError", "Internal Server Error")
        self.records[uri] = body["record"]
        return httpx.Response(
            200, json={"uri": uri, "cid": "bafyrei" + "a" * 52, "validationStatus": "valid"}
        )

    def getRecord(self, request: httpx.Request) -> httpx.Response:
        refused = self._auth(request, self.access)
        if refused is not None:
            return refused
        params = request.url.params
        uri = f"at://{params['repo']}/{params['collection']}/{params['rkey']}"
        if uri not in self.records:
            return xrpc_error(400, "RecordNotFound", f"Could not locate record: {uri}")
        return httpx.Response(200, json={"uri": uri, "cid": "bafyrei" + "b" * 52, "value": self.records[uri]})

    def posts(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.path.endswith("createRecord")]


def adapter(fake: FakePds, **kwargs: Any) -> BlueskyAdapter:
    options: dict[str, Any] = {"pds_url": PDS, "identifier": HANDLE, "app_password": PASSWORD} | kwargs
    return BlueskyAdapter(client=httpx.Client(transport=httpx.MockTransport(fake)), **options)


def uri_of(msg: OutboundMessage) -> str:
    return f"at://{DID}/app.bsky.feed.post/{make_tid(msg.created_at, msg.idempotency_key)}"


# ── posting ───────────────────────────────────────────────────────────────────────────────────────────


def test_a_message_becomes_one_post_under_its_deterministic_key() -> None:
    fake = FakePds()
    msg = message(content=Content(rendition_id=1, locale="de-DE", text=TEXT))

    [result] = adapter(fake).send([msg])

    assert result.accepted
    assert result.provider_id == uri_of(msg)
    [body] = fake.posts()
    assert body["rkey"] == make_tid(msg.created_at, msg.idempotency_key)
    assert body["record"] == {
        "$type": "app.bsky.feed.post",
        "text": TEXT,
        "createdAt": "2026-03-01T09:30:05.123Z",
        "langs": ["de"],
        "facets": [
            {
                "index": {"byteStart": 56, "byteEnd": 91},
                "features": [
                    {"$type": "app.bsky.richtext.facet#link", "uri": "https://status.example.com/INC-0042"}
                ],
            }
        ],
    }
    create = next(r for r in fake.requests if r.url.path.endswith("createRecord"))
    assert str(create.url) == f"{PDS}/xrpc/com.atproto.repo.createRecord"
    assert create.headers["authorization"] == "Bearer access-1"


def test_facet_offsets_count_utf8_bytes_after_accents_and_emoji() -> None:
    url = "https://status.example.com/INC-0042?ü=1"
    text = f"Störung 🔥👩‍👩‍👧 — Zahlungen (siehe {url}). Mehr: https://example.org/a_(b). Ende"
    fake = FakePds()

    assert adapter(fake).send([text_message(text)])[0].accepted

    facets = fake.posts()[0]["record"]["facets"]
    data = text.encode("utf-8")
    assert facets[0]["index"] == {
        "byteStart": data.index(url.encode()),
        "byteEnd": data.index(url.encode()) + len(url.encode()),
    }
    assert facets[0]["index"]["byteStart"] != text.index(url)  # bytes, not code points
    assert [f["features"][0]["uri"] for f in facets] == [url, "https://example.org/a_(b)"]


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("no links here", []),
        ("see https://a.example/x, then http://b.example/y.", ["https://a.example/x", "http://b.example/y"]),
        ("(https://a.example/x)", ["https://a.example/x"]),
        ("HTTPS://A.EXAMPLE/Path!", ["HTTPS://A.EXAMPLE/Path"]),
        ("just https:// alone", []),
        ("not ftp://a.example nor mailto:x@example.com", []),
        ("xhttps://glued.example", []),
    ],
)
def test_which_urls_become_links(text: str, links: list[str]) -> None:
    facets = link_facets(text)
    assert [f["features"][0]["uri"] for f in facets] == links
    data = text.encode()
    for facet in facets:
        index = facet["index"]
        assert data[index["byteStart"] : index["byteEnd"]].decode() == facet["features"][0]["uri"]


def test_a_locale_without_a_language_code_sends_no_langs_and_no_facets_without_links() -> None:
    fake = FakePds()
    adapter(fake).send([text_message("Payments degraded.", locale="x-private")])
    assert set(fake.posts()[0]["record"]) == {"$type", "text", "createdAt"}


@pytest.mark.parametrize(
    ("text", "measure"),
    [
        ("a" * 301, "301 graphemes"),
        ("👩‍👩‍👧‍👦" * 250, "6250 bytes"),  # 250 graphemes, 25 bytes each
        ("a\ud800b", "lone surrogate"),
    ],
)
def test_a_post_bluesky_would_refuse_is_refused_without_any_request(text: str, measure: str) -> None:
    fake = FakePds()
    [result] = adapter(fake).send([text_message(text)])
    assert isinstance(result.error, PermanentChannelError)
    assert measure in str(result.error)
    assert fake.requests == []


def test_exactly_300_graphemes_is_posted() -> None:
    fake = FakePds()
    assert adapter(fake).send([text_message("é" * 300)])[0].accepted


def test_a_retried_delivery_can_never_make_a_second_post() -> None:
    fake = FakePds()
    channel = adapter(fake)
    msg = message()

    assert channel.send([msg])[0].accepted
    [again] = channel.send([replace(msg, attempts=2, first_attempt_at=NOW + timedelta(minutes=3))])

    assert isinstance(again.error, InDoubt)
    assert again.error.code == "InternalServerError"
    assert "reconcile" in str(again.error)
    assert len(fake.records) == 1
    [found] = channel.reconcile([msg])
    assert (found.presence, found.provider_id) == (Presence.PRESENT, uri_of(msg))


# ── sessions ──────────────────────────────────────────────────────────────────────────────────────────


def test_one_session_serves_many_posts_and_threads() -> None:
    fake = FakePds()
    channel = adapter(fake)

    def post(n: int) -> None:
        for i in range(5):
            assert channel.send([message(n * 10 + i)])[0].accepted

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    channel.reconcile([message(1)])

    assert fake.count("server.createSession") == 1
    assert len(fake.records) == 40


def test_an_expired_token_is_refreshed_and_the_post_retried_once() -> None:
    fake = FakePds()
    channel = adapter(fake)
    channel.send([message(1)])
    fake.expire_access_tokens()

    [result] = channel.send([message(2)])

    assert result.accepted
    assert fake.count("server.createSession") == 1
    assert fake.count("server.refreshSession") == 1
    refresh = next(r for r in fake.requests if r.url.path.endswith("refreshSession"))
    assert refresh.headers["authorization"] == "Bearer refresh-1"
    assert [r.headers["authorization"] for r in fake.requests if r.url.path.endswith("createRecord")] == [
        "Bearer access-1",
        "Bearer access-1",
        "Bearer access-2",
    ]
    assert len(fake.records) == 2
    channel.send([message(3)])
    assert fake.count("server.refreshSession") == 1  # the refreshed session is kept


@pytest.mark.parametrize(
    "refusal",
    [
        xrpc_error(400, "ExpiredToken", "Token has expired"),
        xrpc_error(401, "InvalidToken"),
        xrpc_error(502, "UpstreamFailure"),
        httpx.ConnectError("refused"),
    ],
)
def test_a_failed_refresh_signs_in_again(refusal: httpx.Response | Exception) -> None:
    fake = FakePds(answers={"com.atproto.server.refreshSession": [refusal]})
    channel = adapter(fake)
    channel.send([message(1)])
    fake.expire_access_tokens()

    [result] = channel.send([message(2)])

    assert result.accepted
    assert fake.count("server.createSession") == 2
    assert len(fake.records) == 2


def test_a_token_still_expired_after_renewal_is_transient() -> None:
    expired = xrpc_error(400, "ExpiredToken", "Token has expired")
    fake = FakePds(answers={"com.atproto.repo.createRecord": [expired, expired]})
    [result] = adapter(fake).send([message()])
    assert type(result.error) is TransientChannelError
    assert result.error.code == "ExpiredToken"


def test_wrong_credentials_fail_the_whole_batch_with_one_sign_in() -> None:
    fake = FakePds()
    channel = adapter(fake, app_password="wrong-pass-word-0000")

    results = channel.send([message(1), message(2), message(3)])

    error = results[0].error
    assert isinstance(error, PermanentChannelError)
    assert error.status_code == 401
    assert error.code == "AuthenticationRequired"
    assert all(r.error is error for r in results)
    assert fake.count("server.createSession") == 1
    assert fake.posts() == []


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (xrpc_error(500, "InternalServerError"), TransientChannelError),
        (httpx.ReadTimeout("slow"), TransientChannelError),
        (xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded"), RateLimited),
        (httpx.Response(200, json={"handle": HANDLE}), TransientChannelError),
    ],
)
def test_a_failed_sign_in_never_leaves_a_post_in_doubt(
    answer: httpx.Response | Exception, kind: type[Exception]
) -> None:
    fake = FakePds(answers={"com.atproto.server.createSession": [answer]})
    channel = adapter(fake)

    [result] = channel.send([message()])
    assert type(result.error) is kind

    assert channel.send([message()])[0].accepted  # the next call signs in afresh
    assert fake.count("server.createSession") == 2


# ── errors ────────────────────────────────────────────────────────────────────────────────────────────


def test_an_invalid_request_is_permanent_with_the_provider_code() -> None:
    bad = xrpc_error(
        400, "InvalidRequest", "Invalid app.bsky.feed.post record: Record/text must not be longer"
    )
    fake = FakePds(answers={"com.atproto.repo.createRecord": [bad]})

    results = adapter(fake).send([message(1), message(2)])

    error = results[0].error
    assert isinstance(error, PermanentChannelError)
    assert (error.status_code, error.code) == (400, "InvalidRequest")
    assert "Record/text must not be longer" in str(error)
    assert results[1].accepted


def test_a_revoked_session_is_permanent_and_dropped() -> None:
    fake = FakePds()
    channel = adapter(fake)
    channel.send([message(1)])
    fake.access.clear()  # revoked, not expired: 401 AuthMissing

    results = channel.send([message(2), message(3)])

    assert isinstance(results[0].error, PermanentChannelError)
    assert results[0].error.status_code == 401
    assert results[1].error is results[0].error
    assert channel.send([message(4)])[0].accepted
    assert fake.count("server.createSession") == 2


def test_a_rate_limit_carries_the_reset_time_and_ends_the_batch() -> None:
    reset = str(int(datetime.now(UTC).timestamp()) + 300)
    limited = xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded", **{"RateLimit-Reset": reset})
    fake = FakePds(answers={"com.atproto.repo.createRecord": [limited]})

    results = adapter(fake).send([message(1), message(2)])

    error = results[0].error
    assert isinstance(error, RateLimited)
    assert error.code == "RateLimitExceeded"
    assert error.retry_after is not None and 290 < error.retry_after <= 300
    assert results[1].error is error
    assert len(fake.posts()) == 1


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (httpx.Response(502, text="bad gateway"), InDoubt),
        (httpx.Response(503, text="unavailable"), TransientChannelError),
        (httpx.ConnectError("refused"), TransientChannelError),
        (httpx.ReadTimeout("slow"), InDoubt),
        (httpx.Response(200, text="not json"), InDoubt),
    ],
)
def test_server_and_transport_failures(answer: httpx.Response | Exception, kind: type[Exception]) -> None:
    fake = FakePds(answers={"com.atproto.repo.createRecord": [answer]})
    [result] = adapter(fake).send([message()])
    assert type(result.error) is kind


# ── reconcile ─────────────────────────────────────────────────────────────────────────────────────────


def test_reconcile_finds_what_arrived_and_what_did_not() -> None:
    fake = FakePds()
    channel = adapter(fake)
    arrived, lost = message(1), message(2)
    channel.send([arrived])

    results = channel.reconcile([arrived, lost])

    assert [(r.delivery_id, r.presence, r.provider_id) for r in results] == [
        (1, Presence.PRESENT, uri_of(arrived)),
        (2, Presence.ABSENT, None),
    ]
    lookup = [r for r in fake.requests if r.url.path.endswith("getRecord")][-1]
    assert dict(lookup.url.params) == {
        "repo": DID,
        "collection": "app.bsky.feed.post",
        "rkey": make_tid(lost.created_at, lost.idempotency_key),
    }


def test_after_reconcile_absent_the_resend_posts() -> None:
    fake = FakePds(answers={"com.atproto.repo.createRecord": [httpx.ReadTimeout("slow")]})
    channel = adapter(fake)
    [first] = channel.send([message()])
    assert isinstance(first.error, InDoubt)
    assert channel.reconcile([message()])[0].presence is Presence.ABSENT
    assert channel.send([message()])[0].accepted


def test_a_record_key_holding_another_post_is_never_taken_for_ours() -> None:
    fake = FakePds()
    channel = adapter(fake)
    msg = message()
    fake.records[uri_of(msg)] = {"$type": "app.bsky.feed.post", "text": "someone else", "createdAt": "x"}

    [answer] = channel.reconcile([msg])
    assert isinstance(answer.error, PermanentChannelError) and "TID collision" in str(answer.error)
    assert answer.error.code == "RecordKeyTaken" and answer.presence is Presence.UNKNOWN


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (xrpc_error(400, "InvalidRequest", "bad rkey"), PermanentChannelError),
        (xrpc_error(503, "NotEnoughResources"), TransientChannelError),
        (httpx.Response(200, json={"uri": "at://x"}), InDoubt),
    ],
)
def test_reconcile_answers_what_it_cannot_read_as_that_messages_error(
    answer: httpx.Response, kind: type[Exception]
) -> None:
    fake = FakePds(answers={"com.atproto.repo.getRecord": [answer]})
    [reconciled] = adapter(fake).reconcile([message()])
    assert isinstance(reconciled.error, kind) and reconciled.presence is Presence.UNKNOWN


def test_reconcile_refreshes_an_expired_token_too() -> None:
    fake = FakePds()
    channel = adapter(fake)
    channel.send([message()])
    fake.expire_access_tokens()
    assert channel.reconcile([message()])[0].presence is Presence.PRESENT
    assert fake.count("server.refreshSession") == 1


def test_reconcile_without_a_session_answers_the_sign_in_error() -> None:
    [reconciled] = adapter(FakePds(), identifier="someone.else").reconcile([message()])
    assert isinstance(reconciled.error, PermanentChannelError)
    assert "Invalid identifier or password" in str(reconciled.error)


# ── record keys ───────────────────────────────────────────────────────────────────────────────────────

times = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))
keys = st.text(min_size=1, max_size=60)


def decode_tid(tid: str) -> tuple[int, int]:
    """(microseconds since the epoch, clock id) of a TID."""
    value = 0
    for char in tid:
        value = value * 32 + TID_ALPHABET.index(char)
    return value >> 10, value & 0x3FF


@settings(max_examples=300, deadline=None)
@given(when=times, key=keys)
def test_a_tid_is_valid_deterministic_and_encodes_the_time(when: datetime, key: str) -> None:
    tid = make_tid(when, key)
    assert TID_RE.match(tid)
    assert make_tid(when, key) == tid
    assert make_tid(when.astimezone(UTC).replace(tzinfo=None), key) == tid  # naive means UTC
    micros, clock_id = decode_tid(tid)
    assert micros == (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert 0 <= clock_id < 1024


@settings(max_examples=300, deadline=None)
@given(first=times, second=times, key_a=keys, key_b=keys)
def test_tids_sort_by_time_whatever_the_keys(
    first: datetime, second: datetime, key_a: str, key_b: str
) -> None:
    if first != second:
        assert (make_tid(first, key_a) < make_tid(second, key_b)) == (first < second)


@settings(max_examples=100, deadline=None)
@given(when=times, later=st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=9999)))
def test_the_clock_id_depends_on_the_key_only(when: datetime, later: timedelta) -> None:
    key = "INC-0042/u1/bluesky/1"
    assert decode_tid(make_tid(when, key))[1] == decode_tid(make_tid(when + later, key))[1]


def test_different_keys_get_different_clock_ids() -> None:
    clock_ids = [decode_tid(make_tid(NOW, f"INC-0042/u{n // 3}/bluesky/{n}"))[1] for n in range(2000)]
    assert len(set(clock_ids)) > 800  # 10 bits: about 879 distinct expected from 2000 random keys
    assert clock_ids[0] != clock_ids[1]
    assert len({make_tid(NOW, f"k{n}") for n in range(50)}) >= 48


@pytest.mark.parametrize(
    "when", [datetime(1969, 12, 31, 23, 59, tzinfo=UTC), datetime(2300, 1, 1, tzinfo=UTC)]
)
def test_a_time_outside_53_bits_has_no_tid(when: datetime) -> None:
    with pytest.raises(ValueError, match="TID"):
        make_tid(when, "k")


# ── configuration ─────────────────────────────────────────────────────────────────────────────────────


def test_repr_shows_the_account_never_a_secret() -> None:
    channel = adapter(FakePds())
    channel.send([message()])
    shown = repr(channel)
    assert HANDLE in shown and PDS in shown
    for secret in (PASSWORD, "access-1", "refresh-1"):
        assert secret not in shown


def test_from_settings_uses_the_sandbox_without_credentials() -> None:
    fake = FakePds(identifier=SANDBOX_IDENTIFIER, password=SANDBOX_APP_PASSWORD)
    settings_ = Settings(_env_file=None, sandbox_url="http://127.0.0.1:9999")

    channel = BlueskyAdapter.from_settings(
        settings_, client=httpx.Client(transport=httpx.MockTransport(fake))
    )

    assert channel.send([message()])[0].accepted
    sign_in = fake.requests[0]
    assert str(sign_in.url) == "http://127.0.0.1:9999/xrpc/com.atproto.server.createSession"
    assert json.loads(sign_in.content) == {"identifier": SANDBOX_IDENTIFIER, "password": SANDBOX_APP_PASSWORD}


def test_from_settings_uses_real_credentials_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARION_BLUESKY_IDENTIFIER", HANDLE)
    monkeypatch.setenv("CLARION_BLUESKY_APP_PASSWORD", PASSWORD)
    fake = FakePds()

    channel = BlueskyAdapter.from_settings(
        Settings(_env_file=None), client=httpx.Client(transport=httpx.MockTransport(fake))
    )

    assert channel.send([message()])[0].accepted
    assert str(fake.requests[0].url) == "https://bsky.social/xrpc/com.atproto.server.createSession"
    assert PASSWORD not in repr(channel)


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"bluesky_identifier": HANDLE}, "CLARION_BLUESKY_APP_PASSWORD"),
        ({"bluesky_app_password": PASSWORD}, "CLARION_BLUESKY_IDENTIFIER"),
        ({"bluesky_pds_url": PDS}, "CLARION_BLUESKY_IDENTIFIER"),
    ],
)
def test_half_a_configuration_fails_naming_the_setting(values: dict[str, str], missing: str) -> None:
    with pytest.raises(ConfigError, match=missing):
        BlueskyAdapter.from_settings(Settings(_env_file=None, **values), client=httpx.Client())


def test_a_pds_url_must_be_http() -> None:
    with pytest.raises(ConfigError, match="CLARION_BLUESKY_PDS_URL must be an http"):
        BlueskyAdapter(pds_url="pds.example", identifier=HANDLE, app_password=PASSWORD, client=httpx.Client())


def test_class_data() -> None:
    assert BlueskyAdapter.channel is Channel.BLUESKY
    assert BlueskyAdapter.no_duplicates is True
