"""The Teams adapter against a fake Workflows endpoint on ``httpx.MockTransport``, and its sandbox double
over loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from channels.sandbox import SandboxHandle
from channels.teams import MAX_BODY_BYTES, MAX_MESSAGE_BYTES, SPEC, TeamsAdapter, check_address, read_settings
from clarion.errors import ConfigError, InDoubt, PermanentChannelError, RateLimited, TransientChannelError
from clarion.kinds import Channel
from clarion.outbox.port import Content, OutboundMessage, Presence
from clarion.settings import Settings
from clarion.updates.limits import measure

TEAMS = Channel("teams")
SIG = "s3cr3tSignatureValue0123456789"
ROOM = f"https://prod-42.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}"
DPO = "https://prod-42.westeurope.logic.azure.com/workflows/def/triggers/manual/paths/invoke?sig=otherSignature98765"
SANDBOX = "http://sandbox.test:8766"
TEXT = (
    "Update 3 of INC-0042 waits for your approval.\n\n"
    "Preview: payments are degraded.\nNext update by 10:30 UTC.\n\n"
    "Approve with: clarion approve INC-0042 3"
)
LINK = "https://status.example.com/i/42"


def message(n: int = 1, **changes: Any) -> OutboundMessage:
    """Notice ``n``: an approval request to the incident room; ``changes`` override any field."""
    built = OutboundMessage(
        delivery_id=n,
        idempotency_key=f"notice-{n}.teams",
        channel=TEAMS,
        content=Content(
            rendition_id=None, locale="en", text=TEXT, subject="Approve update 3 of INC-0042", link=LINK
        ),
        incident_reference="",
        severity="",
        status="",
        created_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        address="incident-room",
        notice="approval-request",
    )
    return replace(built, **changes)


def content(text: str = TEXT, subject: str | None = "Approve", link: str | None = LINK) -> Content:
    return Content(rendition_id=None, locale="en", text=text, subject=subject, link=link)


@dataclass
class FakeWorkflows:
    """Workflows endpoints: 202 with a run id, or the canned ``answers`` first-in first-out."""

    answers: list[httpx.Response | Exception] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return httpx.Response(202, headers={"x-ms-workflow-run-id": f"08584-run-{len(self.requests)}"})

    def card(self, i: int = -1) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.requests[i].content)
        return body


def adapter(fake: FakeWorkflows, webhooks: dict[str, str] | None = None) -> TeamsAdapter:
    return TeamsAdapter(
        client=httpx.Client(transport=httpx.MockTransport(fake)),
        webhooks={"incident-room": ROOM, "dpo": DPO} if webhooks is None else webhooks,
        sandbox_url=SANDBOX,
    )


def sandboxed(fake: FakeWorkflows) -> TeamsAdapter:
    return TeamsAdapter(
        client=httpx.Client(transport=httpx.MockTransport(fake)), webhooks=None, sandbox_url=SANDBOX
    )


def texts(body: dict[str, Any]) -> list[str]:
    return [e["text"] for e in body["attachments"][0]["content"]["body"]]


# ── the card ──────────────────────────────────────────────────────────────────────────────────────────


def test_a_notice_becomes_one_adaptive_card_with_a_heading_its_paragraphs_and_a_link_button() -> None:
    fake = FakeWorkflows()

    [result] = adapter(fake).send([message()])

    assert result.accepted and result.provider_id == "08584-run-1"
    (request,) = fake.requests
    assert str(request.url) == ROOM and request.headers["content-type"] == "application/json"
    body = fake.card()
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert (card["$schema"], card["type"], card["version"]) == (
        "http://adaptivecards.io/schemas/adaptive-card.json",
        "AdaptiveCard",
        "1.4",
    )
    heading, *paragraphs = card["body"]
    assert heading == {
        "type": "TextBlock",
        "text": "Approve update 3 of INC-0042",
        "style": "heading",
        "weight": "bolder",
        "size": "medium",
        "wrap": True,
    }
    assert [p["text"] for p in paragraphs] == [
        "Update 3 of INC-0042 waits for your approval.",
        "Preview: payments are degraded.\nNext update by 10:30 UTC.",
        "Approve with: clarion approve INC-0042 3",
    ]
    assert all(p["type"] == "TextBlock" and p["wrap"] is True for p in paragraphs)
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "status.example.com/i/42", "url": LINK}]


def test_no_link_no_button_and_no_subject_no_heading() -> None:
    fake = FakeWorkflows()

    adapter(fake).send(
        [message(content=content(text="Reminder: the update is due.", subject=None, link=None))]
    )

    card = fake.card()["attachments"][0]["content"]
    assert "actions" not in card
    assert card["body"] == [{"type": "TextBlock", "text": "Reminder: the update is due.", "wrap": True}]


def test_a_notice_cannot_forge_a_link_or_formatting() -> None:
    fake = FakeWorkflows()
    words = "Click [here](https://evil.example/x) for **free** `code` _now_ # > done\\"

    adapter(fake).send([message(content=content(text=words, subject="[Approve](https://evil.example)"))])

    heading, paragraph = texts(fake.card())
    assert heading == "\\[Approve\\]\\(https://evil.example)"
    assert paragraph == (
        "Click \\[here\\]\\(https://evil.example/x) for "
        "\\*\\*free\\*\\* \\`code\\` \\_now\\_ \\# \\> done\\\\"
    )


def test_a_bare_url_stays_clickable_and_cannot_smuggle_a_link() -> None:
    fake = FakeWorkflows()
    words = (
        "Page: https://status.example.com/incident_42?a=(b) and https://x.example/[t](https://evil.example)"
    )

    adapter(fake).send([message(content=content(text=words))])

    assert texts(fake.card())[1] == (
        "Page: https://status.example.com/incident_42?a=(b) and https://x.example/\\[t\\](https://evil.example)"
    )


# ── success ───────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("answer", "provider_id"),
    [
        (httpx.Response(202, headers={"x-ms-workflow-run-id": "08584-run"}), "08584-run"),  # Workflows
        (httpx.Response(200, text="1"), None),  # a plain 200, as the retired connectors answered
        (httpx.Response(200, headers={"x-ms-request-id": "req-7"}), "req-7"),
    ],
)
def test_a_workflows_202_and_a_plain_200_are_both_success(
    answer: httpx.Response, provider_id: str | None
) -> None:
    [result] = adapter(FakeWorkflows(answers=[answer])).send([message()])

    assert result.accepted
    assert result.provider_id == provider_id
    assert result.provider_status == str(answer.status_code)


# ── failures ──────────────────────────────────────────────────────────────────────────────────────────


def test_429_is_a_rate_limit_with_its_retry_after() -> None:
    fake = FakeWorkflows(
        answers=[httpx.Response(429, headers={"Retry-After": "7"}, text="Too many requests")]
    )

    [result] = adapter(fake).send([message()])

    assert isinstance(result.error, RateLimited)
    assert result.error.retry_after == 7.0


def test_413_names_the_28_kb_limit() -> None:
    fake = FakeWorkflows(answers=[httpx.Response(413, text="Request Entity too large")])

    [result] = adapter(fake).send([message()])

    assert type(result.error) is PermanentChannelError
    assert "28 KB" in str(result.error) and result.error.status_code == 413


def test_400_is_permanent_and_keeps_the_workflows_code() -> None:
    error = {"error": {"code": "InvalidTemplate", "message": "The card could not be parsed."}}
    fake = FakeWorkflows(answers=[httpx.Response(400, json=error)])

    [result] = adapter(fake).send([message()])

    assert type(result.error) is PermanentChannelError
    assert result.error.code == "InvalidTemplate"
    assert "The card could not be parsed." in str(result.error)


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_refused_or_vanished_workflow_is_permanent_and_says_the_url_is_wrong_or_revoked(
    status: int,
) -> None:
    said = {"error": {"code": "DirectApiAuthorizationRequired", "message": f"bad sig {SIG} for this flow"}}
    fake = FakeWorkflows(answers=[httpx.Response(status, json=said)])

    [result] = adapter(fake).send([message()])

    assert type(result.error) is PermanentChannelError
    assert "'incident-room'" in str(result.error)
    assert "CLARION_TEAMS_WEBHOOKS is wrong or revoked" in str(result.error)
    assert SIG not in str(result.error)  # the provider echoed the signature; clarion does not


def test_a_redirect_is_permanent() -> None:
    fake = FakeWorkflows(answers=[httpx.Response(302, headers={"Location": "https://elsewhere.example"})])

    [result] = adapter(fake).send([message()])

    assert type(result.error) is PermanentChannelError


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_server_error_after_the_post_is_in_doubt(status: int) -> None:
    [result] = adapter(FakeWorkflows(answers=[httpx.Response(status)])).send([message()])

    assert isinstance(result.error, InDoubt)


def test_503_is_transient_and_not_in_doubt() -> None:
    [result] = adapter(FakeWorkflows(answers=[httpx.Response(503)])).send([message()])

    assert isinstance(result.error, TransientChannelError) and not isinstance(result.error, InDoubt)


def test_a_refused_connection_is_transient_and_a_read_timeout_in_doubt() -> None:
    refused = httpx.ConnectError("refused")
    timed_out = httpx.ReadTimeout("slow")

    [first] = adapter(FakeWorkflows(answers=[refused])).send([message()])
    [second] = adapter(FakeWorkflows(answers=[timed_out])).send([message()])

    assert isinstance(first.error, TransientChannelError) and not isinstance(first.error, InDoubt)
    assert isinstance(second.error, InDoubt) and second.error.in_flight


# ── limits ────────────────────────────────────────────────────────────────────────────────────────────


def test_a_card_over_28_kb_is_refused_before_any_request() -> None:
    fake = FakeWorkflows()

    [result] = adapter(fake).send([message(content=content(text="x" * MAX_MESSAGE_BYTES))])

    assert type(result.error) is PermanentChannelError
    assert "28 KB (28672 bytes)" in str(result.error)
    assert fake.requests == []


def test_the_preview_limits_leave_room_for_the_card_around_them() -> None:
    """A subject and body at the spec's limits fit in 28 KB; the adapter, measuring the real payload,
    still refuses what escaping makes too big."""
    subject = "é" * 200
    body = "\n\n".join(["w" * 999] * (MAX_BODY_BYTES // 1001)).ljust(MAX_BODY_BYTES, "w")
    link = "https://status.example.com/" + "p" * 500
    fields = {"subject": subject, "body": body}
    assert all(m.fits for m in measure(TEAMS, fields, limits=SPEC.limits, sms_max_segments=3))

    fake = FakeWorkflows()
    [fits] = adapter(fake).send([message(content=content(text=body, subject=subject, link=link))])
    [escaped] = adapter(fake).send([message(content=content(text="*" * MAX_BODY_BYTES))])

    assert fits.accepted and MAX_BODY_BYTES < len(fake.requests[0].content) <= MAX_MESSAGE_BYTES
    assert isinstance(escaped.error, PermanentChannelError) and "28 KB" in str(escaped.error)
    assert len(fake.requests) == 1


def test_the_preview_refuses_a_long_heading_by_graphemes() -> None:
    [subject] = [m for m in measure(TEAMS, {"subject": "🇩🇪" * 201}, limits=SPEC.limits, sms_max_segments=3)]

    assert (subject.measure, subject.length, subject.limit, subject.fits) == ("graphemes", 201, 200, False)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"content": content(text="  ", subject=None)}, "nothing to post"),
        ({"content": content(link="javascript:alert(1)")}, "not an http(s) URL"),
        ({"content": content(text="bad \ud800 text")}, "lone surrogate"),
    ],
)
def test_a_card_that_cannot_be_posted_is_refused_before_any_request(
    changes: dict[str, Any], says: str
) -> None:
    fake = FakeWorkflows()

    [result] = adapter(fake).send([message(**changes)])

    assert isinstance(result.error, PermanentChannelError) and says in str(result.error)
    assert fake.requests == []


# ── addresses and routing ─────────────────────────────────────────────────────────────────────────────


def test_each_name_posts_to_its_own_workflow() -> None:
    fake = FakeWorkflows()
    teams = adapter(fake)

    teams.send([message(1)])
    teams.send([message(2, address="dpo")])

    assert [str(r.url) for r in fake.requests] == [ROOM, DPO]


def test_a_name_the_setting_does_not_list_is_permanent_and_names_the_setting() -> None:
    fake = FakeWorkflows()

    [result] = adapter(fake).send([message(address="war-room")])

    assert type(result.error) is PermanentChannelError
    assert "no workflow named 'war-room' in CLARION_TEAMS_WEBHOOKS" in str(result.error)
    assert fake.requests == []


def test_unconfigured_every_name_goes_to_the_sandbox() -> None:
    fake = FakeWorkflows()

    sandboxed(fake).send([message(address="war-room")])

    assert str(fake.requests[0].url) == f"{SANDBOX}/teams/workflows/war-room"


def test_a_message_without_an_address_is_permanent() -> None:
    fake = FakeWorkflows()

    [result] = sandboxed(fake).send([message(address=None)])

    assert isinstance(result.error, PermanentChannelError) and "no address" in str(result.error)
    assert fake.requests == []


def test_the_settings_choose_between_the_workflows_and_the_sandbox(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    settings = Settings(home=tmp_path, sandbox_url=SANDBOX)
    client = httpx.Client(transport=httpx.MockTransport(FakeWorkflows()))
    assert SPEC.sandboxed(settings)
    assert (
        repr(TeamsAdapter.from_settings(settings, client=client))
        == f"<TeamsAdapter sandbox {SANDBOX}/teams/workflows>"
    )

    monkeypatch.setenv("CLARION_TEAMS_WEBHOOKS", json.dumps({"incident-room": ROOM, "dpo": DPO}))

    assert not SPEC.sandboxed(settings)
    built = TeamsAdapter.from_settings(settings, client=client)
    assert repr(built) == "<TeamsAdapter workflows: dpo, incident-room>"
    assert SIG not in repr(read_settings())


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("not json", "must be a JSON object of names to https URLs"),
        (
            json.dumps({"incident-room": ROOM.replace("https://", "http://")}),
            "'incident-room' is not an https URL",
        ),
        (json.dumps({"Incident Room": ROOM}), "lower-case letters"),
        (json.dumps({ROOM: "incident-room"}), "a name, not a webhook URL"),
    ],
)
def test_a_malformed_setting_is_a_config_error_that_never_shows_a_url(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    monkeypatch.setenv("CLARION_TEAMS_WEBHOOKS", value)

    with pytest.raises(ConfigError, match="CLARION_TEAMS_WEBHOOKS") as caught:
        read_settings()

    assert says in str(caught.value)
    assert SIG not in str(caught.value) and "logic.azure.com" not in str(caught.value)


def test_an_empty_setting_is_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("CLARION_TEAMS_WEBHOOKS", "")

    assert SPEC.sandboxed(Settings(home=tmp_path))


def test_the_adapter_refuses_a_plain_http_url_without_showing_it() -> None:
    with pytest.raises(ConfigError, match="'dpo' is not an https URL") as caught:
        adapter(FakeWorkflows(), webhooks={"dpo": "http://flows.example/x?sig=" + SIG})

    assert SIG not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "stored"), [("incident-room", "incident-room"), ("  dpo ", "dpo"), ("a", "a")]
)
def test_an_address_is_a_workflow_name(value: str, stored: str) -> None:
    assert check_address(value) == stored
    assert SPEC.check_address is check_address


@pytest.mark.parametrize("value", ["Incident-Room", "9lives", "", "war room", "x" * 64, "-dash"])
def test_an_address_that_is_no_name_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="lower-case letters, digits and dashes"):
        check_address(value)


def test_an_address_that_is_a_webhook_url_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValueError, match="a name, not a webhook URL") as caught:
        check_address(ROOM)

    assert SIG not in str(caught.value)


def test_no_secret_in_repr() -> None:
    teams = adapter(FakeWorkflows())

    assert SIG not in repr(teams) and "logic.azure.com" not in repr(teams)
    assert repr(teams) == "<TeamsAdapter workflows: dpo, incident-room>"


# ── reconcile and the spec ────────────────────────────────────────────────────────────────────────────


def test_reconcile_says_it_cannot_tell_and_asks_nobody() -> None:
    fake = FakeWorkflows()

    [answer] = adapter(fake).reconcile([message()])

    assert answer.presence is Presence.UNKNOWN
    assert fake.requests == []
    assert not SPEC.no_duplicates and "cannot tell" in SPEC.reconcile


def test_one_message_per_batch_under_four_a_second() -> None:
    teams = adapter(FakeWorkflows())

    assert (teams.max_batch, teams.requests_per_second) == (1, 4.0)
    with pytest.raises(ValueError, match="per batch"):
        teams.send([message(1), message(2)])


# ── the sandbox double ────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def client(box: SandboxHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=box.url, timeout=10.0) as c:
        yield c


def test_the_double_records_what_the_adapter_posts_as_a_reader_sees_it(box: SandboxHandle) -> None:
    with httpx.Client(timeout=10.0) as http:
        teams = TeamsAdapter(client=http, webhooks=None, sandbox_url=box.url)
        words = content(
            text="Approve [update 3](x) of *INC_42*.\n\nRun: clarion approve INC-0042 3", subject="Approve #3"
        )
        first, second = teams.send([message(1, content=words)]), teams.send([message(2, address="dpo")])

    assert [r.provider_id for r in first + second] == ["sandbox-run-1", "sandbox-run-2"]
    one, two = box.inbox("teams")
    assert (one.address, one.subject, one.text) == (
        "incident-room",
        "Approve #3",
        "Approve [update 3](x) of *INC_42*.\n\nRun: clarion approve INC-0042 3",
    )
    assert (one.provider_id, one.delivery_id, one.idempotency_key) == ("sandbox-run-1", None, None)
    assert two.address == "dpo"
    assert box.stats()["duplicates"].get("teams", 0) == 0


def test_the_double_answers_202_with_a_run_id_and_no_body(client: httpx.Client) -> None:
    response = client.post("/teams/workflows/ops", content=_envelope())

    assert (response.status_code, response.content) == (202, b"")
    assert response.headers["x-ms-workflow-run-id"] == "sandbox-run-1"


def _envelope(**changes: Any) -> bytes:
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [{"type": "TextBlock", "text": "Hello", "wrap": True}],
    }
    envelope: dict[str, Any] = {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }
    for path, value in changes.items():
        target: Any = envelope
        *parents, last = path.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return json.dumps(envelope).encode()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "the body is not JSON"),
        (_envelope(type="Message"), 'type must be "message"'),
        (_envelope(attachments=[]), "exactly one attachment"),
        (_envelope(**{"attachments.0.contentType": "application/json"}), "attachments[0].contentType"),
        (_envelope(**{"attachments.0.content.type": "HeroCard"}), 'content.type must be "AdaptiveCard"'),
        (_envelope(**{"attachments.0.content.version": 1.4}), "content.version must be a string"),
        (_envelope(**{"attachments.0.content.body": []}), "non-empty list"),
        (_envelope(**{"attachments.0.content.body.0.type": "Paragraph"}), "body[0].type 'Paragraph'"),
        (_envelope(**{"attachments.0.content.body.0.text": None}), "body[0].text must be a string"),
        (_envelope(**{"attachments.0.content.actions": [{"type": "Action.OpenUrl"}]}), "actions[0].url"),
    ],
)
def test_the_double_refuses_a_malformed_card_with_a_400_naming_what_is_wrong(
    client: httpx.Client, box: SandboxHandle, body: bytes, says: str
) -> None:
    response = client.post("/teams/workflows/ops", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidCard"
    assert says in response.json()["error"]["message"]
    assert box.inbox("teams") == []


def test_the_double_refuses_a_message_over_28_kb_with_a_413(client: httpx.Client, box: SandboxHandle) -> None:
    fits = _envelope(**{"attachments.0.content.body.0.text": "x"})
    text = "x" * (MAX_MESSAGE_BYTES - len(fits) + 2)  # one byte over once it replaces "x"

    over = client.post(
        "/teams/workflows/ops", content=_envelope(**{"attachments.0.content.body.0.text": text})
    )
    at = client.post(
        "/teams/workflows/ops", content=_envelope(**{"attachments.0.content.body.0.text": text[:-1]})
    )

    assert (over.status_code, over.text) == (413, "Request Entity too large")
    assert at.status_code == 202
    assert len(box.inbox("teams")) == 1


def test_the_double_has_no_workflow_at_a_malformed_name(client: httpx.Client) -> None:
    assert client.post("/teams/workflows/Not_A_Name", content=_envelope()).status_code == 404
