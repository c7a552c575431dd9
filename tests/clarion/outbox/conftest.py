"""Shared pieces for the delivery engine's tests: a staged update and a fake sender."""

from __future__ import annotations

import csv
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

import pytest
import sqlalchemy as sa

from channels.base import ChannelAdapter
from clarion.audiences.sources import Source
from clarion.errors import ChannelError
from clarion.facts import load_facts
from clarion.kinds import Channel
from clarion.outbox.port import OutboundMessage, Presence, Reconciled, SendResult
from clarion.outbox.prepared import Preparation
from clarion.playbook import load_playbook
from clarion.settings import Settings
from clarion.updates.publish import Staged, stage_update
from tests.helpers import EXAMPLES, PLAYBOOKS, TEMPLATES

Behaviour = Callable[[OutboundMessage], SendResult | ChannelError]


class FakeSender(ChannelAdapter):
    """Records every message it is handed; ``behave`` decides each one's fate (accepted by default)."""

    channel: ClassVar[Channel] = Channel.EMAIL
    max_batch: ClassVar[int] = 100
    one_request_per_batch: ClassVar[bool] = True

    def __init__(
        self,
        channel: Channel = Channel.EMAIL,
        *,
        behave: Behaviour | None = None,
        present: set[int] | None = None,
        no_duplicates: bool = False,
    ) -> None:
        super().__init__()
        self.channel = channel  # type: ignore[misc]
        self.behave = behave
        self.present = present if present is not None else set()
        self.no_duplicates = no_duplicates  # type: ignore[misc]
        self.sent: Counter[int] = Counter()
        self.reconciled: list[int] = []
        self.lock = threading.Lock()

    def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        results = []
        for m in messages:
            outcome = (
                self.behave(m) if self.behave else SendResult(m.delivery_id, provider_id=f"p{m.delivery_id}")
            )
            if isinstance(outcome, ChannelError):
                outcome = SendResult(m.delivery_id, error=outcome)
            with self.lock:
                if outcome.accepted:
                    self.sent[m.delivery_id] += 1
                    self.present.add(m.delivery_id)
            results.append(outcome)
        return results

    def reconcile(self, messages: Sequence[OutboundMessage]) -> list[Reconciled]:
        with self.lock:
            self.reconciled.extend(m.delivery_id for m in messages)
        if not self.no_duplicates:
            return super().reconcile(messages)
        return [
            Reconciled(
                m.delivery_id,
                Presence.PRESENT if m.delivery_id in self.present else Presence.ABSENT,
                provider_id=f"p{m.delivery_id}",
            )
            for m in messages
        ]


def write_recipients(path: Path, n: int, *, start: int = 0) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "email", "phone", "locale", "time_zone"])
        for i in range(start, start + n):
            locale = "de" if i % 3 == 0 else "en"
            zone = "America/New_York" if i % 2 else ""
            writer.writerow([f"c{i}", f"user{i}@example.com", f"+4915112{i:06d}", locale, zone])
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", templates_dir=TEMPLATES, playbooks_dir=PLAYBOOKS)


@pytest.fixture
def stage(tmp_path: Path, settings: Settings) -> Callable[..., Staged]:
    """Stage the data-breach example to ``n`` recipients from a CSV."""

    def _stage(
        engine: sa.Engine,
        n: int = 30,
        *,
        path: Path | None = None,
        request_size: int | None = None,
        preparation: Preparation | None = None,
    ) -> Staged:
        playbook = load_playbook(PLAYBOOKS / "data-breach.yaml")
        facts = load_facts(EXAMPLES / "data-breach.yaml", playbook)
        csv_path = path or write_recipients(tmp_path / "affected.csv", n)
        return stage_update(
            engine=engine,
            playbook=playbook,
            facts=facts,
            settings=settings.model_copy(update={"outbox_claim_size": request_size}),
            sources={"affected-customers": Source(csv=csv_path)},
            preparation=preparation,
        )

    return _stage
