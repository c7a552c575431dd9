"""Request bodies built once: when a provider request is sealed at staging, its body is built from
its rows and kept on the request, and every attempt sends it as built.

A claim then reads one value instead of a thousand rows, and the worker's part of a request is a
post and one recorded outcome (:func:`clarion.outbox.claims.read` with ``prepared``). What a body
holds is what the rows held when it was built: the claim checks that the rows still pending in the
request are as many as the body was built for, and a request one of whose rows left it (erased, or
recorded by a worker that outlived its lease) is built again from its rows, at that claim, as a
request staged without bodies is. A body holds its recipients' addresses, so it is cleared as soon as
its request is done (:func:`clarion.outbox.requests.end_claim`).

The body's format is the channel's (SendGrid's JSON): :class:`Preparation` carries, for each channel
that sends whole requests, the builder its adapter's module provides (``request_bodies`` in its
spec), and the link signer the worker would use, so a body says exactly what a claim would have sent.

Staging and the workers may run in different processes, with different settings: a flow run that
staged yesterday's held messages, a worker started since with another sender address. A body keeps
what it was made with (:func:`made_with`: a digest of a body built for one fixed message, and of the
unsubscribe links' base), and a worker takes a body only when its own builder makes the same; else
it builds the request from its rows, with its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import sqlalchemy as sa

from clarion.kinds import Channel
from clarion.models import ProviderRequest
from clarion.models.columns import table_of
from clarion.outbox import requests
from clarion.outbox.claims import UnsubscribeLink, request_messages
from clarion.outbox.port import Content, OutboundMessage, RequestBodies

_q = table_of(ProviderRequest)


@dataclass(frozen=True)
class Preparation:
    """What staging needs to build request bodies: a builder per channel, and the link signer."""

    bodies: Mapping[Channel, RequestBodies] = field(default_factory=dict)
    unsubscribe: UnsubscribeLink | None = None
    made_with: Mapping[Channel, str] = field(init=False, repr=False)
    """Each channel's :func:`made_with`, kept with every body built."""

    def __post_init__(self) -> None:
        made = {c: made_with(build, self.unsubscribe, c) for c, build in self.bodies.items()}
        object.__setattr__(self, "made_with", made)


_SAMPLE = OutboundMessage(
    delivery_id=0,
    idempotency_key="made-with",
    channel=Channel.EMAIL,
    content=Content(rendition_id=0, locale="en", text="Made with.", subject="Made with"),
    incident_reference="INC-0000",
    severity="sev3",
    status="investigating",
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
    address="made-with@example.com",
    audience="made-with",
    recipient_id=0,
)


def made_with(build: RequestBodies, unsubscribe: UnsubscribeLink | None, channel: Channel) -> str:
    """What shapes the bodies ``build`` makes besides their rows, as a digest: the body it builds for
    one fixed message (its sender address and name, how its SDK renders), and the base of the
    unsubscribe links ``unsubscribe`` signs (all but the token, which carries the time it was made)."""
    link = unsubscribe(0, channel) if unsubscribe is not None else None
    base = link.rsplit("/", 1)[0] if link else ""
    sample = replace(_SAMPLE, channel=channel, unsubscribe_url=f"{base}/token" if link else None)
    body = build([sample]) or b""
    return hashlib.blake2b(body + b"\0" + base.encode(), digest_size=16).hexdigest()


def prepare(
    connection: sa.Connection, request_ids: Sequence[int], preparation: Preparation, now: datetime
) -> int:
    """Build and keep the body of each of ``request_ids`` whose channel has a builder, in the caller's
    transaction (the one that seals them, so no worker claims one before its body is there); the
    number of bodies built. A request whose rows cannot go as one request as they stand keeps none."""
    if not request_ids or not preparation.bodies:
        return 0
    rows = connection.execute(
        sa.select(_q.c.id, _q.c.channel, _q.c.rendition_id).where(_q.c.id.in_(request_ids)).order_by(_q.c.id)
    ).all()
    built = 0
    for request_id, channel, rendition_id in rows:
        build = preparation.bodies.get(Channel(channel))
        if build is None:
            continue
        request = requests.ClaimedRequest(request_id, rendition_id, 0, now, False, now)
        claimed = request_messages(connection, Channel(channel), request, preparation.unsubscribe)
        body = build([c.message for c in claimed]) if claimed else None
        if body is not None:
            made = preparation.made_with[Channel(channel)]
            requests.store_body(connection, request_id, body, len(claimed), made)
            built += 1
    return built
