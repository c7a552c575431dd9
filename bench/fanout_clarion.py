"""The clarion side of ``bench/fanout.py``: one step per process, so each peak RSS is its own.

    python bench/fanout_clarion.py stage --database URL --csv FILE --plan-out FILE.json [--unsubscribe]
    python bench/fanout_clarion.py send --database URL --sandbox URL --channel email [--threads 8]

``stage`` checks, renders and enqueues the data-breach example (playbooks/data-breach.yaml, examples/
facts/data-breach.yaml) with the CSV as the ``affected-customers`` audience, the way ``clarion outbox
stage`` does, and writes the plan the baselines need to send the very same requests (renditions,
sender, a body clarion built for two sample messages). ``send`` runs the outbox worker the way
``clarion outbox work`` does, on one channel. Each prints one JSON line of figures, the last on stdout.
``--breakdown`` (send) adds thread-seconds spent in claim, body building, HTTP and record;
``--profile FILE`` (send) sends on the main thread alone under cProfile and writes its stats;
``--expect N --ready FILE`` (send) migrates the store, touches FILE, and sends whatever is staged
meanwhile until N messages are accepted (``bench/fanout.py --overlap``: a worker running while
another process stages, as ``clarion outbox work`` runs beside a publish).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from pydantic import SecretStr

from channels import email
from channels.delivery import links, request_preparation
from channels.email import SANDBOX_API_KEY, EmailAdapter
from channels.registry import build_senders, http_client
from channels.sms import SANDBOX_AUTH_TOKEN, SmsAdapter
from clarion.audiences.audience import AudienceSummary
from clarion.audiences.sources import Source
from clarion.audiences.unsubscribe import secret_key, unsubscribe_url
from clarion.facts import load_facts
from clarion.kinds import Channel
from clarion.models import Rendition
from clarion.models.columns import table_of
from clarion.outbox import counts, ledger
from clarion.outbox.counts import state_counts
from clarion.outbox.port import Content, OutboundMessage
from clarion.outbox.worker import Worker, WorkerConfig, WorkerStats
from clarion.playbook import load_playbook
from clarion.settings import Settings
from clarion.store import make_engine, migrate
from clarion.updates.publish import stage_update

ROOT = Path(__file__).resolve().parent.parent
AUDIENCE = "affected-customers"
SECRET = "fanout-bench-secret-0123456789abcdefghij"  # noqa: S105 — signs the bench's unsubscribe links, nothing else


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def settings_for(args: argparse.Namespace) -> Settings:
    return Settings(
        home=Path(tempfile.gettempdir()) / "clarion-fanout-bench",
        database_url=args.database,
        sandbox_url=getattr(args, "sandbox", None) or "http://127.0.0.1:8766",
        templates_dir=ROOT / "templates",
        playbooks_dir=ROOT / "playbooks",
        secret_key=SecretStr(SECRET),
    )


class TimedSource(Source):
    """A CSV source that notes how long the full check took."""

    check_seconds: dict[str, float] = {}  # noqa: RUF012 — one audience per process

    def check(self, components: Collection[str] = ()) -> AudienceSummary:
        start = time.perf_counter()
        summary = super().check(components)
        TimedSource.check_seconds["check"] = time.perf_counter() - start
        return summary


def stage(args: argparse.Namespace) -> dict[str, Any]:
    settings = settings_for(args)
    playbook_path = ROOT / "playbooks" / "data-breach.yaml"
    if args.unsubscribe:  # the audience made optional: every email carries a signed unsubscribe link
        raw = yaml.safe_load(playbook_path.read_text(encoding="utf-8"))
        del raw["audiences"][AUDIENCE]["mandatory"]
        playbook_path = Path(args.plan_out).parent / "optional" / "data-breach.yaml"
        playbook_path.parent.mkdir(exist_ok=True)
        playbook_path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    playbook = load_playbook(playbook_path)
    facts = load_facts(ROOT / "examples" / "facts" / "data-breach.yaml", playbook)
    engine = make_engine(args.database)
    migrate(engine)
    started_at, start = time.time(), time.perf_counter()
    staged = stage_update(
        engine=engine,
        playbook=playbook,
        facts=facts,
        settings=settings,
        sources={AUDIENCE: TimedSource(csv=Path(args.csv))},
        preparation=request_preparation(settings),  # as the publish flow stages
    )
    seconds = time.perf_counter() - start
    count = staged.audiences[AUDIENCE]
    plan = _plan(engine, settings, staged.update_id, playbook.locales, playbook.public_time_zone or "UTC")
    plan["mandatory"] = not args.unsubscribe
    plan["sample_body"] = _sample_body(settings, plan)
    Path(args.plan_out).write_text(json.dumps(plan), encoding="utf-8")
    return {
        "seconds": seconds,
        "started_at": started_at,
        "check_seconds": TimedSource.check_seconds["check"],
        "recipients": count.recipients,
        "deliveries": staged.planned,
        "per_channel": {c.value: n for c, n in count.per_channel.items()},
        "renditions": staged.renditions,
        "update_id": staged.update_id,
        "rss_mb": peak_rss_mb(),
    }


def _plan(
    engine: sa.Engine, settings: Settings, update_id: int, locales: list[str], zone: str
) -> dict[str, Any]:
    """What a script without clarion needs to send the same requests."""
    table = table_of(Rendition)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                table.c.channel,
                table.c.locale,
                table.c.time_zone,
                table.c.subject,
                table.c.body,
                table.c.html,
            ).where(table.c.update_id == update_id, table.c.channel.in_([Channel.EMAIL, Channel.SMS]))
        )
        renditions = [
            {"channel": str(r.channel), "locale": r.locale, "time_zone": r.time_zone}
            | {"subject": r.subject, "body": r.body, "html": r.html}
            for r in rows
        ]
    sms = SmsAdapter.from_settings(settings, client=http_client())
    return {
        "update_id": update_id,
        "reference": "INC-0042",
        "severity": "sev1",
        "locales": locales,
        "default_time_zone": zone,
        "from_email": settings.email_from,
        "from_name": settings.email_from_name,
        "public_url": settings.public_url,
        "secret": SECRET,
        "links_made_at": int(time.time()),  # the sample's unsubscribe links expire 90 days after this
        "sendgrid_api_key": SANDBOX_API_KEY,
        "twilio": {
            "account_sid": sms.account_sid,
            "auth_token": SANDBOX_AUTH_TOKEN,
            "from_number": sms.from_number,
            "validity_period": sms.validity_period,
            "status_callback": sms.status_callback,
        },
        "renditions": renditions,
    }


def _sample_body(settings: Settings, plan: dict[str, Any]) -> dict[str, Any]:
    """The body clarion builds for recipients 1 and 2 on the first email rendition (for comparison)."""
    first = next(r for r in plan["renditions"] if r["channel"] == Channel.EMAIL.value)
    content = Content(None, first["locale"], first["body"], subject=first["subject"], html=first["html"])
    key = secret_key(settings)
    messages = [
        OutboundMessage(
            delivery_id=n,
            idempotency_key=f"u{plan['update_id']}.email.r{n}",
            channel=Channel.EMAIL,
            content=content,
            incident_reference=plan["reference"],
            severity=plan["severity"],
            status="identified",
            created_at=datetime.now(UTC),
            address=f"sample{n}@example.com",
            recipient_id=n,
            mandatory_reason="required" if plan["mandatory"] else None,
            unsubscribe_url=None
            if plan["mandatory"]
            else unsubscribe_url(
                settings,
                key,
                recipient_id=n,
                channel=Channel.EMAIL,
                now=datetime.fromtimestamp(plan["links_made_at"], UTC),
            ),
        )
        for n in (1, 2)
    ]
    adapter = EmailAdapter.from_settings(settings, client=http_client())
    return adapter.build_body([(m, m.address or "") for m in messages])


PARTS = (  # how the breakdown is shown: a step, then what it is made of
    "one step (claims, sends, records a run of batches)",
    "  claim (lock wait, SQL, body or messages)",
    "  record + claim the next (lock wait, SQL, body or messages)",
    "  record (lock wait, SQL)",
    "  adapter send (from rows)",
    "    validate + group",
    "    build body (SDK)",
    "  adapter send (body built at staging)",
    "  HTTP post (wait)",
    "  (claims + records: SQLite lock wait)",
    "backlog (idle checks)",
)


class Breakdown:
    """Thread-seconds inside the worker's parts, summed over its threads."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()

    def add(self, name: str, seconds: float) -> None:
        with self.lock:
            self.seconds[name] += seconds
            self.calls[name] += 1

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - start)

        return timed

    def figures(self) -> list[tuple[str, float, int]]:
        return [(name, self.seconds[name], self.calls[name]) for name in PARTS if name in self.calls]


