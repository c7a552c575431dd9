"""The Slack adapter and its sandbox double, over loopback HTTP.

``slack_sdk`` does its own HTTP (urllib), so there is no ``httpx.MockTransport`` to hand it: the
adapter talks to the provider sandbox's Slack double, or, where a test needs an answer the double
never gives (a 503, a timeout, ``not_in_channel``), to :class:`Stub`, a loopback server that answers
what the test scripts and records what it was sent.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk.models.blocks import HeaderBlock, SectionBlock

import channels.slack
from channels.sandbox import SandboxHandle
from channels.slack import SANDBOX_TOKEN, SPEC, SlackAdapter
from channels.slack_blocks import build_payload
from channels.slack_settings import check_address
from clarion.errors import ConfigError, InDoubt, PermanentChannelError, RateLimited, TransientChannelError
from clarion.kinds import Channel
from clarion.outbox.port import Content, OutboundMessage, Presence
from clarion.settings import Settings
from clarion.updates.limits import CHARACTERS, Limit

SLACK = Channel("slack")
CHANNEL_ID = "C0123ABCD9"
PERSON = "U0123ABCD9"
BODY = "INC-0042 update 3 waits for your approval.\n\nRun: clarion approve INC-0042 3"
LINK = "https://clarion.example.com/incidents/INC-0042/updates/3"
HOOK_SECRET = "s3cr3tPathPart"
TOKEN = "xoxb-1111-2222-tokensecret"


def notice(n: int = 1, *, address: str | None = CHANNEL_ID, **changes: Any) -> OutboundMessage:
    """Notice ``n``: an approval request to ``address``; ``changes`` override any field."""
    built = OutboundMessage(
        delivery_id=n,
        idempotency_key=f"n{n}.slack",
        channel=SLACK,
        content=Content(None, "en", BODY, subject="Approval needed: INC-0042 update 3", link=LINK),
        incident_reference="",
        severity="",
        status="",
        created_at=datetime.now(UTC),
        first_attempt_at=datetime.now(UTC),
        address=address,
        notice="approval-request",
    )
    return replace(built, **changes)


def worded(
    text: str, subject: str | None = "Subject", link: str | None = None, **changes: Any
) -> OutboundMessage:
    return notice(content=Content(None, "en", text, subject=subject, link=link), **changes)


# ── a loopback server with scripted answers ───────────────────────────────────────────────────────


@dataclass
class Answer:
    status: int = 200
    body: dict[str, Any] | str = field(
        default_factory=lambda: {"ok": True, "channel": CHANNEL_ID, "ts": "1.000100"}
    )
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    """Close the connection without answering."""


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Stub:
    """Answers every POST with the next of ``answers`` (the last one repeats); keeps what it saw."""

    def __init__(self) -> None:
        self.answers: list[Answer] = [Answer()]
        self.seen: list[Seen] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                stub.seen.append(Seen(self.path, dict(self.headers.items()), self.rfile.read(size)))
                answer = stub.answers.pop(0) if len(stub.answers) > 1 else stub.answers[0]
                time.sleep(answer.delay)
                if answer.drop:
                    self.close_connection = True
                    return
                is_json = isinstance(answer.body, dict)
                raw = (json.dumps(answer.body) if is_json else str(answer.body)).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json" if is_json else "text/plain")
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:  # the client gave up waiting
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, *answers: Answer) -> None:
        self.answers = list(answers)


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    thread = threading.Thread(target=server.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def bot(url: str, *, token: str = TOKEN, timeout: float = 5.0) -> SlackAdapter:
    """A configured bot whose Web API is at ``url``."""
    return SlackAdapter(bot_token=token, api_url=f"{url}/api/", timeout=timeout)


def hooks(stub: Stub, *names: str) -> SlackAdapter:
    """Configured webhooks (only), each a path of ``stub``."""
    return SlackAdapter(
        webhooks={name: f"{stub.url}/services/T1/B1/{HOOK_SECRET}" for name in names}, timeout=5
    )


def sandboxed(box: SandboxHandle, tmp_path: Path) -> SlackAdapter:
    return SlackAdapter.from_settings(Settings(home=tmp_path, sandbox_url=box.url))


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# ── what a post carries ───────────────────────────────────────────────────────────────────────────


def test_a_notice_is_a_header_the_body_and_the_link_with_its_key_in_metadata(stub: Stub) -> None:
    [result] = bot(stub.url).send([notice()])

    assert result.accepted and result.provider_id == "1.000100"
    [request] = stub.seen
    assert request.path == "/api/chat.postMessage"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    body = request.json()
    assert body["channel"] == CHANNEL_ID
    assert body["blocks"] == [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": "Approval needed: INC-0042 update 3", "emoji": True},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": BODY, "verbatim": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"<{LINK}>", "verbatim": True}},
    ]
    assert body["text"] == f"Approval needed: INC-0042 update 3\n\n{BODY}\n\n<{LINK}>"  # the notification
    assert body["metadata"] == {
        "event_type": "clarion_notice",
        "event_payload": {"idempotency_key": "n1.slack", "delivery_id": 1},
    }
    assert (body["unfurl_links"], body["unfurl_media"]) == (False, False)


def test_control_characters_are_escaped_so_a_notice_cannot_ping_everyone_or_forge_a_link(stub: Stub) -> None:
    text = "<!channel> approve now: <https://evil.example|clarion.example.com> & thanks"
    bot(stub.url).send([worded(text, subject="R&D <urgent>")])

    body = stub.seen[0].json()
    escaped = "&lt;!channel&gt; approve now: &lt;https://evil.example|clarion.example.com&gt; &amp; thanks"
    assert body["blocks"][1]["text"]["text"] == escaped
    assert body["text"] == f"R&amp;D &lt;urgent&gt;\n\n{escaped}"
    assert body["blocks"][0]["text"] == {
        "type": "plain_text",
        "text": "R&D <urgent>",
        "emoji": True,
    }  # never parsed


def test_a_webhook_post_carries_the_same_blocks_and_no_metadata(stub: Stub) -> None:
    stub.answer(Answer(body="ok"))

    [result] = hooks(stub, "war-room").send([notice(address="war-room")])

    assert result.accepted and result.provider_id == "webhook:war-room"
    [request] = stub.seen
    assert request.path == f"/services/T1/B1/{HOOK_SECRET}"
    assert [b["type"] for b in request.json()["blocks"]] == ["header", "section", "section"]
    assert "metadata" not in request.json()


def test_paragraphs_share_a_section_until_it_is_full_and_none_is_split() -> None:
    paragraphs = ["a" * 1400, "b" * 1400, "c" * 1400]

    payload = build_payload(Content(None, "en", "\n\n".join(paragraphs)), channel=SLACK)

    texts = [block["text"]["text"] for block in payload.blocks]
    assert texts == [f"{paragraphs[0]}\n\n{paragraphs[1]}", paragraphs[2]]


def test_spec_limits_are_slacks_own_as_the_sdk_knows_them() -> None:
    assert set(SPEC.limits) == {
        Limit("subject", CHARACTERS, HeaderBlock.text_max_length),
        Limit("body", CHARACTERS, SectionBlock.text_max_length),
    }
    assert (HeaderBlock.text_max_length, SectionBlock.text_max_length) == (150, 3000)


# ── limits, refused before any request ────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("message", "says"),
    [
        (worded("Body", subject="S" * 151), "151 characters, a Slack header holds 150"),
        (worded("&" * 1000), "5000 characters once escaped for Slack, a section holds 3000"),
        (worded("", subject=None), "nothing to post"),
    ],
    ids=["subject", "escaped-paragraph", "empty"],
)
def test_a_notice_over_a_slack_limit_is_refused_whole_before_any_request(
    stub: Stub, message: OutboundMessage, says: str
) -> None:
    [result] = bot(stub.url).send([message])

    assert isinstance(result.error, PermanentChannelError)
    assert says in str(result.error)
    assert stub.seen == []


def test_more_than_fifty_blocks_are_refused() -> None:
    text = "\n\n".join("p" * 2000 for _ in range(49))  # 49 sections, with the header 50, the link 51

    with pytest.raises(PermanentChannelError, match="needs 51 blocks, Slack takes 50"):
        build_payload(Content(None, "en", text, subject="S", link=LINK), channel=SLACK)


# ── failures, each mapped to what is safe to retry ────────────────────────────────────────────────


@pytest.mark.parametrize(
    "code",
    [
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "msg_too_long",
        "invalid_blocks",
        "no_text",
    ],
)
def test_slacks_refusals_are_permanent_and_keep_slacks_code(stub: Stub, code: str) -> None:
    stub.answer(Answer(body={"ok": False, "error": code}))

    [result] = bot(stub.url).send([notice()])

    assert type(result.error) is PermanentChannelError
    assert (result.error.code, result.error.status_code) == (code, None)


def test_a_refusal_says_what_to_do(stub: Stub) -> None:
    stub.answer(Answer(body={"ok": False, "error": "not_in_channel"}))
    [result] = bot(stub.url).send([notice()])
    assert "chat.postMessage: not_in_channel (the app is not in the channel: /invite it)" in str(result.error)


def test_a_refused_token_ends_the_batch_after_one_request(stub: Stub) -> None:
    stub.answer(Answer(body={"ok": False, "error": "invalid_auth"}))

    results = bot(stub.url).send([notice(1), notice(2), notice(3)])

    assert len(stub.seen) == 1
    assert [r.error.code if r.error else None for r in results] == ["invalid_auth"] * 3


@pytest.mark.parametrize(
    ("answer", "kind", "in_flight"),
    [
        (Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}), RateLimited, False),
        (Answer(200, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3"}), RateLimited, False),
        (Answer(200, {"ok": False, "error": "internal_error"}), InDoubt, False),
        (Answer(500, "<html>Internal Server Error</html>"), InDoubt, False),
        (Answer(502, "Bad Gateway"), InDoubt, False),
        (Answer(504, "Gateway Timeout"), InDoubt, True),
        (Answer(503, "Service Unavailable"), TransientChannelError, False),
    ],
    ids=["429", "ratelimited", "internal_error", "500", "502", "504", "503"],
)
def test_web_api_failures_say_whether_slack_may_have_the_message(
    stub: Stub, answer: Answer, kind: type[Exception], in_flight: bool
) -> None:
    stub.answer(answer)

    [result] = bot(stub.url).send([notice()])

    assert type(result.error) is kind
    assert getattr(result.error, "in_flight", False) is in_flight
    if isinstance(result.error, RateLimited):
        assert result.error.retry_after == float(answer.headers["Retry-After"])


@pytest.mark.parametrize(
    ("answer", "kind", "code"),
    [
        (Answer(400, "invalid_payload"), PermanentChannelError, "invalid_payload"),
        (Answer(403, "action_prohibited"), PermanentChannelError, "action_prohibited"),
        (Answer(404, "channel_not_found"), PermanentChannelError, "channel_not_found"),
        (Answer(404, "no_service"), PermanentChannelError, "no_service"),
        (Answer(410, "channel_is_archived"), PermanentChannelError, "channel_is_archived"),
        (Answer(429, "rate_limited", {"Retry-After": "3"}), RateLimited, "rate_limited"),
        (Answer(500, "rollup_error"), InDoubt, "rollup_error"),
        (Answer(503, "<html>busy</html>"), TransientChannelError, None),
    ],
    ids=lambda value: str(value.status) if isinstance(value, Answer) else None,
)
def test_webhook_failures_keep_slacks_plain_text_code(
    stub: Stub, answer: Answer, kind: type[Exception], code: str | None
) -> None:
    stub.answer(answer)

    [result] = hooks(stub, "ops").send([notice(address="ops")])

    assert type(result.error) is kind
    assert result.error is not None and result.error.code == code
    assert HOOK_SECRET not in str(result.error)


@pytest.mark.parametrize("address", [CHANNEL_ID, "ops"])
def test_a_refused_connection_never_sent_the_message(address: str) -> None:
    adapter = SlackAdapter(bot_token=TOKEN, api_url=closed_port(), webhooks={"ops": closed_port()}, timeout=5)

    [result] = adapter.send([notice(address=address)])

    assert type(result.error) is TransientChannelError
    assert "request not sent (ConnectionRefusedError)" in str(result.error)


@pytest.mark.parametrize("address", [CHANNEL_ID, "ops"])
def test_a_dropped_connection_is_in_doubt_and_the_sdk_never_resends_on_its_own(
    stub: Stub, address: str
) -> None:
    stub.answer(Answer(drop=True))
    adapter = SlackAdapter(bot_token=TOKEN, api_url=f"{stub.url}/api/", webhooks={"ops": stub.url}, timeout=5)

    [result] = adapter.send([notice(address=address)])

    assert isinstance(result.error, InDoubt) and not result.error.in_flight
    assert len(stub.seen) == 1


def test_no_answer_in_time_leaves_the_message_in_doubt(stub: Stub) -> None:
    stub.answer(Answer(delay=2.5))

    [result] = bot(stub.url, timeout=1).send([notice()])

    assert isinstance(result.error, InDoubt) and result.error.in_flight


# ── where a notice goes ───────────────────────────────────────────────────────────────────────────


def test_a_notice_reaches_a_channel_of_the_sandbox_with_its_ts(box: SandboxHandle, tmp_path: Path) -> None:
    [result] = sandboxed(box, tmp_path).send([worded("Pay & ship <now>", subject="Approve", link=LINK)])

    assert result.accepted
    [record] = box.inbox("slack")
    assert (record.provider_id, record.address) == (result.provider_id, CHANNEL_ID)
    assert (record.delivery_id, record.idempotency_key) == ("1", "n1.slack")
    assert (record.subject, record.text) == ("Approve", f"Pay & ship <now>\n\n{LINK}")  # as a reader sees it


def test_a_person_is_messaged_directly_and_a_webhook_name_needs_no_setup_in_the_sandbox(
    box: SandboxHandle, tmp_path: Path
) -> None:
    adapter = sandboxed(box, tmp_path)

    results = adapter.send([notice(1, address=PERSON), notice(2, address="war-room")])

    assert [r.accepted for r in results] == [True, True]
    assert results[1].provider_id == "webhook:war-room"
    assert [(r.address, r.idempotency_key) for r in box.inbox("slack")] == [
        (PERSON, "n1.slack"),
        ("war-room", None),
    ]


def test_a_body_that_escaping_pushes_past_one_section_still_arrives_whole(
    box: SandboxHandle, tmp_path: Path
) -> None:
    text = "\n\n".join(["R&D " * 300, "Q&A " * 300, "end"])  # 2402 characters, 3002 once escaped

    [result] = sandboxed(box, tmp_path).send([worded(text)])

    assert result.accepted, result.error
    assert box.inbox("slack")[0].text == text.strip()


def test_with_nothing_set_everything_goes_to_the_sandbox(
    box: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLARION_SLACK_BOT_TOKEN", "")  # set but empty is unset
    monkeypatch.setenv("CLARION_SLACK_WEBHOOKS", "")
    settings = Settings(home=tmp_path, sandbox_url=box.url)
    assert SPEC.sandboxed(settings)
    assert SPEC.adapter is not None
    adapter = SPEC.adapter(settings, client=httpx.Client(), engine=None)  # type: ignore[arg-type]

    assert [r.accepted for r in adapter.send([notice(address="anything")])] == [True]
    assert len(box.inbox("slack")) == 1


def test_configured_webhooks_never_fall_back_to_the_sandbox(
    box: SandboxHandle, stub: Stub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub.answer(Answer(body="ok"))
    monkeypatch.setenv(
        "CLARION_SLACK_WEBHOOKS", json.dumps({"ops": f"{stub.url}/services/T1/B1/{HOOK_SECRET}"})
    )
    settings = Settings(home=tmp_path, sandbox_url=box.url)
    adapter = SlackAdapter.from_settings(settings)

    results = adapter.send(
        [notice(1, address="ops"), notice(2, address="war-room"), notice(3, address=PERSON)]
    )

    assert not SPEC.sandboxed(settings)
    assert results[0].accepted and len(stub.seen) == 1
    assert "no webhook named 'war-room' in CLARION_SLACK_WEBHOOKS" in str(results[1].error)
    assert "needs CLARION_SLACK_BOT_TOKEN, which is not set" in str(results[2].error)
    assert box.inbox("slack") == []


def test_a_configured_bot_token_posts_to_the_configured_api(
    stub: Stub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLARION_SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("CLARION_SLACK_API_URL", f"{stub.url}/gov/api/")

    [result] = SlackAdapter.from_settings(Settings(home=tmp_path)).send([notice()])

    assert result.accepted
    assert (stub.seen[0].path, stub.seen[0].headers["Authorization"]) == (
        "/gov/api/chat.postMessage",
        f"Bearer {TOKEN}",
    )


def test_a_notice_without_an_address_goes_to_the_default_webhook(stub: Stub) -> None:
    stub.answer(Answer(body="ok"))

    [sent] = hooks(stub, "default").send([notice(address=None)])
    [refused] = hooks(stub, "ops").send([notice(address=None)])

    assert sent.provider_id == "webhook:default" and len(stub.seen) == 1
    assert (
        "no webhook named 'default' in CLARION_SLACK_WEBHOOKS (a message without an address goes there)"
        in str(refused.error)
    )


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        (
            "CLARION_SLACK_WEBHOOKS",
            "{not json " + HOOK_SECRET,
            "CLARION_SLACK_WEBHOOKS must be a JSON object",
        ),
        (
            "CLARION_SLACK_WEBHOOKS",
            json.dumps({"ops": f"ftp://x/{HOOK_SECRET}"}),
            "webhook 'ops' is not an http(s)",
        ),
        (
            "CLARION_SLACK_WEBHOOKS",
            json.dumps({"Ops Room": f"https://x/{HOOK_SECRET}"}),
            "'Ops Room' is not lowercase",
        ),
        (
            "CLARION_SLACK_BOT_TOKEN",
            f"xoxp-{HOOK_SECRET}",
            "CLARION_SLACK_BOT_TOKEN: must be a bot token (xoxb-…)",
        ),
    ],
    ids=["not-json", "not-http", "bad-name", "user-token"],
)
def test_unusable_settings_are_named_and_never_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigError, match="slack: ") as caught:
        SlackAdapter.from_settings(Settings(home=tmp_path))

    assert says in str(caught.value)
    assert HOOK_SECRET not in str(caught.value)


# ── addresses and secrets ─────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("C0123ABCD9", "C0123ABCD9"),
        (" U0123ABCD9 ", "U0123ABCD9"),
        ("W0123ABCD9", "W0123ABCD9"),
        ("war-room", "war-room"),
    ],
)
def test_an_id_or_a_webhook_name_is_an_address(value: str, stored: str) -> None:
    assert check_address(value) == stored


@pytest.mark.parametrize("value", ["#general", "C0123", "War Room", "war_room", "", "c0123abcd9x" + "-" * 60])
def test_anything_else_is_not(value: str) -> None:
    with pytest.raises(ValueError, match="not a Slack conversation or user ID"):
        check_address(value)


def test_a_webhook_url_as_an_address_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValueError, match="a webhook URL is a secret") as caught:
        check_address(f"https://hooks.slack.com/services/T1/B1/{HOOK_SECRET}")
    assert HOOK_SECRET not in str(caught.value)


def test_repr_names_the_webhooks_and_shows_no_secret(stub: Stub) -> None:
    adapter = SlackAdapter(bot_token=TOKEN, webhooks={"ops": f"{stub.url}/services/T1/B1/{HOOK_SECRET}"})

    assert repr(adapter) == "<SlackAdapter https://slack.com/api/ bot token set, webhooks: ops>"


# ── reconcile: present, absent, or honestly unknown ───────────────────────────────────────────────


@pytest.mark.parametrize("address", [CHANNEL_ID, PERSON])
def test_a_posted_message_is_found_by_its_key_and_another_is_absent(
    box: SandboxHandle, tmp_path: Path, address: str
) -> None:
    adapter = sandboxed(box, tmp_path)
    [sent] = adapter.send([notice(1, address=address)])

    found, missing = adapter.reconcile([notice(1, address=address), notice(2, address=address)])

    assert (found.presence, found.provider_id) == (Presence.PRESENT, sent.provider_id)
    assert missing.presence is Presence.ABSENT


def test_the_history_is_read_from_a_minute_before_the_first_attempt(
    box: SandboxHandle, tmp_path: Path
) -> None:
    adapter = sandboxed(box, tmp_path)
    posted = datetime.now(UTC)
    adapter.send([notice()])

    skewed, later = adapter.reconcile(
        [
            notice(first_attempt_at=posted + timedelta(seconds=30)),
            notice(first_attempt_at=posted + timedelta(minutes=2)),
        ]
    )

    assert skewed.presence is Presence.PRESENT  # a clock 30 s ahead still finds it
    assert later.presence is Presence.ABSENT


def test_a_lookup_reads_every_page_and_says_unknown_when_it_cannot(
    box: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = sandboxed(box, tmp_path)
    adapter.send([notice(1)])
    adapter.send([notice(2)])
    adapter.send([notice(3)])
    monkeypatch.setattr(channels.slack, "HISTORY_PAGE", 1)

    [on_the_third_page] = adapter.reconcile([notice(1)])
    monkeypatch.setattr(channels.slack, "HISTORY_PAGES", 2)
    [beyond_two_pages] = adapter.reconcile([notice(1)])
    [not_there] = adapter.reconcile([notice(9)])

    assert on_the_third_page.presence is Presence.PRESENT
    assert beyond_two_pages.presence is Presence.UNKNOWN  # never ABSENT without reading it all
    assert not_there.presence is Presence.UNKNOWN


def test_a_webhook_cannot_tell_and_is_not_asked(stub: Stub) -> None:
    [answer] = hooks(stub, "ops").reconcile([notice(address="ops")])

    assert answer.presence is Presence.UNKNOWN and answer.error is None
    assert stub.seen == []


def test_a_failed_lookup_is_unknown_with_its_error_and_a_refused_token_asks_once(stub: Stub) -> None:
    stub.answer(Answer(body={"ok": False, "error": "invalid_auth"}))

    answers = bot(stub.url).reconcile([notice(1), notice(2)])

    assert [(a.presence, a.error.code if a.error else None) for a in answers] == [
        (Presence.UNKNOWN, "invalid_auth")
    ] * 2
    assert [s.path for s in stub.seen] == ["/api/conversations.history"]


# ── the sandbox double ────────────────────────────────────────────────────────────────────────────

AUTH = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.fixture
def api(box: SandboxHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{box.url}/slack", timeout=10.0) as client:
        yield client


@pytest.mark.parametrize(
    ("headers", "code"), [({}, "not_authed"), ({"Authorization": "Bearer xoxb-wrong"}, "invalid_auth")]
)
def test_the_double_refuses_a_bad_token_as_slack_does(
    api: httpx.Client, headers: dict[str, str], code: str
) -> None:
    response = api.post("/api/chat.postMessage", headers=headers, json={"channel": CHANNEL_ID, "text": "hi"})

    assert (response.status_code, response.json()) == (200, {"ok": False, "error": code})


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        ({"channel": "#general", "text": "hi"}, "channel_not_found", None),
        ({"channel": CHANNEL_ID}, "no_text", None),
        ({"channel": CHANNEL_ID, "blocks": {"type": "section"}}, "invalid_blocks_format", None),
        (
            {"channel": CHANNEL_ID, "blocks": [header("H" * 151)]},
            "invalid_blocks",
            "must be less than 151 characters",
        ),
        (
            {"channel": CHANNEL_ID, "blocks": [section("s" * 3001)]},
            "invalid_blocks",
            "must be less than 3001",
        ),
        ({"channel": CHANNEL_ID, "blocks": [section("s")] * 51}, "invalid_blocks", "no more than 50 items"),
        (
            {"channel": CHANNEL_ID, "text": "hi", "metadata": {"event_type": 1}},
            "invalid_metadata_format",
            None,
        ),
    ],
    ids=["channel", "no-text", "blocks-not-a-list", "header", "section", "51-blocks", "metadata"],
)
def test_the_double_refuses_what_slack_refuses_and_records_nothing(
    api: httpx.Client, box: SandboxHandle, body: dict[str, Any], code: str, says: str | None
) -> None:
    response = api.post("/api/chat.postMessage", headers=AUTH, json=body).json()

    assert (response["ok"], response["error"]) == (False, code)
    if says:
        assert says in response["response_metadata"]["messages"][0]
    assert box.inbox("slack") == []


def test_the_double_takes_a_form_post_and_shows_metadata_only_when_asked(api: httpx.Client) -> None:
    metadata = {"event_type": "clarion_notice", "event_payload": {"idempotency_key": "k1"}}
    form = {"channel": CHANNEL_ID, "blocks": json.dumps([section("hi")]), "metadata": json.dumps(metadata)}
    posted = api.post("/api/chat.postMessage", headers=AUTH, data=form).json()

    plain = api.post("/api/conversations.history", headers=AUTH, data={"channel": CHANNEL_ID}).json()
    full = api.post(
        "/api/conversations.history", headers=AUTH, json={"channel": CHANNEL_ID, "include_all_metadata": True}
    ).json()

    assert posted["ok"] and posted["channel"] == CHANNEL_ID
    assert [m["ts"] for m in plain["messages"]] == [posted["ts"]] and "metadata" not in plain["messages"][0]
    assert full["messages"][0]["metadata"] == metadata


def test_the_double_forgets_its_messages_on_reset(api: httpx.Client, box: SandboxHandle) -> None:
    api.post("/api/chat.postMessage", headers=AUTH, json={"channel": CHANNEL_ID, "text": "hi"})
    box.reset()

    history = api.post("/api/conversations.history", headers=AUTH, data={"channel": CHANNEL_ID}).json()

    assert history["messages"] == [] and box.inbox("slack") == []


@pytest.mark.parametrize(
    ("name", "content", "status", "said"),
    [
        ("ops", b"{not json", 400, "invalid_payload"),
        ("ops", json.dumps({"blocks": [header("H" * 151)]}).encode(), 400, "invalid_blocks"),
        ("ops", json.dumps({"text": " "}).encode(), 400, "missing_text_or_fallback_or_attachments"),
        ("Ops_Room", json.dumps({"text": "hi"}).encode(), 404, "no_service"),
    ],
    ids=["not-json", "over-limit", "no-text", "bad-name"],
)
def test_the_double_webhook_answers_slacks_plain_text_errors(
    api: httpx.Client, box: SandboxHandle, name: str, content: bytes, status: int, said: str
) -> None:
    response = api.post(f"/services/{name}", content=content, headers={"Content-Type": "application/json"})

    assert (response.status_code, response.text) == (status, said)
    assert response.headers["content-type"].startswith("text/plain")
    assert box.inbox("slack") == []


def test_the_double_webhook_takes_a_message_and_records_it(api: httpx.Client, box: SandboxHandle) -> None:
    response = api.post(
        "/services/war-room", json={"text": "fallback", "blocks": [header("H"), section("a &amp; b")]}
    )

    assert (response.status_code, response.text) == (200, "ok")
    [record] = box.inbox("slack")
    assert (record.address, record.subject, record.text) == ("war-room", "H", "a & b")
