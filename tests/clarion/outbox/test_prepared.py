"""Request bodies built once, at staging: every attempt sends the body as built, the outcome is every
row's, a request a row left is built again from its rows, and the body is not kept once it is done."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import ClassVar

import sqlalchemy as sa

from clarion.errors import InDoubt, PermanentChannelError, TransientChannelError
from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery, ProviderRequest, RequestState, utcnow
from clarion.outbox import ledger
from clarion.outbox.port import OutboundMessage, RequestSent
from clarion.outbox.prepared import Preparation, made_with
from clarion.outbox.worker import Worker, WorkerConfig, sends_prepared
from clarion.updates.publish import Staged
from tests.clarion.outbox.conftest import FakeSender

FAST = {"backoff_base": 0.001, "backoff_cap": 0.01, "idle_poll": 0.01, "in_flight": timedelta(0)}


class Builder:
    """Builds a body naming each message's row and address, and counts what it built."""

    def __init__(self) -> None:
        self.built: list[list[int]] = []

    def __call__(self, messages: Sequence[OutboundMessage]) -> bytes | None:
        if messages[0].delivery_id:  # not the sample of what it is made with (prepared.made_with)
            self.built.append([m.delivery_id for m in messages])
        return json.dumps([[m.delivery_id, m.address] for m in messages]).encode()


class PreparingSender(FakeSender):
    """A :class:`FakeSender` that also sends prepared bodies; ``answers`` says what each post gets
    (accepted by default), in order."""

    max_batch: ClassVar[int] = 1000

    def __init__(self, answers: Sequence[RequestSent] = ()) -> None:
        super().__init__(Channel.EMAIL)
        self.prepare = Builder()
        self.answers = list(answers)
        self.posted: list[bytes] = []

    def send_prepared(self, body: bytes) -> RequestSent:
        self.posted.append(body)
        if self.answers:
            return self.answers.pop(0)
        return RequestSent(provider_id=f"req-{len(self.posted)}")


def _stage(stage: Callable[..., Staged], engine: sa.Engine, sender: PreparingSender, n: int) -> Staged:
    return stage(engine, n, request_size=1000, preparation=Preparation({Channel.EMAIL: sender.prepare}))


def _email(engine: sa.Engine) -> list[sa.Row[tuple[int, DeliveryState, str | None, int, int, int | None]]]:
    with engine.connect() as c:
        return list(
            c.execute(
                sa.select(
                    Delivery.id,
                    Delivery.state,
                    Delivery.provider_id,
                    Delivery.attempts,
                    Delivery.uncertain_sends,
                    Delivery.request_id,
                )
                .where(Delivery.channel == Channel.EMAIL)
                .order_by(Delivery.id)
            ).all()
        )


def _bodies(engine: sa.Engine) -> dict[int, tuple[bytes | None, int | None, RequestState]]:
    with engine.connect() as c:
        rows = c.execute(
            sa.select(
                ProviderRequest.id, ProviderRequest.body, ProviderRequest.body_rows, ProviderRequest.state
            )
        )
        return {i: (body, n, state) for i, body, n, state in rows}


def _run(engine: sa.Engine, sender: PreparingSender, **config: object) -> None:
    Worker(engine, {Channel.EMAIL: sender}, WorkerConfig(name="w", threads=1, **(FAST | config))).run()  # type: ignore[arg-type]


