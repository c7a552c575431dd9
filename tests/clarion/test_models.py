"""Column behaviour a user would notice: time zones, vocabularies, JSON parts and constraints."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pydantic
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from clarion import store
from clarion.kinds import Channel, IncidentStatus, UpdateState
from clarion.models import (
    Delivery,
    Incident,
    IncidentCreate,
    IncidentPublic,
    Recipient,
    RecipientCreate,
    SurveyInvite,
    SurveyResponse,
    Update,
    UpdateCreate,
    UpdatePublic,
)

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def db(engine: sa.Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def _incident(session: Session, incident_in: IncidentCreate, reference: str | None = None) -> Incident:
    return store.create_incident(
        session=session, incident_in=incident_in.model_copy(update={"reference": reference})
    )


def _raw(engine: sa.Engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.exec_driver_sql(sql)]


# ── time ──────────────────────────────────────────────────────────────────────────────────────────


def test_aware_datetimes_come_back_as_the_same_instant_in_utc(
    engine: sa.Engine, db: Session, incident_in: IncidentCreate
) -> None:
    summer = datetime(2026, 7, 14, 23, 59, 59, 999999, tzinfo=BERLIN)  # 21:59:59.999999 UTC
    winter = datetime(2026, 1, 5, 0, 30, tzinfo=timezone(timedelta(hours=-5)))
    incident = _incident(db, incident_in.model_copy(update={"aware_at": summer, "started_at": winter}))
    db.commit()

    with Session(engine) as fresh:
        stored = fresh.exec(select(Incident).where(Incident.id == incident.id)).one()

    assert stored.aware_at == summer
    assert stored.aware_at.utcoffset() == timedelta(0)
    assert stored.aware_at.isoformat() == "2026-07-14T21:59:59.999999+00:00"
    assert stored.started_at == winter
    assert stored.started_at is not None and stored.started_at.tzinfo == UTC
    assert stored.declared_at.tzinfo == UTC


def test_comparisons_in_queries_use_the_instant_not_the_wall_clock(engine: sa.Engine, db: Session) -> None:
    """SQLite compares stored text: it works only because every value is written in UTC."""
    due = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    db.add(
        Delivery(update_id=_an_update_id(db), channel=Channel.SMS, idempotency_key="k", next_attempt_at=due)
    )
    db.commit()

    just_before_in_tokyo = datetime(2026, 3, 1, 20, 59, tzinfo=ZoneInfo("Asia/Tokyo"))  # 11:59 UTC
    just_after_in_new_york = datetime(2026, 3, 1, 7, 1, tzinfo=ZoneInfo("America/New_York"))  # 12:01 UTC

    def due_by(moment: datetime) -> int:
        return len(db.exec(select(Delivery).where(Delivery.next_attempt_at <= moment)).all())

    assert due_by(just_before_in_tokyo) == 0
    assert due_by(just_after_in_new_york) == 1


def test_a_naive_datetime_is_refused_before_anything_is_stored(
    engine: sa.Engine, db: Session, incident_in: IncidentCreate
) -> None:
    incident = Incident(
        reference="INC-0001",
        playbook="outage",
        severity="sev1",
        title="t",
        aware_at=datetime(2026, 3, 1, 9, 0),
    )
    db.add(incident)

    with pytest.raises(sa.exc.StatementError) as caught:
        db.flush()

    assert isinstance(caught.value.orig, ValueError)
    assert "naive datetime 2026-03-01T09:00:00 refused" in str(caught.value.orig)
    db.rollback()
    assert _raw(engine, "SELECT count(*) FROM incident") == [(0,)]


def test_create_models_refuse_naive_datetimes_at_the_boundary(incident_in: IncidentCreate) -> None:
    with pytest.raises(pydantic.ValidationError, match="timezone"):
        IncidentCreate.model_validate(incident_in.model_dump() | {"aware_at": datetime(2026, 3, 1, 9, 0)})


def test_public_shapes_serialise_times_as_utc(
    db: Session, incident_in: IncidentCreate, update_in: UpdateCreate
) -> None:
    incident = _incident(
        db, incident_in.model_copy(update={"aware_at": datetime(2026, 3, 1, 10, 0, tzinfo=BERLIN)})
    )
    update = store.add_update(session=db, incident=incident, update_in=update_in)

    shown = IncidentPublic.model_validate(incident).model_dump(mode="json")
    shown_update = UpdatePublic.model_validate(update).model_dump(mode="json")

    assert (shown["reference"], shown["aware_at"], shown["resolved_at"]) == (
        "INC-0001",
        "2026-03-01T09:00:00Z",
        None,
    )
    assert (shown_update["number"], shown_update["state"], shown_update["next_update_by"]) == (
        1,
        "draft",
        "2026-03-01T10:30:15.123456Z",
    )


# ── vocabularies and JSON ─────────────────────────────────────────────────────────────────────────


def test_enums_are_stored_as_their_values_and_read_back_as_members(
    engine: sa.Engine, db: Session, incident_in: IncidentCreate, update_in: UpdateCreate
) -> None:
    incident = _incident(db, incident_in)
    update = store.add_update(session=db, incident=incident, update_in=update_in)
    update.state = UpdateState.PENDING_APPROVAL
    db.commit()

    assert _raw(engine, "SELECT state, status, kind FROM incident_update") == [
        ("pending_approval", "investigating", "update")
    ]
    with Session(engine) as fresh:
        assert fresh.exec(select(Update)).one().state is UpdateState.PENDING_APPROVAL


def test_an_unknown_enum_value_is_refused(db: Session, incident_in: IncidentCreate) -> None:
    incident = _incident(db, incident_in)
    incident.status = "on-fire"

    with pytest.raises(sa.exc.StatementError, match="on-fire"):
        db.flush()


def test_unknown_story_parts_are_sql_null_not_json_null(
    engine: sa.Engine, db: Session, incident_in: IncidentCreate, update_in: UpdateCreate
) -> None:
    incident = _incident(db, incident_in)
    fix = {
        "en": {"text": "Please retry your order.", "short": None},
        "de": {"text": "Bitte erneut.", "short": None},
    }
    store.add_update(session=db, incident=incident, update_in=update_in.model_copy(update={"fix": fix}))
    db.commit()

    assert _raw(engine, "SELECT cause IS NULL, fix IS NULL, prevention IS NULL FROM incident_update") == [
        (True, False, True)
    ]
    with Session(engine) as fresh:
        stored = fresh.exec(select(Update)).one()
    assert stored.fix == fix
    assert stored.cause is None
    assert stored.apology == update_in.apology


def test_an_update_needs_an_apology(update_in: UpdateCreate) -> None:
    with pytest.raises(pydantic.ValidationError, match="apology"):
        UpdateCreate.model_validate(update_in.model_dump() | {"apology": {}})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("time_zone", "Mars/Olympus_Mons", "is not an IANA time zone"),
        ("phone_e164", "0049 30 123456", "not an E.164 number"),
    ],
)
def test_recipient_input_is_checked(field: str, value: str, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        RecipientCreate.model_validate({"external_id": "c-1", field: value})


def test_incident_public_time_zone_is_checked(incident_in: IncidentCreate) -> None:
    with pytest.raises(pydantic.ValidationError, match="is not an IANA time zone"):
        IncidentCreate.model_validate(incident_in.model_dump() | {"public_time_zone": "Europe/Atlantis"})


# ── constraints ───────────────────────────────────────────────────────────────────────────────────


def test_incident_reference_is_unique(db: Session, incident_in: IncidentCreate) -> None:
    _incident(db, incident_in, "INC-0042")

    with pytest.raises(sa.exc.IntegrityError):
        _incident(db, incident_in, "INC-0042")


def test_update_number_is_unique_per_incident_only(
    db: Session, incident_in: IncidentCreate, update_in: UpdateCreate
) -> None:
    first, second = _incident(db, incident_in, "INC-0001"), _incident(db, incident_in, "INC-0002")
    for incident in (first, second):
        db.add(Update.model_validate(update_in, update={"incident_id": incident.id, "number": 1}))
    db.flush()  # number 1 in two incidents is fine

    db.add(Update.model_validate(update_in, update={"incident_id": first.id, "number": 1}))
    with pytest.raises(sa.exc.IntegrityError):
        db.flush()


def test_delivery_idempotency_key_is_unique(db: Session) -> None:
    update_id = _an_update_id(db)
    db.add(Delivery(update_id=update_id, channel=Channel.EMAIL, idempotency_key="u1:email:c-1"))
    db.flush()

    db.add(Delivery(update_id=update_id, channel=Channel.EMAIL, idempotency_key="u1:email:c-1"))
    with pytest.raises(sa.exc.IntegrityError):
        db.flush()


def test_foreign_keys_are_enforced(db: Session) -> None:
    db.add(Delivery(update_id=999, channel=Channel.EMAIL, idempotency_key="dangling"))

    with pytest.raises(sa.exc.IntegrityError):
        db.flush()


def test_delivery_updated_at_moves_on_every_change(db: Session) -> None:
    delivery = Delivery(update_id=_an_update_id(db), channel=Channel.SMS, idempotency_key="k")
    db.add(delivery)
    db.flush()
    created = delivery.updated_at

    delivery.attempts = 1
    db.flush()
    db.refresh(delivery)

    assert delivery.updated_at > created
    assert delivery.updated_at.tzinfo == UTC


@pytest.mark.parametrize(
    ("scores", "accepted"),
    [
        ({"informed_score": 1, "trust_score": 5, "nps": 0}, True),
        ({"informed_score": 5, "trust_score": 1, "nps": 10}, True),
        ({"informed_score": 3, "trust_score": 3, "nps": None}, True),
        ({"informed_score": 0, "trust_score": 3}, False),
        ({"informed_score": 6, "trust_score": 3}, False),
        ({"informed_score": 3, "trust_score": 0}, False),
        ({"informed_score": 3, "trust_score": 6}, False),
        ({"informed_score": 3, "trust_score": 3, "nps": -1}, False),
        ({"informed_score": 3, "trust_score": 3, "nps": 11}, False),
    ],
)
def test_survey_scores_are_checked_by_the_database(
    db: Session, incident_in: IncidentCreate, scores: dict[str, int | None], accepted: bool
) -> None:
    incident = _incident(db, incident_in)
    recipient = Recipient.model_validate(RecipientCreate(external_id="c-1"))
    db.add(recipient)
    db.flush()
    assert incident.id is not None and recipient.id is not None
    invite = SurveyInvite(
        incident_id=incident.id,
        recipient_id=recipient.id,
        channel=Channel.EMAIL,
        token_hash="a" * 64,
        expires_at=datetime.now(UTC) + timedelta(days=14),
    )
    db.add(invite)
    db.flush()
    assert invite.id is not None

    db.add(SurveyResponse(invite_id=invite.id, **scores))
    if accepted:
        db.flush()
    else:
        with pytest.raises(sa.exc.IntegrityError, match="ck_survey_response_"):
            db.flush()


def _an_update_id(session: Session) -> int:
    incident = Incident(
        reference="INC-9999", playbook="outage", severity="sev1", title="t", aware_at=datetime.now(UTC)
    )
    session.add(incident)
    session.flush()
    assert incident.id is not None
    update = Update(
        incident_id=incident.id,
        number=1,
        status=IncidentStatus.INVESTIGATING,
        apology={"en": {"text": "Sorry.", "short": None}},
        next_update_by=datetime.now(UTC) + timedelta(hours=1),
    )
    session.add(update)
    session.flush()
    assert update.id is not None
    return update.id
