"""The outbox: one Delivery row per intended message, written before any network call.

A delivery carries either an update (one of its renditions, to a recipient or a broadcast) or a
:class:`Notice`: a message that is not an update (a subscription's confirmation link, an SMS code),
addressed to one address and rendered from ``templates/notice/`` when a worker claims it. Exactly
one of ``update_id`` and ``notice_id`` is set (a CHECK constraint, migration 0006).
"""

from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from clarion.kinds import Channel, DeliveryState
from clarion.models.columns import UTCDateTime, UTCTimestamp, channel_column, enum_column, json_column, utcnow

_PENDING, _CLAIMED = sa.text("state = 'pending'"), sa.text("state = 'claimed'")
# A pending row that belongs to a provider request is claimed with its request (migration 0014),
# never alone: the claim indexes hold only the rows claimed one by one.
_PENDING_ALONE = sa.text("state = 'pending' AND request_id IS NULL")
_ADDRESSED = sa.text("address_key IS NOT NULL")
_IN_REQUEST = sa.text("request_id IS NOT NULL")
_NOTICE, _FALLBACK = sa.text("notice_id IS NOT NULL"), sa.text("fallback_of IS NOT NULL")
_HELD = sa.text("state = 'pending' AND held_until IS NOT NULL")
_WATCHED = sa.text(
    "state IN ('accepted', 'bounced', 'failed') AND fallback_after IS NOT NULL AND fell_back_at IS NULL"
)

# ── delivery: the outbox ──────────────────────────────────────────────────────────────────────────


class Delivery(SQLModel, table=True):
    """One intended message, written before any network call; workers claim, send and record."""

    # Only the rows the engine looks for are indexed (migration 0003): pending rows in claim order
    # and by due time, claimed rows by age. A finished row leaves every one of these indexes.
    __table_args__ = (
        sa.Index(
            "ix_delivery_pending",
            "channel",
            "id",
            sqlite_where=_PENDING_ALONE,
            postgresql_where=_PENDING_ALONE,
        ),
        sa.Index(
            "ix_delivery_pending_rendition",
            "channel",
            "rendition_id",
            "id",
            sqlite_where=_PENDING_ALONE,
            postgresql_where=_PENDING_ALONE,
        ),
        sa.Index("ix_delivery_request", "request_id", sqlite_where=_IN_REQUEST, postgresql_where=_IN_REQUEST),
        sa.Index(
            "ix_delivery_pending_due",
            "channel",
            "next_attempt_at",
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        ),
        sa.Index("ix_delivery_claimed", "claimed_at", sqlite_where=_CLAIMED, postgresql_where=_CLAIMED),
        # One message per address and channel within an update, however many ids share the address
        # (migration 0005); suppressed rows carry no key, so they never hold an address back.
        sa.Index(
            "ux_delivery_update_address",
            "update_id",
            "channel",
            "address_key",
            unique=True,
            sqlite_where=_ADDRESSED,
            postgresql_where=_ADDRESSED,
        ),
        # Must-reach messages whose fallback is not decided yet, once the provider had them (migration
        # 0012): the outbox sweep finds here the failed ones and those still undelivered too long.
        sa.Index(
            "ix_delivery_fallback_watch",
            "state",
            "fallback_after",
            "accepted_at",
            sqlite_where=_WATCHED,
            postgresql_where=_WATCHED,
        ),
        # A notice's rows and fallback rows are few; the rest hold no entry (migration 0015), so a
        # fan-out's inserts and recorded outcomes do not write these two indexes a thousand times over.
        sa.Index("ix_delivery_notice_id", "notice_id", sqlite_where=_NOTICE, postgresql_where=_NOTICE),
        # Messages held to a morning (quiet hours), found when a newer update supersedes them.
        sa.Index("ix_delivery_held", "update_id", "recipient_id", sqlite_where=_HELD, postgresql_where=_HELD),
        sa.Index(
            "ix_delivery_fallback_of", "fallback_of", sqlite_where=_FALLBACK, postgresql_where=_FALLBACK
        ),
        sa.CheckConstraint("(update_id IS NULL) <> (notice_id IS NULL)", name="update_or_notice"),
    )

    id: int | None = Field(default=None, primary_key=True)
    update_id: int | None = Field(default=None, foreign_key="incident_update.id", index=True)
    notice_id: int | None = Field(
        default=None, foreign_key="notice.id", description="Set instead of update_id."
    )
    rendition_id: int | None = Field(default=None, foreign_key="rendition.id")
    request_id: int | None = Field(
        default=None,
        foreign_key="provider_request.id",
        description="The provider request it goes out in (email): claimed, sent and recorded with it.",
    )
    recipient_id: int | None = Field(
        default=None, foreign_key="recipient.id", description="None on broadcast channels."
    )
    channel: Channel = Field(sa_type=channel_column())
    audience: str | None = Field(default=None, description="The playbook audience it was sent to.")
    idempotency_key: str = Field(unique=True)
    state: DeliveryState = Field(default=DeliveryState.PENDING, sa_type=enum_column(DeliveryState))
    attempts: int = Field(
        default=0,
        description="Attempts that may have reached the provider (claims a crash took back and "
        "the provider said never arrived do not count).",
    )
    first_attempt_at: UTCTimestamp | None = Field(
        default=None,
        sa_type=UTCDateTime,
        description="When the row was first claimed: nothing of it can have reached the provider before; "
        "an in-doubt lookup searches from here.",
    )
    address_key: str | None = Field(
        default=None,
        description="Digest of the channel's normalised address; one message per address in an update.",
    )
    in_doubt: bool = Field(
        default=False,
        description="The last attempt may have reached the provider (crash, timeout): ask before resending.",
    )
    uncertain_sends: int = Field(
        default=0,
        description="Resends made while the provider could not say whether it already had the message.",
    )
    claimed_by: str | None = None
    claimed_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    next_attempt_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    held_until: UTCTimestamp | None = Field(
        default=None,
        sa_type=UTCDateTime,
        description="Staged during the recipient's quiet hours: not sent before this (their morning).",
    )
    hold_reason: str | None = Field(
        default=None, description='Why it was held: "quiet hours 21:00–08:00 Europe/Berlin, routine update".'
    )
    provider_id: str | None = Field(default=None, index=True)
    provider_status: str | None = Field(default=None, description="Last status the provider reported.")
    accepted_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    error_code: str | None = None
    error_detail: str | None = Field(default=None, sa_type=sa.Text)
    mandatory_reason: str | None = Field(
        default=None,
        description="Why the message is legally required or life-safety: an email bypasses unsubscribes "
        "for it, and no message of it is given up on.",
    )
    fallback_after: int | None = Field(
        default=None,
        description="Seconds (a must-reach audience's): not delivered this long after acceptance, or "
        "bounced or failed, the person gets the update on the other channel (clarion.outbox.fallback).",
    )
    fell_back_at: UTCTimestamp | None = Field(
        default=None,
        sa_type=UTCDateTime,
        description="When its fallback was decided (staged, or found impossible): it is decided once.",
    )
    fallback_of: int | None = Field(
        default=None, foreign_key="delivery.id", description="The delivery this one falls back from."
    )
    created_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: UTCTimestamp = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )


