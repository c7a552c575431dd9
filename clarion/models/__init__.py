"""The store's tables, one module per part of the product; import them from here.

One SQLModel family per entity (``XBase / XCreate / X(table=True) / XPublic``).

Conventions every table follows:

* **Time** is a :class:`UTCDateTime` column: aware datetimes in, aware UTC datetimes out, on SQLite
  (which has no time zones) as on PostgreSQL (``timestamptz``). A naive datetime is refused. Fields
  are :data:`UTCTimestamp`, so validated input is already in UTC before it reaches the database.
* **Closed vocabularies** (the StrEnums of :mod:`clarion.kinds`) are stored as their *values* in a
  ``VARCHAR(32)``: no native PostgreSQL enum and no CHECK constraint, so a new member needs no migration.
  SQLAlchemy validates on the way in (an unknown string raises ``LookupError``) and returns members.
* **Structured content** (the four parts of an update, facts, carried facts, audit details) is ``JSON``
  (not JSONB: PostgreSQL keeps the text as written). Nullable JSON columns store Python ``None`` as SQL
  ``NULL`` ("not known yet"), never as the JSON literal ``null``.
* **Constraint names** follow :data:`NAMING_CONVENTION`, so migrations can name what they alter.
* There are no ORM relationships yet: store functions query explicitly.

The modules of this package deliberately have no ``from __future__ import annotations``: SQLModel resolves
``Relationship`` annotations such as ``list["Update"]`` at class creation and fails on postponed
(string) annotations, so adding a relationship later would break in a confusing way.
"""

from clarion.models.audience import (
    AudienceMembership,
    ChannelConsent,
    Recipient,
    RecipientBase,
    RecipientCreate,
)
from clarion.models.audit_event import AuditEvent
from clarion.models.banner import Banner
from clarion.models.columns import (
    ENUM_LENGTH,
    HASH_LENGTH,
    NAMING_CONVENTION,
    LocalizedPart,
    UTCDateTime,
    UTCTimestamp,
    utcnow,
)
from clarion.models.commitment import Commitment
from clarion.models.deadline import Deadline
from clarion.models.delivery import (
    Delivery,
    HeldEvent,
    Notice,
    ProviderEvent,
    ProviderRate,
    ProviderRequest,
    RequestState,
)
from clarion.models.incident import (
    Approval,
    Incident,
    IncidentBase,
    IncidentCreate,
    IncidentPublic,
    Rendition,
    Update,
    UpdateBase,
    UpdateCreate,
    UpdatePublic,
)
from clarion.models.subscription import (
    ConfirmationMethod,
    RateHit,
    Subscriber,
    SubscriberState,
    SubscriptionConfirmation,
)
from clarion.models.survey import Survey, SurveyFollowup, SurveyInvite, SurveyResponse

__all__ = [
    "ENUM_LENGTH",
    "HASH_LENGTH",
    "NAMING_CONVENTION",
    "Approval",
    "AudienceMembership",
    "AuditEvent",
    "Banner",
    "ChannelConsent",
    "Commitment",
    "ConfirmationMethod",
    "Deadline",
    "Delivery",
    "HeldEvent",
    "Incident",
    "IncidentBase",
    "IncidentCreate",
    "IncidentPublic",
    "LocalizedPart",
    "Notice",
    "ProviderEvent",
    "ProviderRate",
    "ProviderRequest",
    "RateHit",
    "Recipient",
    "RecipientBase",
    "RecipientCreate",
    "Rendition",
    "RequestState",
    "Subscriber",
    "SubscriberState",
    "SubscriptionConfirmation",
    "Survey",
    "SurveyFollowup",
    "SurveyInvite",
    "SurveyResponse",
    "UTCDateTime",
    "UTCTimestamp",
    "Update",
    "UpdateBase",
    "UpdateCreate",
    "UpdatePublic",
    "utcnow",
]
