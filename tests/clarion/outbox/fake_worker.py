"""A worker process for the concurrency tests: fake senders that log every id they send to a file.

Run as ``python -m tests.clarion.outbox.fake_worker URL NAME LOGFILE``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from clarion.kinds import Channel
from clarion.outbox.port import OutboundMessage, SendResult
from clarion.outbox.worker import Worker, WorkerConfig
from clarion.store import make_engine
from tests.clarion.outbox.conftest import FakeSender


class LoggingSender(FakeSender):
    max_batch = 500

    def __init__(self, channel: Channel, log: Path) -> None:
        super().__init__(channel)
        self.log = log.open("a")

    def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        with self.lock:
            self.log.write("".join(f"{m.delivery_id}\n" for m in messages))
            self.log.flush()
        return [SendResult(m.delivery_id, provider_id="x") for m in messages]


def main(url: str, name: str, log: str) -> None:
    engine = make_engine(url)
    senders = {c: LoggingSender(c, Path(log)) for c in (Channel.EMAIL, Channel.SMS)}
    Worker(engine, senders, WorkerConfig(name=name, threads=2, idle_poll=0.05)).run()


if __name__ == "__main__":
    main(*sys.argv[1:4])
