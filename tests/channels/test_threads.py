"""Threads on Mastodon and Bluesky, against the provider sandbox over loopback HTTP: the posts go
out in order, each a reply to the one before, and each exactly once, even when the thread is cut
short by a lost answer and the delivery engine reconciles and sends it again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from channels.base import ChannelAdapter
from channels.bluesky import BlueskyAdapter
from channels.mastodon import MastodonAdapter
from channels.sandbox import SandboxHandle
from clarion.errors import InDoubt, PermanentChannelError
from clarion.kinds import Channel
from clarion.outbox.port import OutboundMessage, Presence
from clarion.settings import Settings
from tests.channels.messages import message

REPLIES = ("(2/3) Why: a configuration change removed a login check.", "(3/3) What we change: reviews.")
THREADING = (Channel.MASTODON, Channel.BLUESKY)
POST_PATH = {Channel.MASTODON: "/api/v1/statuses", Channel.BLUESKY: "/xrpc/com.atproto.repo.createRecord"}


def thread(channel: Channel, replies: tuple[str, ...] = REPLIES, **changes: Any) -> OutboundMessage:
    base = message(channel)
    return replace(base, content=replace(base.content, thread=replies), **changes)


class LoseAnswer(httpx.BaseTransport):
    """Passes every request on to the sandbox; the answer to post number ``lost`` is lost on the
    way back (the provider has the post, the adapter never hears of it)."""

    def __init__(self, channel: Channel, lost: int) -> None:
        self.inner, self.path, self.lost, self.posts = httpx.HTTPTransport(), POST_PATH[channel], lost, 0

    def close(self) -> None:
        self.inner.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST" and request.url.path == self.path:
            self.posts += 1
            if self.posts == self.lost:
                response.read()
                response.close()
                raise httpx.ReadError("connection reset by peer", request=request)
        return response


_OPENED: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Every HTTP client a test opened is closed after it."""
    yield
    while _OPENED:
        _OPENED.pop().close()


def adapter(
    box: SandboxHandle, channel: Channel, transport: httpx.BaseTransport | None = None
) -> ChannelAdapter:
    client = httpx.Client(transport=transport) if transport else httpx.Client()
    _OPENED.append(client)
    settings = Settings(_env_file=None, sandbox_url=box.url)
    kind = MastodonAdapter if channel is Channel.MASTODON else BlueskyAdapter
    return kind.from_settings(settings, client=client)


def posted(box: SandboxHandle, channel: Channel) -> list[str | None]:
    return [r.text for r in box.inbox(channel.value)]


def replied_to(box: SandboxHandle, channel: Channel) -> list[tuple[str, str | None]]:
    """(post, the post it replies to) for every post the sandbox holds, oldest first."""
    chain = []
    for record in box.inbox(channel.value):
        if channel is Channel.MASTODON:
            status = httpx.get(f"{box.url}/api/v1/statuses/{record.provider_id}").json()
            chain.append((record.provider_id, status["in_reply_to_id"]))
        else:
            repo, _, rkey = record.provider_id.removeprefix("at://").split("/")
            params = {"repo": repo, "collection": "app.bsky.feed.post", "rkey": rkey}
            found = httpx.get(f"{box.url}/xrpc/com.atproto.repo.getRecord", params=params).json()
            reply = found["value"].get("reply")
            assert reply is None or reply["root"]["uri"] == chain[0][0]
            chain.append((record.provider_id, reply["parent"]["uri"] if reply else None))
    return chain


@pytest.mark.parametrize("channel", THREADING)
def test_a_thread_is_posted_in_order_each_reply_to_the_one_before(
    box: SandboxHandle, channel: Channel
) -> None:
    box.configure(keep_text=True)
    sent = thread(channel)
    [result] = adapter(box, channel).send([sent])
    assert result.error is None
    assert posted(box, channel) == [sent.content.text, *REPLIES]
    chain = replied_to(box, channel)
    assert [parent for _, parent in chain] == [None, chain[0][0], chain[1][0]]
    assert result.provider_id == chain[0][0]  # the ledger names the thread by its first post


@pytest.mark.parametrize("channel", THREADING)
@pytest.mark.parametrize("lost", [1, 2, 3])
def test_a_thread_cut_short_is_finished_by_the_resend_never_doubled(
    box: SandboxHandle, channel: Channel, lost: int
) -> None:
    """The answer to post ``lost`` is lost: the posts up to it are up, the rest not yet."""
    box.configure(keep_text=True)
    sent = thread(channel, first_attempt_at=datetime.now(UTC))
    [cut] = adapter(box, channel, LoseAnswer(channel, lost)).send([sent])
    assert isinstance(cut.error, InDoubt)
    if lost > 1:
        assert f"post {lost} of 3 of the thread ({lost - 1} posted)" in str(cut.error)
    assert len(posted(box, channel)) == lost

    again = replace(sent, attempts=1)  # as the engine hands it over after the in-doubt attempt
    fresh = adapter(box, channel)
    [looked] = fresh.reconcile([again])
    if channel is Channel.BLUESKY and lost == 3:
        assert looked.presence is Presence.PRESENT  # the last post is up: the thread is whole
        assert looked.provider_id == replied_to(box, channel)[0][0]
        return
    assert looked.presence is Presence.ABSENT  # a resend cannot double a post
    [result] = fresh.send([again])
    assert result.error is None
    assert posted(box, channel) == [sent.content.text, *REPLIES]
    chain = replied_to(box, channel)
    assert [parent for _, parent in chain] == [None, chain[0][0], chain[1][0]]
    assert result.provider_id == chain[0][0]
    assert box.stats()["duplicates"][channel.value] == 0


@pytest.mark.parametrize("channel", THREADING)
def test_a_reply_over_the_limit_refuses_the_whole_thread_before_posting(
    box: SandboxHandle, channel: Channel
) -> None:
    long = "(2/2) Why: " + "x" * 600
    [result] = adapter(box, channel).send([thread(channel, (long,))])
    assert isinstance(result.error, PermanentChannelError)
    assert box.inbox(channel.value) == []


def test_a_bluesky_reply_refused_after_the_first_post_is_permanent_and_says_so(box: SandboxHandle) -> None:
    """A refusal in mid-thread needs a person: it is permanent, and names what is already up."""

    class RefuseSecond(httpx.BaseTransport):
        def __init__(self) -> None:
            self.inner, self.posts = httpx.HTTPTransport(), 0

        def close(self) -> None:
            self.inner.close()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == POST_PATH[Channel.BLUESKY]:
                self.posts += 1
                if self.posts == 2:
                    body = {"error": "InvalidRequest", "message": "Invalid app.bsky.feed.post record"}
                    return httpx.Response(400, json=body, request=request)
            return self.inner.handle_request(request)

    [result] = adapter(box, Channel.BLUESKY, RefuseSecond()).send([thread(Channel.BLUESKY)])
    assert isinstance(result.error, PermanentChannelError)
    assert "post 2 of 3 of the thread (1 posted)" in str(result.error)
    assert len(box.inbox("bluesky")) == 1