def test_staging_builds_each_sealed_requests_body_from_its_rows(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    sender = PreparingSender()
    _stage(stage, sqlite_engine, sender, 30)
    rows = _email(sqlite_engine)
    bodies = _bodies(sqlite_engine)
    assert bodies and all(state is RequestState.PENDING for _, _, state in bodies.values())
    for request_id, (body, count, _) in bodies.items():
        members = [r.id for r in rows if r.request_id == request_id]
        assert body is not None and count == len(members)
        assert [entry[0] for entry in json.loads(body)] == members  # every row of the request, in order
    assert sorted(i for ids in sender.prepare.built for i in ids) == [r.id for r in rows]  # built once each


def test_the_worker_sends_the_body_as_built_and_records_it_for_every_row(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    sender = PreparingSender()
    _stage(stage, sqlite_engine, sender, 30)
    stored = {body for body, _, _ in _bodies(sqlite_engine).values()}
    _run(sqlite_engine, sender)
    assert set(sender.posted) == stored and len(sender.posted) == len(stored)  # as built, once each
    assert not sender.sent  # no request was built again from its rows
    rows = _email(sqlite_engine)
    assert {r.state for r in rows} == {DeliveryState.ACCEPTED}
    by_request = {r.request_id: r.provider_id for r in rows}
    assert len(set(by_request.values())) == len(stored)  # each row carries its request's message id
    assert all(r.attempts == 1 for r in rows)
    assert all(body is None and count is None for body, count, _ in _bodies(sqlite_engine).values())


def test_a_retried_request_sends_the_same_body_built_once(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    unavailable = TransientChannelError("503 from the provider", channel=Channel.EMAIL, status_code=503)
    sender = PreparingSender([RequestSent(error=unavailable), RequestSent(error=unavailable)])
    _stage(stage, sqlite_engine, sender, 1)  # one recipient: one request
    assert len(sender.prepare.built) == 1
    _run(sqlite_engine, sender)
    assert len(sender.prepare.built) == 1  # no attempt built it again
    assert len(sender.posted) == 3 and len(set(sender.posted)) == 1  # the same bytes, three times
    rows = _email(sqlite_engine)
    assert {(r.state, r.attempts) for r in rows} == {(DeliveryState.ACCEPTED, 3)}


def test_a_refused_request_fails_every_row_and_keeps_no_body(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    refused = PermanentChannelError("400: invalid from", channel=Channel.EMAIL, status_code=400)
    sender = PreparingSender([RequestSent(error=refused)] * 50)
    _stage(stage, sqlite_engine, sender, 6)
    _run(sqlite_engine, sender)
    rows = _email(sqlite_engine)
    assert {r.state for r in rows} == {DeliveryState.FAILED}
    assert all(body is None for body, _, _ in _bodies(sqlite_engine).values())


def test_a_request_in_doubt_is_resent_blind_as_built_counted_on_every_row_first(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    sender = PreparingSender()
    _stage(stage, sqlite_engine, sender, 5)
    counted: list[set[int]] = []

    def send_prepared(body: bytes) -> RequestSent:  # what the ledger holds when the resend goes out
        going = {entry[0] for entry in json.loads(body)}
        counted.append({r.uncertain_sends for r in _email(sqlite_engine) if r.id in going})
        return PreparingSender.send_prepared(sender, body)

    # A worker claims every request and dies before it records anything.
    for _ in _bodies(sqlite_engine):
        work = ledger.claim(
            sqlite_engine,
            worker="dead",
            channel=Channel.EMAIL,
            limit=1000,
            now=utcnow(),
            prepared=made_with(sender.prepare, None, Channel.EMAIL),
        )
        assert isinstance(work, ledger.PreparedRequest)
    assert ledger.release_stale(sqlite_engine, lease=timedelta(hours=1), now=utcnow(), restarted="dead")
    sender.send_prepared = send_prepared  # type: ignore[method-assign]
    _run(sqlite_engine, sender)
    assert counted and all(seen == {1} for seen in counted)  # counted on every row before it went
    rows = _email(sqlite_engine)
    assert {r.state for r in rows} == {DeliveryState.ACCEPTED}
    assert {(r.attempts, r.uncertain_sends) for r in rows} == {(2, 1)}
    with sqlite_engine.connect() as c:
        assert set(c.execute(sa.select(ProviderRequest.uncertain_sends)).scalars()) == {1}


def test_a_request_a_row_left_is_built_again_from_its_rows_without_it(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    sender = PreparingSender()
    _stage(stage, sqlite_engine, sender, 12)  # recipients 0 and 6 share a rendition, so a request
    first = _email(sqlite_engine)[0]
    with sqlite_engine.begin() as c:  # erased after staging: its address must not go out
        c.execute(sa.update(Delivery).where(Delivery.id == first.id).values(state=DeliveryState.SUPPRESSED))
    _run(sqlite_engine, sender)
    assert first.id not in sender.sent
    left = [r for r in _email(sqlite_engine) if r.request_id == first.request_id and r.id != first.id]
    assert left and all(sender.sent[r.id] == 1 for r in left)  # sent from its rows, one by one counted
    assert all(first.id not in {entry[0] for entry in json.loads(body)} for body in sender.posted)
    assert len(sender.posted) == len(_bodies(sqlite_engine)) - 1  # the others went as built


class OtherBuilder(Builder):
    """Builds the bodies another process would: the same rows, from another sender address."""

    def __call__(self, messages: Sequence[OutboundMessage]) -> bytes | None:
        body = super().__call__(messages)
        return None if body is None else body.replace(b"]]", b', "other@example.com"]]')


def test_a_body_staged_with_other_settings_is_built_again_from_its_rows(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    """Staging ran where the sender address was another (the flow's process, or settings changed
    since): this worker sends nothing of those bodies, and builds each request from its rows."""
    stage(sqlite_engine, 12, request_size=1000, preparation=Preparation({Channel.EMAIL: OtherBuilder()}))
    assert all(body is not None for body, _, _ in _bodies(sqlite_engine).values())
    sender = PreparingSender()
    _run(sqlite_engine, sender)
    assert not sender.posted
    rows = _email(sqlite_engine)
    assert {r.state for r in rows} == {DeliveryState.ACCEPTED}
    assert all(sender.sent[r.id] == 1 for r in rows)


def test_a_request_whose_send_timed_out_is_resent_blind_and_counted(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    timeout = InDoubt("read timeout", channel=Channel.EMAIL)
    sender = PreparingSender([RequestSent(error=timeout)])
    _stage(stage, sqlite_engine, sender, 3)
    _run(sqlite_engine, sender)
    rows = _email(sqlite_engine)
    assert {r.state for r in rows} == {DeliveryState.ACCEPTED}
    assert {r.uncertain_sends for r in rows if r.request_id == rows[0].request_id} == {1}
    assert {r.uncertain_sends for r in rows if r.request_id != rows[0].request_id} == {0}


def test_only_a_sender_that_cannot_look_messages_up_is_handed_prepared_requests() -> None:
    assert sends_prepared(PreparingSender())
    assert not sends_prepared(FakeSender())  # no send_prepared
    honest = PreparingSender()
    honest.no_duplicates = True  # type: ignore[misc]
    assert not sends_prepared(honest)