class Notice(SQLModel, table=True):
    """A message that is not an update, to one address: what it says is rendered from
    ``templates/notice/<kind>/<channel>/<locale>/`` and ``params`` when a worker claims its delivery, so no
    secret it carries (a confirmation link, a code) is ever stored."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(description='Its templates\' folder: "subscription-confirm", "subscription-code"…')
    channel: Channel = Field(sa_type=channel_column())
    locale: str
    address: str = Field(description="The normalised email address, or the number in E.164.")
    about: str = Field(
        index=True, description='Whom it concerns, as the audit log names it: "subscriber:12".'
    )
    params: dict[str, Any] = Field(
        default_factory=dict, sa_type=json_column(), description="What the templates need besides secrets."
    )
    dedupe_key: str | None = Field(
        default=None,
        max_length=64,
        unique=True,
        description="Names a notice that must go once (to a responder): staging it again adds nothing.",
    )
    created_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)


class HeldEvent(SQLModel, table=True):
    """A provider event for a message whose outcome the worker has not recorded yet (a Twilio callback
    before its SID is stored, any event while the row is still claimed): applied once it is."""

    __tablename__ = "held_event"
    __table_args__ = (sa.Index("ix_held_event_ref", "provider", "ref"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str
    channel: Channel = Field(sa_type=channel_column())
    ref: str = Field(max_length=200, description="The provider's message id, or our delivery id.")
    by_provider_id: bool
    change: dict[str, Any] = Field(sa_type=json_column(), description="The event as read (keys, state…).")
    received_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProviderEvent(SQLModel, table=True):
    """A provider webhook event already applied: providers retry and duplicate, we apply each once."""

    __tablename__ = "provider_event"
    __table_args__ = (sa.UniqueConstraint("provider", "event_key"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(description='"sendgrid", "twilio"…')
    event_key: str = Field(description="The provider's event id, or a digest of the event when it has none.")
    delivery_id: int | None = Field(default=None, foreign_key="delivery.id", index=True)
    copy_id: str | None = Field(
        default=None,
        description="Which request of ours the event is about (SendGrid: the X-Message-Id in sg_message_id): "
        "two copy ids for one delivery mean the provider received it twice.",
    )
    received_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)
    state: DeliveryState | None = Field(
        default=None,
        sa_type=enum_column(DeliveryState),
        description="What the event said of the delivery (None: nothing, e.g. an unsubscribe).",
    )
    provider_status: str | None = Field(default=None, max_length=64, description="The provider's word.")
    occurred_at: UTCTimestamp | None = Field(
        default=None, sa_type=UTCDateTime, description="When the provider says it happened."
    )


class RequestState(StrEnum):
    """A provider request's life: open (staging still adds to it) → pending ⇄ claimed → done."""

    OPEN = "open"
    PENDING = "pending"
    CLAIMED = "claimed"
    DONE = "done"


