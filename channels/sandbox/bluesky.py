"""Bluesky XRPC: sessions, createRecord and getRecord, answered as a PDS answers (docs.bsky.app).

Sessions: ``com.atproto.server.createSession`` with the configured handle (or DID) and app password
(wrong → 401 ``AuthenticationRequired``) returns HS256 JWTs; the access token lives
``bluesky_access_ttl_seconds`` (default 120 min), the refresh token 90 days.
``com.atproto.server.refreshSession`` takes the refresh token. Token errors are the PDS's: missing →
401 ``AuthMissing``; expired → **400** ``ExpiredToken``; malformed or the wrong kind → 400
``InvalidToken``.

``com.atproto.repo.createRecord`` checks the input against the createRecord lexicon, then: ``repo``
is the session's DID or handle, ``collection`` is ``app.bsky.feed.post`` (the only one hosted),
``rkey`` (optional) is a TID, ``record.$type`` matches, and — unless ``validate`` is false — the record
against the post lexicon (300 graphemes and 3000 UTF-8 bytes of text, at most 3 langs, facets of the
known types) plus facet offsets inside the text's UTF-8 bytes; any problem is 400 ``InvalidRequest``
naming the field. A TID rkey is generated when none is given. An rkey that exists already is a
500 ``InternalServerError`` (the MST refuses the second insert, the PDS surfaces it generically).
``com.atproto.repo.getRecord`` answers ``{uri, cid, value}`` or 400 ``RecordNotFound``.

CIDs are CIDv1 dag-cbor/sha2-256 in form, but hash the record's JSON, not its DAG-CBOR.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from channels.sandbox.config import MAX_JSON_DEPTH
from channels.sandbox.inbox import InboxRecord
from channels.sandbox.lexicon import check, lexicon, record_problem
from channels.sandbox.responses import json_response, xrpc_error
from channels.sandbox.state import SandboxState
from clarion.files import boundedjson
from clarion.kinds import Channel
from clarion.updates.limits import utf8_bytes

POST: Final = "app.bsky.feed.post"
TID: Final = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
REFRESH_TTL: Final = 90 * 24 * 3600
_ACCESS, _REFRESH = "com.atproto.access", "com.atproto.refresh"
_B32: Final = "234567abcdefghijklmnopqrstuvwxyz"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cid_of(value: Any) -> str:
    digest = hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).digest()
    return "b" + base64.b32encode(bytes([0x01, 0x71, 0x12, 0x20]) + digest).decode().lower().rstrip("=")


class TidClock:
    """Timestamp identifiers: 53 bits of microseconds, 10 bits of clock id, base32-sortable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0
        self._clock_id = secrets.randbelow(1024)

    def next(self) -> str:
        with self._lock:
            self._last = max(int(time.time() * 1_000_000), self._last + 1)
            value = (self._last << 10) | self._clock_id
        return "".join(_B32[(value >> shift) & 31] for shift in range(60, -1, -5))


