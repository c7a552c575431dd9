"""Status page subscribers, their pending confirmations, and the rate limits of the subscribe form.

A subscriber is one address on one channel (UNIQUE per channel and address digest), with the
components it chose (empty: all of them, including those added later) and the language it reads.
What a request asks for lives on its :class:`SubscriptionConfirmation` until the address's owner
confirms it: a request for an address already subscribed changes nothing until then, so nobody can
change someone else's subscription by typing their address.
"""

from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from clarion.kinds import Channel
from clarion.models.columns import UTCDateTime, UTCTimestamp, channel_column, enum_column, json_column, utcnow


class SubscriberState(StrEnum):
    """pending (asked, never confirmed) → confirmed ⇄ unsubscribed (a later confirmation restarts it)."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"


class ConfirmationMethod(StrEnum):
    """How an address proves it is its owner's: a link by email, a code by SMS typed on the page."""

    LINK = "link"
    CODE = "code"


class Subscriber(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("channel", "address_key"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: Channel = Field(sa_type=channel_column())
    address: str = Field(description="The normalised email address, or the number in E.164.")
    address_key: str = Field(
        description="Digest of the address as the outbox computes it (lower-cased email)."
    )
    components: list[str] = Field(
        default_factory=list, sa_type=json_column(), description="Component ids; empty: every component."
    )
    locale: str = "en"
    state: SubscriberState = Field(sa_type=enum_column(SubscriberState))
    generation: int = Field(
        default=0,
        description="Bumped whenever a subscription starts or ends: an earlier one's manage links stop.",
    )
    ended_by: str | None = Field(default=None, description='Why it ended: "manage", "sms-stop"…')
    created_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)
    confirmed_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: UTCTimestamp = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )


class SubscriptionConfirmation(SQLModel, table=True):
    """One request to subscribe (or to change a subscription), waiting for its address to confirm.

    Single use: ``used_at`` is set by the one confirmation that wins (an UPDATE guarded by
    ``used_at IS NULL``). Its secret (the link's token, the SMS code) is never stored: both are
    derived from this row's id with the signing key when the notice is sent and when it comes back.
    """

    __tablename__ = "subscription_confirmation"

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    method: ConfirmationMethod = Field(sa_type=enum_column(ConfirmationMethod))
    components: list[str] = Field(default_factory=list, sa_type=json_column())
    locale: str = "en"
    expires_at: UTCTimestamp = Field(sa_type=UTCDateTime)
    attempts: int = Field(default=0, description="Wrong codes typed so far.")
    used_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    created_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RateHit(SQLModel, table=True):
    """One counted request in a sliding window, kept in the store so every process sees the same count."""

    __tablename__ = "rate_hit"
    __table_args__ = (sa.Index("ix_rate_hit_bucket_key_at", "bucket", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    bucket: str = Field(description='What is limited: "subscribe-client", "subscribe-address"…')
    key: str = Field(description="A keyed digest of who is limited (never the address itself).")
    at: UTCTimestamp = Field(sa_type=UTCDateTime, index=True)