_REQUEST_PENDING, _REQUEST_CLAIMED = sa.text("state = 'pending'"), sa.text("state = 'claimed'")


class ProviderRequest(SQLModel, table=True):
    """One provider request (a SendGrid ``/v3/mail/send`` of up to 1000 recipients): the unit a
    worker claims, sends and records (:mod:`clarion.outbox.requests`). Its deliveries keep what is
    theirs alone (rendition, address, the provider's later events); while the request is claimed
    they stay ``pending``, and its outcome is written to them in the transaction that records it."""

    __tablename__ = "provider_request"
    __table_args__ = (
        sa.Index(
            "ix_provider_request_due",
            "channel",
            "next_attempt_at",
            "id",
            sqlite_where=_REQUEST_PENDING,
            postgresql_where=_REQUEST_PENDING,
        ),
        sa.Index(
            "ix_provider_request_claimed",
            "claimed_at",
            sqlite_where=_REQUEST_CLAIMED,
            postgresql_where=_REQUEST_CLAIMED,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    update_id: int = Field(foreign_key="incident_update.id", index=True)
    rendition_id: int = Field(foreign_key="rendition.id")
    audience: str = Field(description="The playbook audience its recipients were staged for.")
    channel: Channel = Field(sa_type=channel_column())
    state: RequestState = Field(default=RequestState.OPEN, sa_type=enum_column(RequestState))
    next_attempt_at: UTCTimestamp = Field(sa_type=UTCDateTime)
    attempts: int = Field(default=0, description="Attempts that may have reached the provider.")
    first_attempt_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    in_doubt: bool = Field(default=False, description="The last attempt may have reached the provider.")
    uncertain_sends: int = Field(default=0, description="Resends the provider could not rule out.")
    claimed_by: str | None = None
    claimed_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    provider_id: str | None = Field(default=None, description="SendGrid's X-Message-Id of the request.")
    error_detail: str | None = Field(default=None, sa_type=sa.Text)
    body: bytes | None = Field(
        default=None,
        sa_type=sa.LargeBinary,
        description="The request as it goes to the provider, built once at staging; cleared when done.",
    )
    body_rows: int | None = Field(default=None, description="The pending rows ``body`` was built for.")
    body_made_with: str | None = Field(
        default=None,
        max_length=32,
        description="What shaped ``body`` besides its rows (clarion.outbox.prepared.made_with): a worker "
        "that would build another body (another sender address, link base, SDK) builds it from the rows.",
    )
    created_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProviderRate(SQLModel, table=True):
    """One provider's request rate, shared by every worker on the store: a token bucket
    (:mod:`clarion.outbox.shared_rate`), and how long a 429 closed it for all of them.

    Its times are seconds on the store's own clock (``clock_timestamp()`` on PostgreSQL), not
    timestamps: workers on several machines read one clock, and a bucket counts in milliseconds.
    """

    __tablename__ = "provider_rate"

    provider: str = Field(primary_key=True, max_length=64, description='"twilio", "sendgrid"…')
    tokens: float = Field(description="Requests that may start now without waiting (up to the burst).")
    refilled_at: float = Field(description="When ``tokens`` was last brought up to date (store clock, s).")
    closed_until: float = Field(
        default=0.0, description="A 429 closed the provider to every worker until then (store clock, s)."
    )
