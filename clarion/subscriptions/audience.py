"""Confirmed subscribers as an audience: who hears about an update, by the components it touches.

A playbook names them as an audience's source (``source: {subscribers: {channels: [email, sms]}}``).
A subscriber is in the audience of an update when it is confirmed, on one of the source's channels,
and wants what the update touches: it chose every component (empty), or the update names none
(``impact.components`` empty: it concerns everything), or the two share a component.

Each becomes a recipient whose id is ``subscriber:<id>`` (its address, its language; the page's time
zone), so the fan-out treats it like any other: one message per address even when a customer list
holds the same address, consent honoured (the one-click unsubscribe link of an update's email
withdraws it), the ledger per recipient.

The languages a check reports are every language the subscribe form offers, not only those of the
subscribers at that moment: someone confirming between an update's draft and its sending must not
need a rendition the draft did not make.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence

import sqlalchemy as sa

from clarion import store
from clarion.audiences.audience import AudienceSummary, RecipientRow
from clarion.kinds import Channel
from clarion.models import Subscriber, SubscriberState
from clarion.models.columns import table_of
from clarion.statuspage.pages import LOCALES
from clarion.subscriptions.requests import recipient_external_id

_s = table_of(Subscriber)
BATCH = 5_000


def wants(chosen: Collection[str], touched: Collection[str]) -> bool:
    """Whether a subscriber who chose ``chosen`` (empty: all) hears of an update touching ``touched``."""
    return not chosen or not touched or not set(chosen).isdisjoint(touched)


def subscriber_rows(
    engine: sa.Engine, *, channels: Sequence[Channel], components: Collection[str]
) -> Iterator[RecipientRow]:
    """The confirmed subscribers on ``channels`` who want an update touching ``components``, streamed."""
    wanted = [c for c in channels if c in (Channel.EMAIL, Channel.SMS)]
    if not wanted:
        return
    statement = (
        sa.select(_s.c.id, _s.c.channel, _s.c.address, _s.c.components, _s.c.locale)
        .where(_s.c.state == SubscriberState.CONFIRMED, _s.c.channel.in_(wanted))
        .order_by(_s.c.id)
        .execution_options(yield_per=BATCH)
    )
    with store.reading(engine) as connection:
        for row in connection.execute(statement):
            if not wants(row.components or [], components):
                continue
            by_email = Channel(row.channel) is Channel.EMAIL
            yield RecipientRow(
                external_id=recipient_external_id(row.id),
                email=row.address if by_email else None,
                phone=None if by_email else row.address,
                locale=row.locale,
            )


def subscriber_summary(
    engine: sa.Engine, *, channels: Sequence[Channel], components: Collection[str]
) -> AudienceSummary:
    """How many subscribers an update would reach, and every language the form offers (see above)."""
    count = sum(1 for _ in subscriber_rows(engine, channels=channels, components=components))
    return AudienceSummary(rows=count, variants=frozenset((locale, None) for locale in LOCALES))
