"""The status page's cache: the same bytes in every process within a minute, and a failed build that
does not make every following request try again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from clarion.settings import Settings
from clarion.statuspage.site import render_home
from clarion.statuspage.snapshot import Snapshot
from faces.web.public_cache import PublicCache
from tests.statuspage_world import COMPONENTS_FILE, T0, World


def cache_at(engine: sa.Engine, tmp_path: Path, moment: list[datetime]) -> PublicCache:
    settings = Settings(
        home=tmp_path, public_url="https://status.acme.example", components_file=COMPONENTS_FILE
    )
    return PublicCache(engine, settings, revalidate_every=0, clock=lambda: moment[0])


def home(snapshot: Snapshot) -> bytes:
    return render_home(snapshot, "en", "")


def test_two_processes_in_the_same_minute_serve_the_same_bytes(engine: sa.Engine, tmp_path: Path) -> None:
    World(engine).incident("API errors", components={"api": "major_outage"}, at=T0)
    first_clock, second_clock = (
        [T0 + timedelta(minutes=30, seconds=4)],
        [T0 + timedelta(minutes=30, seconds=57)],
    )
    first, second = cache_at(engine, tmp_path, first_clock), cache_at(engine, tmp_path, second_clock)
    assert first.entry("home", home).etag == second.entry("home", home).etag  # a CDN sees one version
    second_clock[0] += timedelta(seconds=5)  # the next minute: the snapshot is read again...
    assert second.entry("home", home).etag == first.entry("home", home).etag  # ...and says the same
    assert second.reloads == 2


def test_a_failed_build_serves_the_last_good_copy_and_is_not_retried_by_every_request(
    engine: sa.Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(engine)
    incident = world.incident("API errors", components={"api": "major_outage"}, at=T0)
    clock = [T0 + timedelta(minutes=5)]
    cache = cache_at(engine, tmp_path, clock)
    good = cache.entry("home", home)
    world.tell(incident, "identified", at=T0 + timedelta(minutes=6))  # a new snapshot must be built
    calls: list[int] = []

    def broken(snapshot: Snapshot) -> bytes:
        calls.append(1)
        raise RuntimeError("a template that no longer renders")

    for _ in range(20):
        assert cache.entry("home", broken) is good  # the page stays up, as it was
    assert len(calls) == 1 and "could not be built" in caplog.text

    def also_broken(snapshot: Snapshot) -> bytes:
        raise RuntimeError("never built")

    failing: Callable[[Snapshot], bytes] = also_broken
    with pytest.raises(RuntimeError, match="never built"):
        cache.entry("other", failing)  # nothing good to fall back on: the error, once per window


def test_one_request_asks_the_store_while_the_others_use_the_copies(
    engine: sa.Engine, tmp_path: Path
) -> None:
    cache = cache_at(engine, tmp_path, [T0])
    cache.entry("home", home)
    assert cache.fresh() is None  # revalidate_every=0: a look at the store is due
    assert cache.revalidating_elsewhere() is False  # this caller asks
    assert cache.revalidating_elsewhere() is True  # the others are answered from the copies meanwhile
    cache.snapshot()  # the asker's look at the store
    assert cache.revalidating_elsewhere() is False  # due again: the next asker
