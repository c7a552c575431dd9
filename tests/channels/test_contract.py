"""One contract, every registered HTTP channel, against the provider sandbox over real loopback HTTP.

Each adapter must: deliver and name the provider's id; turn refused credentials into a permanent
error; turn each provider's 429 (with its own headers) into RateLimited; tell a failure the provider
certainly did not process (503) from one it may have (timeout, dropped connection, 500 after
accepting); and, after such a doubtful attempt, say truthfully whether the provider has the message.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from channels.base import ChannelAdapter
from channels.registry import build_senders
from channels.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from channels.sandbox.config import PROVIDERS, known_providers
from clarion.channel_table import channel_table
from clarion.errors import ChannelError, InDoubt, PermanentChannelError, RateLimited, TransientChannelError
from clarion.kinds import Channel
from clarion.outbox.port import OutboundMessage, Presence, SendResult
from clarion.settings import Settings
from tests.channels.messages import message

# Every channel sent through a double of the sandbox (the generic contract every channel keeps,
# another package's too, is tests/channels/test_channel_specs.py); the faults reach them all.
PROVIDER = {
    c: str(spec.provider)
    for c, spec in channel_table().items()
    if spec.provider in known_providers() and spec.adapter is not None
}
CHANNELS = list(PROVIDER)
BUILT_IN = [c for c in CHANNELS if PROVIDER[c] in PROVIDERS]  # whose credentials the sandbox checks


def outcome(adapter: ChannelAdapter, messages: Sequence[OutboundMessage]) -> list[SendResult]:
    """Results per message, whether the adapter returned them or raised for the whole batch."""
    try:
        return adapter.send(messages)
    except ChannelError as exc:
        return [SendResult(m.delivery_id, error=exc) for m in messages]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def box(sandbox: SandboxHandle) -> Iterator[SandboxHandle]:
    sandbox.configure(SandboxConfig(seed=1))
    sandbox.reset()
    yield sandbox
    sandbox.configure(SandboxConfig())


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.5)) as c:
        yield c


def adapter_for(
    channel: Channel, box: SandboxHandle, client: httpx.Client, tmp_path: Path, **settings: object
) -> ChannelAdapter:
    config = Settings(home=tmp_path, sandbox_url=box.url, **settings)  # type: ignore[arg-type]
    return build_senders(config, client=client, engine=None, channels=[channel])[channel]  # type: ignore[arg-type]


@pytest.mark.parametrize("channel", CHANNELS)
def test_success_is_accepted_with_the_providers_id(
    channel: Channel, box: SandboxHandle, client: httpx.Client, tmp_path: Path
) -> None:
    [result] = outcome(adapter_for(channel, box, client, tmp_path), [message(channel)])

    assert result.accepted, result.error
    assert result.provider_id
    [record] = box.inbox(channel.value)
    if result.provider_id.startswith("webhook:"):  # a Slack incoming webhook answers "ok", no id
        assert result.provider_id == f"webhook:{record.address}"
    else:
        assert record.provider_id in result.provider_id or result.provider_id in record.provider_id


WRONG_CREDENTIALS = {
    Channel.EMAIL: {"sendgrid_api_key": SecretStr("SG.wrong")},
    Channel.SMS: {
        "twilio_account_sid": "AC" + "1" * 32,
        "twilio_auth_token": SecretStr("wrong"),
        "twilio_from_number": "+15005550006",
    },
    Channel.MASTODON: {"mastodon_access_token": SecretStr("wrong")},
    Channel.BLUESKY: {
        "bluesky_identifier": "clarion.sandbox.test",
        "bluesky_app_password": SecretStr("wrong"),
    },
}
BASE_URL_SETTING = {
    Channel.EMAIL: "sendgrid_base_url",
    Channel.SMS: "twilio_base_url",
    Channel.MASTODON: "mastodon_base_url",
    Channel.BLUESKY: "bluesky_pds_url",
}


@pytest.mark.parametrize("channel", BUILT_IN)
def test_refused_credentials_are_permanent(
    channel: Channel, box: SandboxHandle, client: httpx.Client, tmp_path: Path
) -> None:
    box.configure(sendgrid_api_key="SG.sandbox")
    wrong = {**WRONG_CREDENTIALS[channel], BASE_URL_SETTING[channel]: box.url}

    [result] = outcome(adapter_for(channel, box, client, tmp_path, **wrong), [message(channel)])

    assert isinstance(result.error, PermanentChannelError)
    assert result.error.status_code == 401
    assert box.inbox(channel.value) == []


@pytest.mark.parametrize("channel", CHANNELS)
def test_429_is_a_rate_limit_with_the_providers_reset(
    channel: Channel, box: SandboxHandle, client: httpx.Client, tmp_path: Path
) -> None:
    adapter = adapter_for(channel, box, client, tmp_path)
    outcome(adapter, [message(channel, 1)])  # a Bluesky session or Mastodon instance read first
    box.configure(rate_limit={PROVIDER[channel]: 1})

    results = [r for n in range(2, 6) for r in outcome(adapter, [message(channel, n)])]

    limited = [r.error for r in results if isinstance(r.error, RateLimited)]
    assert limited, results
    if channel is Channel.SMS:
        assert limited[0].code == "20429"  # Twilio sends no reset header; its code says "safe to retry"
    else:
        assert limited[0].retry_after is not None and 0 <= limited[0].retry_after <= 2


@pytest.mark.parametrize("channel", CHANNELS)
def test_503_is_transient_and_certainly_not_processed(
    channel: Channel, box: SandboxHandle, client: httpx.Client, tmp_path: Path
) -> None:
    adapter = adapter_for(channel, box, client, tmp_path)
    outcome(adapter, [message(channel, 1)])
    box.configure(fault_rate=1.0, fault_kinds=("503",))

    [result] = outcome(adapter, [message(channel, 2)])

    assert isinstance(result.error, TransientChannelError) and not isinstance(result.error, InDoubt)
    assert len(box.inbox(channel.value)) == 1


@pytest.mark.parametrize("kind", ["timeout", "drop"])
@pytest.mark.parametrize("channel", CHANNELS)
def test_no_answer_leaves_the_message_in_doubt(
    channel: Channel, kind: str, box: SandboxHandle, client: httpx.Client, tmp_path: Path
) -> None:
    adapter = adapter_for(channel, box, client, tmp_path)
    outcome(adapter, [message(channel, 1)])
    box.configure(fault_rate=1.0, fault_kinds=(kind,), hang_seconds=1.5)

    [result] = outcome(adapter, [message(channel, 2)])

    if result.error is None:  # the answer's status came before the cut (a 204 has no body to cut)
        assert kind == "drop" and len(box.inbox(channel.value)) == 2
    else:
        assert isinstance(result.error, InDoubt)


EXPECTED_PRESENCE = {
    Channel.EMAIL: Presence.UNKNOWN,  # SendGrid: no idempotency key, no lookup without a paid add-on
    Channel.SMS: Presence.PRESENT,  # Twilio: the message list shows it
    Channel.MASTODON: Presence.ABSENT,  # a resend inside the hour replays the same status
    Channel.BLUESKY: Presence.PRESENT,  # getRecord by our deterministic record key
    Channel("slack"): Presence.UNKNOWN,  # to a webhook name: no lookup (by bot token: the history)
    Channel("teams"): Presence.UNKNOWN,  # a Workflows webhook: no idempotency key, no lookup
    Channel("webhook"): Presence.ABSENT,  # the receiver drops a repeated webhook-id: resend
    Channel("pigeon"): Presence.PRESENT,  # another package's: GET by the idempotency key
}


@pytest.mark.parametrize("channel", CHANNELS)
def test_after_a_500_that_was_processed_reconcile_tells_the_truth(
    channel: Channel, box: SandboxHandle, client: httpx.Client, tmp_path: Path
) -> None:
    adapter = adapter_for(channel, box, client, tmp_path)
    outcome(adapter, [message(channel, 1)])
    box.configure(fault_rate=1.0, fault_kinds=("500_after_accept",))
    doubtful = message(channel, 2)

    [result] = outcome(adapter, [doubtful])
    box.configure(fault_rate=0.0)
    [answer] = adapter.reconcile([doubtful])

    assert isinstance(result.error, InDoubt)
    assert answer.presence is EXPECTED_PRESENCE[channel]
    assert answer.presence is not Presence.ABSENT or adapter.send([doubtful])[0].accepted
    assert box.stats()["duplicates"][channel.value] == 0
    assert adapter.no_duplicates is (EXPECTED_PRESENCE[channel] is not Presence.UNKNOWN)


def test_a_stopped_number_is_refused_for_good(
    box: SandboxHandle, client: httpx.Client, tmp_path: Path
) -> None:
    sms = message(Channel.SMS, 3)
    assert sms.address is not None
    box.opt_out(sms.address)

    [result] = outcome(adapter_for(Channel.SMS, box, client, tmp_path), [sms])

    assert isinstance(result.error, PermanentChannelError) and result.error.code == "21610"