class TimedLock:
    """The worker's SQLite lock, noting how long each thread waited for it."""

    def __init__(self, inner: AbstractContextManager[object], breakdown: Breakdown, name: str) -> None:
        self.inner, self.breakdown, self.name = inner, breakdown, name

    def __enter__(self) -> object:
        start = time.perf_counter()
        entered = self.inner.__enter__()
        self.breakdown.add(self.name, time.perf_counter() - start)
        return entered

    def __exit__(self, *exc: object) -> bool | None:
        return self.inner.__exit__(*exc)  # type: ignore[arg-type]


def send(args: argparse.Namespace) -> dict[str, Any]:
    settings = settings_for(args)
    engine = make_engine(args.database)
    channel = Channel(args.channel)
    key = secret_key(settings)
    breakdown = Breakdown() if args.breakdown else None
    enough = threading.Event()  # --expect: every message expected is accepted

    def accepted(stats: WorkerStats) -> None:
        if stats.per_channel.get(channel, 0) >= args.expect:
            enough.set()

    with http_client(connections=args.threads * 2) as client:
        senders = build_senders(settings, client=client, engine=engine, channels=[channel])
        worker = Worker(
            engine,
            senders,
            WorkerConfig(name="fanout-bench", threads=args.threads),
            unsubscribe=links(settings, key),
            progress=accepted if args.expect else None,
        )
        if breakdown is not None:
            _instrument(breakdown, worker, senders[channel], client)
        start = time.perf_counter()
        if args.expect:  # sends while another process stages, until every message expected went
            migrate(engine)
            Path(args.ready).touch()
            limit = threading.Timer(args.expect_within, enough.set)
            limit.start()
            stats = worker.run(until_idle=False, stop=enough)
            limit.cancel()
        elif args.profile is None:
            stats = worker.run(until_idle=True)
        else:  # one thread, on this one, so cProfile sees every call
            with cProfile.Profile() as profile:
                while worker.step(channel):
                    pass
            profile.dump_stats(args.profile)
            stats = worker.stats
        seconds, ended_at = time.perf_counter() - start, time.time()
    counts = state_counts(engine)
    result: dict[str, Any] = {
        "seconds": seconds,
        "ended_at": ended_at,
        "messages": stats.per_channel.get(channel, 0),
        "batches": stats.batches,
        "states": {s.value: n for (c, s), n in counts.items() if c is channel},
        "rss_mb": peak_rss_mb(),
    }
    if breakdown is not None:
        result["breakdown"] = breakdown.figures()
    return result


