"""Requests to the providers, each made when its provider's rate gate lets it go.

Every provider has a gate (:mod:`clarion.outbox.rate`; the store's bucket shared by every worker,
:mod:`clarion.outbox.shared_rate`, unless a worker keeps the rate alone). A request takes its token
right before it is made, so the provider counts requests as the gate let them go:

* a sender that makes one request per batch (SendGrid) takes one token per batch;
* a sender that makes one request per message, on a channel with a rate (Twilio), sends, and looks
  messages up, one request at a time, each taking its own token; after a 429 the rest of the batch
  is not tried: each carries the 429, and the gate stays closed for the provider's ``Retry-After``.

Errors come back as answers (:class:`~clarion.outbox.port.SendResult`, ``Reconciled``,
``RequestSent``), never raised; what they make of a message is :mod:`clarion.outbox.verdicts`'.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AbstractContextManager

import sqlalchemy as sa

from clarion.channel_table import spec_of
from clarion.errors import ChannelError, RateLimited
from clarion.kinds import Channel
from clarion.outbox.port import (
    OutboundMessage,
    PreparedSender,
    Presence,
    Reconciled,
    RequestSent,
    Sender,
    SendResult,
)
from clarion.outbox.rate import RateGate
from clarion.outbox.shared_rate import SharedRateGate
from clarion.outbox.verdicts import retry_after


class Pacing:
    """The gates of ``senders``' providers, and the requests made through them."""

    def __init__(
        self,
        engine: sa.Engine,
        senders: Mapping[Channel, Sender],
        *,
        shared: bool,
        writing: AbstractContextManager[object],
    ) -> None:
        self.gates: dict[Channel, RateGate] = {}
        for channel, sender in senders.items():
            if shared:
                provider = spec_of(channel).provider or channel.value
                self.gates[channel] = SharedRateGate(
                    engine, provider, sender.requests_per_second, writing=writing
                )
            else:
                self.gates[channel] = RateGate(sender.requests_per_second)

    def closed_for(self, channel: Channel) -> float:
        """Seconds the channel stays closed by a provider's rate limit (0.0 when open)."""
        gate = self.gates[channel]
        with gate.lock:
            return max(0.0, gate.closed_until - gate.clock())

    def close(self, channel: Channel, error: RateLimited) -> None:
        """The provider said 429: no request of the channel goes before its ``Retry-After``."""
        self.gates[channel].close_for(retry_after(error))

    def per_message(self, sender: Sender) -> bool:
        """True when the sender makes one request per message and its channel has a rate to keep."""
        return self.gates[sender.channel].per_second is not None and not sender.one_request_per_batch

    def claim_size(self, sender: Sender, configured: int | None) -> int:
        """Rows per claim: ``configured``, at most the sender's batch; for a sender paced request by
        request, at most the gate's burst, so the thread is back at its other channels (email waiting
        behind SMS) after about what the gate lets go at once, not after 50 paced requests."""
        size = min(configured or sender.max_batch, sender.max_batch)
        if self.per_message(sender):
            size = min(size, max(1, int(self.gates[sender.channel].capacity)))
        return size

    def send(self, sender: Sender, messages: list[OutboundMessage]) -> list[SendResult]:
        """Send ``messages``: one request for the batch, or one request a message (see the module)."""
        if not messages:
            return []
        if not self.per_message(sender):
            return self._send_block(sender, messages)
        results: list[SendResult] = []
        for message in messages:
            if results and isinstance(limited := results[-1].error, RateLimited):
                results.append(SendResult(message.delivery_id, error=limited))
                continue
            results += self._send_block(sender, [message])
        return results

    def send_prepared(self, sender: PreparedSender, channel: Channel, body: bytes) -> RequestSent:
        """Post a request body built at staging, as one request."""
        self._take(self.gates[channel], 1.0)
        try:
            return sender.send_prepared(body)
        except ChannelError as exc:
            return RequestSent(error=exc)

    def look_up(self, sender: Sender, messages: list[OutboundMessage]) -> list[Reconciled]:
        """Ask the provider whether it has ``messages`` (a lookup is a request too). Raises the
        sender's ChannelError when a lookup of the whole batch fails."""
        if not self.per_message(sender):
            return sender.reconcile(messages)  # no request per message: SendGrid's cannot tell
        gate = self.gates[messages[0].channel]
        answers: list[Reconciled] = []
        for message in messages:
            if answers and isinstance(limited := answers[-1].error, RateLimited):
                answers.append(Reconciled(message.delivery_id, Presence.UNKNOWN, error=limited))
                continue
            self._take(gate, 1.0)
            answers += (found := sender.reconcile([message]))
            for answer in found:
                if isinstance(answer.error, RateLimited):
                    self.close(message.channel, answer.error)
        return answers

    def _send_block(self, sender: Sender, messages: list[OutboundMessage]) -> list[SendResult]:
        """Send ``messages`` once the gate lets their requests go."""
        cost = 1.0 if sender.one_request_per_batch else float(len(messages))
        self._take(self.gates[messages[0].channel], cost)
        try:
            return sender.send(messages)
        except ChannelError as exc:
            return [SendResult(m.delivery_id, error=exc) for m in messages]

    @staticmethod
    def _take(gate: RateGate, cost: float) -> None:
        """Wait until the gate is open and has ``cost`` tokens, and take them."""
        while (wait := gate.wait_time(cost)) > 0:
            time.sleep(min(wait, 1.0))