class Tokens:
    """HS256 JWTs signed with a per-server secret."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def issue(self, did: str, scope: str, ttl: float) -> str:
        now = time.time()
        header = _b64(json.dumps({"typ": "at+jwt", "alg": "HS256"}).encode())
        claims = {"scope": scope, "sub": did, "aud": "did:web:sandbox", "iat": int(now), "exp": now + ttl}
        payload = _b64(json.dumps(claims).encode())
        return f"{header}.{payload}.{self._sign(f'{header}.{payload}')}"

    def _sign(self, signing_input: str) -> str:
        return _b64(hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest())

    def verify(self, request: Request, scope: str) -> tuple[str | None, Response | None]:
        """(DID, None) for a valid token of ``scope``, else (None, the PDS's error)."""
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return None, xrpc_error(401, "AuthMissing", "Authentication Required")
        token = header.removeprefix("Bearer ").strip()
        parts = token.split(".")
        if len(parts) != 3 or not hmac.compare_digest(self._sign(f"{parts[0]}.{parts[1]}"), parts[2]):
            return None, xrpc_error(400, "InvalidToken", "Token could not be verified")
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        if claims["exp"] <= time.time():
            return None, xrpc_error(400, "ExpiredToken", "Token has expired")
        if claims["scope"] != scope:
            return None, xrpc_error(400, "InvalidToken", "Bad token scope")
        return str(claims["sub"]), None


async def _json(request: Request) -> Any:
    try:
        return boundedjson.loads(await request.body() or b"null", max_depth=MAX_JSON_DEPTH)
    except ValueError:
        return None


def _invalid(message: str) -> Response:
    return xrpc_error(400, "InvalidRequest", message)


def _facet_problem(record: dict[str, Any]) -> str | None:
    size = utf8_bytes(record["text"])
    for i, facet in enumerate(record.get("facets") or ()):
        start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
        if start > end:
            return f"Record/facets/{i}/index/byteStart must not be greater than byteEnd"
        if end > size:
            return f"Record/facets/{i}/index/byteEnd must not be greater than the text's {size} UTF-8 bytes"
    return None


def create_problem(body: Any, did: str, handle: str) -> str | None:
    """Why createRecord refuses ``body``, or None."""
    doc = lexicon("com.atproto.repo.createRecord")
    assert doc is not None
    if problem := check(body, doc["defs"]["main"]["input"]["schema"], "Input", doc["id"]):
        return problem
    if body["repo"] not in (did, handle):
        return f"Could not find repo: {body['repo']}"
    if body["collection"] != POST:
        return f"Input/collection: the sandbox hosts {POST} records only, not {body['collection']}"
    if "rkey" in body and not TID.match(body["rkey"]):
        return f"Input/rkey must be a valid TID ({POST} records use TID keys)"
    record = body["record"]
    if record.get("$type") != POST:
        return f"Invalid $type: expected {POST}, got {record.get('$type')}"
    if body.get("validate") is False:
        return None
    if problem := record_problem(POST, record) or _facet_problem(record):
        return f"Invalid {POST} record: {problem}"
    return None


def router(state: SandboxState) -> APIRouter:
    api = APIRouter()
    tokens, clock = Tokens(), TidClock()
    records: dict[str, tuple[str, dict[str, Any]]] = {}  # rkey -> (cid, value)
    lock = threading.Lock()
    state.on_reset(records.clear)

    def session(did: str) -> dict[str, Any]:
        config = state.config
        return {
            "accessJwt": tokens.issue(did, _ACCESS, config.bluesky_access_ttl_seconds),
            "refreshJwt": tokens.issue(did, _REFRESH, REFRESH_TTL),
            "handle": config.bluesky_handle,
            "did": did,
            "email": f"{config.bluesky_handle}@example.com",
            "emailConfirmed": True,
            "active": True,
        }

    @api.post("/xrpc/com.atproto.server.createSession")
    async def create_session(request: Request) -> Response:
        config, body = state.config, await _json(request)
        doc = lexicon("com.atproto.server.createSession")
        assert doc is not None
        if problem := check(body, doc["defs"]["main"]["input"]["schema"], "Input", doc["id"]):
            return _invalid(problem)
        known = body["identifier"].lower() in (config.bluesky_handle.lower(), config.bluesky_did)
        if not known or not secrets.compare_digest(body["password"], config.bluesky_app_password):
            return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
        return json_response(200, session(config.bluesky_did))

    @api.post("/xrpc/com.atproto.server.refreshSession")
    async def refresh_session(request: Request) -> Response:
        did, error = tokens.verify(request, _REFRESH)
        if error is not None or did is None:
            return error or _invalid("no session")
        return json_response(200, session(did))

    @api.post("/xrpc/com.atproto.repo.createRecord")
    async def create_record(request: Request) -> Response:
        did, error = tokens.verify(request, _ACCESS)
        if error is not None or did is None:
            return error or _invalid("no session")
        config, body = state.config, await _json(request)
        if problem := create_problem(body, did, config.bluesky_handle):
            return _invalid(problem)
        rkey, value = body.get("rkey") or clock.next(), body["record"]
        cid = cid_of(value)
        with lock:
            if rkey in records:
                return xrpc_error(500, "InternalServerError", "Internal Server Error")
            records[rkey] = (cid, value)
        uri, now = f"at://{did}/{POST}/{rkey}", time.time()
        text = value.get("text") if config.keep_text else None
        state.inbox.add([InboxRecord(Channel.BLUESKY, uri, None, None, rkey, None, text, now)], [rkey])
        return json_response(
            200,
            {
                "uri": uri,
                "cid": cid,
                "commit": {"cid": cid_of({"rkey": rkey, "rev": (rev := clock.next())}), "rev": rev},
                "validationStatus": "unknown" if body.get("validate") is False else "valid",
            },
        )

    @api.get("/xrpc/com.atproto.repo.getRecord")
    async def get_record(request: Request) -> Response:
        query, config = request.query_params, state.config
        for name in ("repo", "collection", "rkey"):
            if name not in query:
                return _invalid(f'Params must have the property "{name}"')
        uri = f"at://{query['repo']}/{query['collection']}/{query['rkey']}"
        ours = query["repo"] in (config.bluesky_did, config.bluesky_handle) and query["collection"] == POST
        found = records.get(query["rkey"]) if ours else None
        if found is None:
            return xrpc_error(400, "RecordNotFound", f"Could not locate record: {uri}")
        return json_response(
            200,
            {"uri": f"at://{config.bluesky_did}/{POST}/{query['rkey']}", "cid": found[0], "value": found[1]},
        )

    return api