def _instrument(breakdown: Breakdown, worker: Worker, sender: Any, client: Any) -> None:
    """Time the worker's parts in this process only (clarion's code is not changed)."""
    step, claim, record_claim, record, send, validate, build, prepared, post, wait, backlog = PARTS
    worker.step = breakdown.wrap(step, worker.step)  # type: ignore[method-assign]
    if isinstance(getattr(worker, "_db", None), AbstractContextManager):
        worker._db = TimedLock(worker._db, breakdown, wait)
    ledger.claim = breakdown.wrap(claim, ledger.claim)
    ledger.record_and_claim = breakdown.wrap(record_claim, ledger.record_and_claim)
    ledger.record = breakdown.wrap(record, ledger.record)
    counts.backlog = breakdown.wrap(backlog, counts.backlog)
    sender.send = breakdown.wrap(send, sender.send)
    if isinstance(sender, EmailAdapter):
        sender.send_prepared = breakdown.wrap(prepared, sender.send_prepared)  # type: ignore[method-assign]
        sender.build_body = breakdown.wrap(build, sender.build_body)  # type: ignore[method-assign]
        email._grouped = breakdown.wrap(validate, email._grouped)
    client.post = breakdown.wrap(post, client.post)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    staging = steps.add_parser("stage")
    staging.add_argument("--database", required=True)
    staging.add_argument("--csv", required=True)
    staging.add_argument("--plan-out", required=True)
    staging.add_argument("--unsubscribe", action="store_true")
    sending = steps.add_parser("send")
    sending.add_argument("--database", required=True)
    sending.add_argument("--sandbox", required=True)
    sending.add_argument("--channel", choices=["email", "sms"], required=True)
    sending.add_argument("--threads", type=int, default=8)
    sending.add_argument("--breakdown", action="store_true")
    sending.add_argument("--profile", help="send on one thread under cProfile; write its stats here")
    sending.add_argument("--expect", type=int, default=0, help="run until this many are accepted")
    sending.add_argument("--expect-within", type=float, default=900.0, help="seconds; then stop anyway")
    sending.add_argument("--ready", help="with --expect: touched once the worker is about to start")
    args = parser.parse_args(argv)
    result = stage(args) if args.step == "stage" else send(args)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
