"""The fast path of the public documents: answered from a copy, without routing or a thread.

A status page during an incident is the same few documents asked for again and again. FastAPI's
routing, dependency handling and the thread-pool hop of a ``def`` route cost about ten times what
sending cached bytes does (``bench/statuspage.py``). :class:`PublicFastPath` sits in front of the app:

* A ``GET`` or ``HEAD`` whose (path, query, language) was answered from the cache's current snapshot
  is answered from the copy of that answer: the same status, headers and bytes, or a 304 when
  ``If-None-Match`` names its ETag.
* Anything else goes to the app as usual. An answer the app built from the snapshot carries the
  internal :data:`~faces.web.public_cache.VERSION_HEADER`; the fast path removes it and keeps a copy
  for that version. Nothing else is ever copied: not the banner feed, not a form, not an error.
* A copy is used only while it was made from the current version and the snapshot needs no look at
  the store (:meth:`PublicCache.fresh`, at most :attr:`PublicCache.revalidate_every` seconds). When
  a look is due, one request goes through the app, which asks the store, and the others are answered
  from the copies while it does (a few milliseconds, as ``stale-while-revalidate`` would): a
  publication shows as fast as it did without the fast path, and hundreds of requests arriving in
  that moment do not queue for the thread pool behind one query.

The language is part of the key (the pages vary by ``Accept-Language``), parsed once per distinct
header. The copies are bounded (:data:`MAX_COPIES`; a flood of distinct query strings only evicts).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clarion.statuspage.pages import negotiate
from faces.web.public_cache import VERSION_HEADER, PublicCache

MAX_COPIES = 2000
_MARK = VERSION_HEADER.encode()
_DROP_ON_304 = {b"content-length", b"content-type"}


@dataclass(frozen=True)
class Copy:
    version: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: bytes


def _matches(header: bytes, etag: bytes) -> bool:
    if header.strip() == b"*":
        return True
    return etag in {tag.strip().removeprefix(b"W/") for tag in header.split(b",")}


class PublicFastPath:
    def __init__(self, app: ASGIApp, cache: Callable[[], PublicCache]) -> None:
        """``cache`` gives the app's cache when asked (``app.state.public``, which a test may replace)."""
        self.app, self._cache = app, cache
        self.copies: OrderedDict[tuple[str, bytes, str], Copy] = OrderedDict()
        self._languages: dict[bytes, str] = {}
        self.hits = 0

    def _language(self, header: bytes) -> str:
        found = self._languages.get(header)
        if found is None:
            found = negotiate(header.decode("latin-1"))
            if len(self._languages) >= MAX_COPIES:
                self._languages.clear()
            self._languages[header] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        asked_language, if_none_match = b"", None
        for name, value in scope["headers"]:
            if name == b"accept-language":
                asked_language = value
            elif name == b"if-none-match":
                if_none_match = value
        key = (scope["path"], scope.get("query_string", b""), self._language(asked_language))
        copy = self.copies.get(key)
        cache = self._cache()
        if (
            copy is not None
            and copy.version == cache.version
            and (cache.fresh() is not None or cache.revalidating_elsewhere())
        ):
            self.hits += 1
            await self._answer(copy, scope["method"] == "HEAD", if_none_match, send)
            return
        await self.app(scope, receive, self._keeping(key, send))

    async def _answer(self, copy: Copy, head: bool, if_none_match: bytes | None, send: Send) -> None:
        if if_none_match is not None and _matches(if_none_match, copy.etag):
            headers = [(n, v) for n, v in copy.headers if n not in _DROP_ON_304]
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": copy.headers})
        await send({"type": "http.response.body", "body": b"" if head else copy.body})

    def _keeping(self, key: tuple[str, bytes, str], send: Send) -> Send:
        """``send``, removing the version mark and keeping a copy of a whole 200 answer that had it."""
        state: dict[str, object] = {}
        chunks: list[bytes] = []

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                version = next((v for n, v in headers if n == _MARK), None)
                if version is not None:
                    headers = [(n, v) for n, v in headers if n != _MARK]
                    message = {**message, "headers": headers}
                    if message["status"] == 200:
                        state.update(version=int(version), headers=headers)
            elif message["type"] == "http.response.body" and "version" in state:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self._keep(key, state, b"".join(chunks))
            await send(message)

        return wrapped

    def _keep(self, key: tuple[str, bytes, str], state: dict[str, object], body: bytes) -> None:
        headers = state["headers"]
        assert isinstance(headers, list) and isinstance(state["version"], int)
        etag = next((v for n, v in headers if n == b"etag"), None)
        length = next((v for n, v in headers if n == b"content-length"), None)
        if etag is None or (length is not None and int(length) != len(body)):
            return  # a HEAD answer (no body) or something unexpected: never copied
        self.copies[key] = Copy(state["version"], headers, body, etag)
        self.copies.move_to_end(key)
        while len(self.copies) > MAX_COPIES:
            self.copies.popitem(last=False)
