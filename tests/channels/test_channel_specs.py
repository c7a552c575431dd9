"""The contract every channel keeps, whoever ships it: each spec in the channel table, clarion's own and
the test package's ``pigeon`` (``tests/plugins/clarion-pigeon``, installed into the test environment and
found only through the ``clarion.channels`` entry point).

A channel's spec is sound; its templates exist in every shipped locale and tell an update within its
limits, showing every key fact; a sent channel's adapter, built from default settings, reaches its
sandbox double over loopback HTTP, is answered one result per message, keeps its batch size, and says
truthfully whether the provider has a message. And the pigeon receives a published update end to end,
though no file of clarion names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from channels.delivery import run_worker
from channels.registry import build_senders
from channels.sandbox import SandboxHandle
from clarion import store
from clarion.audiences.sources import Source
from clarion.channel_table import ChannelSpec, Form, Reach, channel_table, spec_of
from clarion.facts import load_facts
from clarion.kinds import Channel
from clarion.outbox.port import Presence, Sender
from clarion.playbook import Playbook, load_playbook
from clarion.settings import Settings
from clarion.updates.consistency import findings
from clarion.updates.publish import stage_update
from clarion.updates.render import Renderer
from tests.channels.messages import message
from tests.helpers import EXAMPLES, PLAYBOOKS, ROOT, TEMPLATES

TABLE = channel_table()
SENT = [c for c, spec in TABLE.items() if spec.sandbox is not None]
PIGEON = Channel("pigeon")
LOCALES = sorted(p.stem for p in (TEMPLATES / "_locale").glob("*.yaml"))


@pytest.fixture(scope="module")
def breach() -> Playbook:
    return load_playbook(PLAYBOOKS / "data-breach.yaml")


# ── the table ─────────────────────────────────────────────────────────────────────────────────────


def test_the_table_holds_clarions_channels_and_the_one_a_package_added() -> None:
    names = [c.value for c in TABLE]
    assert names[:6] == ["email", "sms", "mastodon", "bluesky", "banner", "statuspage"]  # the core's own
    assert names[6:] == sorted(names[6:]) and {"pigeon", "teams"} <= set(names[6:])  # then by name
    assert Channel("pigeon") is PIGEON and PIGEON in set(Channel)
    assert spec_of("pigeon").templates is not None  # its templates travel with it


def test_a_name_no_package_registers_is_refused() -> None:
    with pytest.raises(ValueError, match="'carrier' is not a channel; known: email, sms"):
        Channel("carrier")


@pytest.mark.parametrize("channel", list(TABLE), ids=str)
def test_every_spec_is_whole(channel: Channel) -> None:
    spec = TABLE[channel]
    assert spec.name == channel.value
    assert spec.fields and set(spec.fields) <= {"body", "subject", "html"}
    assert {limit.field for limit in spec.limits} <= set(spec.fields)
    assert spec.sent is (spec.adapter is not None)
    assert spec.for_audiences != spec.for_public or spec.reach is Reach.INTERNAL
    if spec.sent and spec.provider is not None:
        assert spec.sandbox is not None, "a provider's channel brings a sandbox double"


@pytest.mark.parametrize("channel", [c for c, s in TABLE.items() if s.reach is not Reach.INTERNAL], ids=str)
@pytest.mark.parametrize("locale", LOCALES)
def test_every_channel_tells_an_update_within_its_limits_showing_every_key_fact(
    channel: Channel, locale: str, breach: Playbook
) -> None:
    facts = load_facts(EXAMPLES / "data-breach.yaml", breach)
    renderer = Renderer(breach, TEMPLATES, sms_max_segments=3)
    rendition = renderer.render(
        facts,
        next_update_by=datetime(2026, 3, 1, 12, tzinfo=UTC),
        channel=channel,
        locale=locale,
        time_zone="UTC",
    )
    assert set(rendition.fields) == set(TABLE[channel].fields)
    assert rendition.fits, rendition.binding
    assert findings([rendition]) == []


# ── adapters against their sandbox doubles ────────────────────────────────────────────────────────


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(5.0)) as c:
        yield c


def sender_for(channel: Channel, box: SandboxHandle, client: httpx.Client, tmp_path: Path) -> Sender:
    """The channel's adapter as default settings build it: every provider unset, so its sandbox double."""
    settings = Settings(home=tmp_path, sandbox_url=box.url)
    return build_senders(settings, client=client, engine=None, channels=[channel])[channel]  # type: ignore[arg-type]


