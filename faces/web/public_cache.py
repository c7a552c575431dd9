"""The status page's cache: every public document built once per change, revalidated cheaply.

During an incident thousands of people reload the same few pages. :class:`PublicCache` keeps one
:class:`~clarion.statuspage.snapshot.Snapshot` and the bytes of every document built from it:

* **Invalidation by publishing.** At most once per :attr:`PublicCache.revalidate_every` seconds a
  request asks the store for its :func:`~clarion.statuspage.record.generation` (one indexed query).
  When an update was published or an incident resolved since, in this process or any other (a
  Prefect worker), the snapshot is read again and every cached document dropped. Time-driven changes
  (a maintenance window opening, the day ending) drop it too, at the snapshot's ``valid_until``; so
  does an edit of the components file.
* **Validators.** Each document's ETag hashes its bytes; a client (or a CDN) that has them gets a
  304 with no body. Responses carry ``Cache-Control: public, max-age=…, stale-while-revalidate=…``,
  so a proxy in front can serve a slightly old copy while it asks again, and ``Vary`` when a
  document depends on a request header (``Accept-Language``).

A burst right after a publication therefore costs one reload and one build per document; the
requests that arrive meanwhile wait on the lock for the same result instead of each building it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response

from clarion import store
from clarion.models import utcnow
from clarion.settings import Settings
from clarion.statuspage.record import generation
from clarion.statuspage.snapshot import Snapshot, take_snapshot

PAGE_MAX_AGE = 15
"""Seconds a browser or CDN may reuse a page or document without asking (a status page must be fresh)."""
STALE_WHILE_REVALIDATE = 60
"""Seconds a CDN may serve an old copy while it revalidates in the background."""
RETRY_FAILED_BUILD = 5.0
"""Seconds a document whose build failed is served from its last good copy before it is tried again."""
logger = logging.getLogger(__name__)
VERSION_HEADER = "x-clarion-snapshot"
"""Internal: marks a response built from the snapshot of that version (:mod:`faces.web.fast_path`
keeps a copy and removes the header; it never reaches a client)."""


@dataclass(frozen=True)
class Entry:
    body: bytes
    etag: str
    version: int | None = None
    """The :attr:`PublicCache.version` it was built from (None: not from the cache's snapshot)."""


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def not_modified(request: Request, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, as RFC 9110 asks for this header)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    return etag in {tag.strip().removeprefix("W/") for tag in header.split(",")}


class PublicCache:
    """The snapshot and the built documents of one web app (``app.state.public``)."""

    def __init__(
        self,
        engine: sa.Engine,
        settings: Settings,
        *,
        revalidate_every: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.revalidate_every = revalidate_every
        self.clock = clock
        self._lock = threading.RLock()
        self._snapshot: Snapshot | None = None
        self._until: datetime | None = None
        self._key: tuple[Any, ...] | None = None
        self._checked = 0.0
        self._claimed = -1.0
        self._claim_lock = threading.Lock()
        self._entries: dict[Hashable, Entry] = {}
        self._last_good: dict[Hashable, Entry] = {}
        self._failed: dict[Hashable, tuple[float, BaseException]] = {}
        self.version = 0
        """Grows with every snapshot read; what a copy of a response was made from (the fast path)."""
        self.reloads = 0
        """How many times the snapshot was read from the store (for tests and benchmarks)."""

    def _current_key(self) -> tuple[Any, ...]:
        with store.reading(self.engine) as connection:
            marks = generation(connection)
        path = self.settings.components_path
        try:
            info = path.stat()
            catalogue_mark: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
        except OSError:
            catalogue_mark = None
        return (*marks, catalogue_mark)

    def fresh(self) -> Snapshot | None:
        """The snapshot when it needs no look at the store or the clock's minute; else None (no I/O)."""
        held, until = self._snapshot, self._until
        if held is None or until is None or time.monotonic() - self._checked >= self.revalidate_every:
            return None
        return held if self.clock() < until else None

    def revalidating_elsewhere(self) -> bool:
        """Called when :meth:`fresh` said no: True when another request is already asking the store (so
        this one may be answered from the copies meanwhile); False makes the caller the one that asks
        (a claim that lapses after :data:`RETRY_FAILED_BUILD` seconds, should that request fail)."""
        now = time.monotonic()
        with self._claim_lock:
            if now - self._claimed < RETRY_FAILED_BUILD and self._claimed > self._checked:
                return True
            self._claimed = now
            return False

    def snapshot(self) -> Snapshot:
        """The current snapshot, read again when the store or the time says it changed."""
        held = self.fresh()
        if held is not None:
            return held
        with self._lock:
            held = self.fresh()
            if held is not None:
                return held  # another thread revalidated while this one waited
            key = self._current_key()
            now = self.clock()
            held = self._snapshot
            if held is None or key != self._key or self._until is None or now >= self._until:
                held = self._load(now)
                self._key = key
            self._checked = time.monotonic()
            return held

    def _load(self, now: datetime) -> Snapshot:
        # The minute, not the instant: every process (a worker, a restart) that reads the same store
        # in the same minute builds the same bytes, so ETags agree behind a load balancer or a CDN.
        minute = now.replace(second=0, microsecond=0)
        snapshot = take_snapshot(self.engine, self.settings, minute)
        self._snapshot, self._until = snapshot, min(snapshot.valid_until, minute + timedelta(minutes=1))
        self._entries, self._failed = {}, {}
        self.version += 1
        self.reloads += 1
        return snapshot

    def invalidate(self) -> None:
        """Forget everything: the next request reads the store again."""
        with self._lock:
            self._snapshot = None
            self._until = None
            self._key = None
            self._entries = {}

    def entry(self, key: Hashable, build: Callable[[Snapshot], bytes]) -> Entry:
        """The document ``key`` built from the current snapshot (built once per snapshot).

        A build that raises is not retried by every request that follows: for
        :data:`RETRY_FAILED_BUILD` seconds the last good copy is served (stale, logged once), or,
        when there is none, the same error is raised again at once."""
        snapshot = self.snapshot()
        found = self._entries.get(key)
        if found is not None and self._snapshot is snapshot:
            return found
        with self._lock:
            found = self._entries.get(key)
            if found is not None and self._snapshot is snapshot:
                return found
            failed = self._failed.get(key)
            if failed is not None and time.monotonic() - failed[0] < RETRY_FAILED_BUILD:
                return self._fallback(key, failed[1])
            try:
                body = build(snapshot)
            except Exception as exc:
                logger.exception("the status page's %r could not be built", key)
                self._failed[key] = (time.monotonic(), exc)
                return self._fallback(key, exc)
            made = Entry(body, etag_of(body), self.version if self._snapshot is snapshot else None)
            if self._snapshot is snapshot:
                self._entries[key] = made
                self._last_good[key] = made
                self._failed.pop(key, None)
            return made

    def _fallback(self, key: Hashable, error: BaseException) -> Entry:
        good = self._last_good.get(key)
        if good is None:
            raise error
        return good


def cached_response(
    request: Request,
    entry: Entry,
    media_type: str,
    *,
    max_age: int = PAGE_MAX_AGE,
    vary: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The entry's bytes, or a 304 when the client has them; with the caching headers."""
    sent = {
        "ETag": entry.etag,
        "Cache-Control": f"public, max-age={max_age}, stale-while-revalidate={STALE_WHILE_REVALIDATE}",
        **(headers or {}),
    }
    if vary:
        sent["Vary"] = vary
    if entry.version is not None:  # the fast path keeps a copy of this response for this version
        sent[VERSION_HEADER] = str(entry.version)
    if not_modified(request, entry.etag):
        return Response(status_code=304, headers=sent)
    return Response(entry.body, media_type=media_type, headers=sent)


def public_cache(request: Request) -> PublicCache:
    cache: PublicCache = request.app.state.public
    return cache