@pytest.mark.parametrize("channel", SENT, ids=str)
def test_a_message_reaches_the_sandbox_double_with_the_providers_id(
    channel: Channel, box: SandboxHandle, client: httpx.Client, tmp_path: Path
) -> None:
    sender = sender_for(channel, box, client, tmp_path)
    assert TABLE[channel].sandboxed(Settings(home=tmp_path))
    first, second = message(channel, 1), message(channel, 2)

    step = sender.max_batch
    results = [r for i in range(0, 2, step) for r in sender.send([first, second][i : i + step])]

    assert [r.delivery_id for r in results] == [1, 2]
    assert all(r.accepted and r.provider_id for r in results), results
    assert len(box.inbox(channel.value)) == 2
    [answer] = sender.reconcile([first])
    if not sender.no_duplicates:
        assert answer.presence is Presence.UNKNOWN  # it cannot tell, and says so
    elif answer.presence is Presence.ABSENT:  # "absent" promises that a resend is safe (Mastodon's key)
        assert sender.send([first])[0].accepted
    else:
        assert answer.presence is Presence.PRESENT
    assert box.stats()["duplicates"].get(channel.value, 0) == 0


@pytest.mark.parametrize("channel", SENT, ids=str)
def test_a_batch_over_the_specs_size_is_refused_before_any_request(
    channel: Channel, box: SandboxHandle, client: httpx.Client, tmp_path: Path
) -> None:
    sender = sender_for(channel, box, client, tmp_path)
    assert sender.max_batch == TABLE[channel].max_batch
    with pytest.raises(ValueError, match="per batch"):
        sender.send([message(channel, n) for n in range(1, sender.max_batch + 2)])
    assert box.inbox(channel.value) == []


# ── a spec that is not whole is refused where it is declared ──────────────────────────────────────


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"fields": {}}, "at least one field"),
        ({"fields": {"body": "b.j2", "footer": "f.j2"}}, "unknown fields footer"),
        ({"reach": Reach.PERSONAL}, "names the address it sends to"),
        ({"adapter": None}, "only a served channel may have no adapter"),
        ({"max_batch": 0}, "max_batch"),
    ],
)
def test_a_spec_that_is_not_whole_is_refused(changes: dict[str, object], says: str) -> None:
    base: dict[str, object] = {
        "name": "pigeon",
        "reach": Reach.BROADCAST,
        "form": Form.SHORT,
        "fields": {"body": "body.txt.j2"},
        "adapter": spec_of(PIGEON).adapter,
    }
    with pytest.raises(ValueError, match=says):
        ChannelSpec(**{**base, **changes})  # type: ignore[arg-type]


def test_a_playbook_may_name_the_added_channel_but_not_in_the_wrong_place(breach: Playbook) -> None:
    data = breach.model_dump()
    assert (
        Playbook.model_validate({**data, "public_channels": ["statuspage", "pigeon"]}).channels[-1] is PIGEON
    )
    audiences = {name: {**a, "channels": ["email", "pigeon"]} for name, a in data["audiences"].items()}
    with pytest.raises(ValidationError, match="pigeon reach the public, not an audience"):
        Playbook.model_validate({**data, "audiences": audiences})
    with pytest.raises(ValidationError, match="'raven' is not a channel"):
        Playbook.model_validate({**data, "public_channels": ["raven"]})


# ── end to end: the added channel receives a published update ─────────────────────────────────────


def test_the_added_channel_receives_a_published_update_once(
    breach: Playbook, box: SandboxHandle, tmp_path: Path
) -> None:
    playbook = breach.model_copy(update={"public_channels": [*breach.public_channels, PIGEON]})
    facts = load_facts(EXAMPLES / "data-breach.yaml", playbook)
    settings = Settings(home=tmp_path / "home", sandbox_url=box.url, templates_dir=TEMPLATES)
    engine: sa.Engine = store.make_engine(f"sqlite:///{tmp_path}/clarion.db")
    store.migrate(engine)
    audience = ROOT / "examples" / "audiences" / "affected-customers.csv"
    try:
        staged = stage_update(
            engine=engine,
            playbook=playbook,
            facts=facts,
            settings=settings,
            sources={"affected-customers": Source(csv=audience)},
        )
        run_worker(settings, engine, name="pigeon-test", channels=[PIGEON])
        run_worker(settings, engine, name="pigeon-again", channels=[PIGEON])
    finally:
        engine.dispose()

    coos = box.inbox("pigeon")
    assert staged.broadcasts >= len(playbook.locales)
    assert sorted(r.text.splitlines()[0].split(" ")[0] for r in coos if r.text) == ["🐦"] * len(
        playbook.locales
    )
    assert all(facts.reference in (r.text or "") for r in coos)
    assert box.stats()["duplicates"].get("pigeon", 0) == 0
