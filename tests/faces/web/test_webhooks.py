"""Provider webhooks through the real app: signatures checked, events applied, nothing personal logged."""

from __future__ import annotations

import base64
import json
import logging
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr
from sqlmodel import Session, select

with warnings.catch_warnings():  # Starlette 1.x asks for "httpx2"; the httpx we have works the same
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", UserWarning)
    from fastapi.testclient import TestClient

from channels.signatures import twilio_signature
from clarion import store
from clarion.audiences import consent
from clarion.kinds import Channel, ConsentState, DeliveryState, IncidentStatus
from clarion.models import (
    AuditEvent,
    Delivery,
    HeldEvent,
    IncidentCreate,
    ProviderEvent,
    RecipientCreate,
    UpdateCreate,
)
from clarion.settings import Settings
from faces.web.app import create_app

PUBLIC = "https://status.example.com"
EMAIL, PHONE = "ada@example.com", "+4915112345678"
TWILIO_TOKEN = "twilio-test-token"
STATUS_PATH = "/webhooks/twilio/status"
SENDGRID_PATH = "/webhooks/sendgrid/events"


@pytest.fixture
def private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_b64(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def make_client(tmp_path: Path, engine: sa.Engine, **settings: Any) -> TestClient:
    config = Settings(home=tmp_path / "home", public_url=PUBLIC, **settings)
    return TestClient(create_app(config, engine=engine))


@pytest.fixture
def client(
    tmp_path: Path, engine: sa.Engine, private_key: ec.EllipticCurvePrivateKey
) -> Iterator[TestClient]:
    with make_client(
        tmp_path,
        engine,
        sendgrid_api_key=SecretStr("SG.real"),
        sendgrid_event_public_key=public_b64(private_key),
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token=SecretStr(TWILIO_TOKEN),
    ) as client:
        yield client


@pytest.fixture
def deliveries(engine: sa.Engine) -> dict[Channel, int]:
    """One email and one SMS delivery to the same recipient, both accepted by their provider."""
    with store.session_scope(engine) as session:
        incident = store.create_incident(
            session=session,
            incident_in=IncidentCreate(
                playbook="outage", severity="sev1", title="Checkout is failing", aware_at=datetime.now(UTC)
            ),
        )
        update = store.add_update(
            session=session,
            incident=incident,
            update_in=UpdateCreate(
                status=IncidentStatus.INVESTIGATING,
                apology={"en": {"text": "Checkout failed. We are sorry.", "short": None}},
                next_update_by=datetime.now(UTC),
            ),
        )
        recipient = store.add_recipient(
            session=session,
            recipient_in=RecipientCreate(external_id="c1", email=EMAIL, phone_e164=PHONE),
            consents={Channel.EMAIL: ConsentState.GRANTED, Channel.SMS: ConsentState.GRANTED},
        )
        rows = {
            channel: Delivery(
                update_id=update.id or 0,
                recipient_id=recipient.id,
                channel=channel,
                idempotency_key=f"k-{channel}",
                state=DeliveryState.ACCEPTED,
                provider_id=provider_id,
            )
            for channel, provider_id in ((Channel.EMAIL, "sg-msg-1"), (Channel.SMS, "SM" + "ab" * 16))
        }
        session.add_all(rows.values())
        session.flush()
        return {channel: row.id or 0 for channel, row in rows.items()}


def state_of(engine: sa.Engine, delivery_id: int) -> Delivery:
    with Session(engine) as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        return delivery


def audit_actions(engine: sa.Engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        return [(e.actor, e.action) for e in session.exec(select(AuditEvent))]


def no_personal_data_logged(caplog: pytest.LogCaptureFixture) -> bool:
    text = "\n".join(record.getMessage() for record in caplog.records)
    return EMAIL not in text and PHONE not in text and PHONE.lstrip("+") not in text


# ── SendGrid ──────────────────────────────────────────────────────────────────────────────────────


def sendgrid_body(delivery_id: int, *kinds: str) -> bytes:
    events = [
        {
            "email": EMAIL,
            "event": kind,
            "timestamp": 1_772_000_000 + n,
            "sg_event_id": f"ev-{n}",
            "sg_message_id": "sg-msg-1.filter",
            "delivery_id": str(delivery_id),
        }
        for n, kind in enumerate(kinds)
    ]
    return (json.dumps(events, indent=1) + "\r\n").encode()


def signed(key: ec.EllipticCurvePrivateKey, body: bytes, timestamp: str = "1772000100") -> dict[str, str]:
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def test_signed_sendgrid_events_are_applied(
    client: TestClient,
    engine: sa.Engine,
    deliveries: dict[Channel, int],
    private_key: ec.EllipticCurvePrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    body = sendgrid_body(deliveries[Channel.EMAIL], "processed", "delivered", "unsubscribe")
    response = client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body))
    assert response.status_code == 200
    assert response.json() == {
        "applied": 3,
        "duplicates": 0,
        "unknown": 0,
        "ignored": 0,
        "withdrawn": 1,
        "held": 0,
        "fallbacks": 0,
    }
    assert state_of(engine, deliveries[Channel.EMAIL]).state is DeliveryState.DELIVERED
    assert audit_actions(engine) == [("sendgrid", "consent.withdrawn")]
    again = client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body))
    assert again.json()["duplicates"] == 3
    assert no_personal_data_logged(caplog)


@pytest.mark.parametrize("tamper", ["body", "timestamp", "signature", "missing"])
def test_a_bad_sendgrid_signature_is_403_and_changes_nothing(
    client: TestClient,
    engine: sa.Engine,
    deliveries: dict[Channel, int],
    private_key: ec.EllipticCurvePrivateKey,
    tamper: str,
) -> None:
    body = sendgrid_body(deliveries[Channel.EMAIL], "bounce")
    headers = signed(private_key, body)
    if tamper == "body":
        body = body.replace(b"bounce", b"bouncf")
    elif tamper == "timestamp":
        headers["X-Twilio-Email-Event-Webhook-Timestamp"] = "1772000101"
    elif tamper == "signature":
        headers = signed(ec.generate_private_key(ec.SECP256R1()), body)
    else:
        del headers["X-Twilio-Email-Event-Webhook-Signature"]
    response = client.post(SENDGRID_PATH, content=body, headers=headers)
    assert response.status_code == 403
    assert state_of(engine, deliveries[Channel.EMAIL]).state is DeliveryState.ACCEPTED


def test_sendgrid_without_a_key_in_production_is_refused(
    tmp_path: Path, engine: sa.Engine, deliveries: dict[Channel, int]
) -> None:
    body = sendgrid_body(deliveries[Channel.EMAIL], "delivered")
    with make_client(tmp_path, engine, sendgrid_api_key=SecretStr("SG.real")) as client:
        response = client.post(SENDGRID_PATH, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 503
    assert "CLARION_SENDGRID_EVENT_PUBLIC_KEY" in response.text
    assert state_of(engine, deliveries[Channel.EMAIL]).state is DeliveryState.ACCEPTED


def test_sendgrid_in_sandbox_mode_accepts_unsigned_events_loudly(
    tmp_path: Path, engine: sa.Engine, deliveries: dict[Channel, int], caplog: pytest.LogCaptureFixture
) -> None:
    body = sendgrid_body(deliveries[Channel.EMAIL], "delivered")
    with make_client(tmp_path, engine) as client:
        response = client.post(SENDGRID_PATH, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert state_of(engine, deliveries[Channel.EMAIL]).state is DeliveryState.DELIVERED
    assert any("UNVERIFIED" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_sendgrid_with_an_unusable_key_is_503(
    tmp_path: Path, engine: sa.Engine, private_key: ec.EllipticCurvePrivateKey
) -> None:
    body = b"[]"
    with make_client(tmp_path, engine, sendgrid_event_public_key="bm90IGEga2V5") as client:
        response = client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body))
    assert response.status_code == 503
    assert "CLARION_SENDGRID_EVENT_PUBLIC_KEY" in response.text


@pytest.mark.parametrize("body", [b"not json", b'{"event": "delivered"}'])
def test_a_signed_body_that_is_not_an_array_is_400(
    client: TestClient, private_key: ec.EllipticCurvePrivateKey, body: bytes
) -> None:
    assert client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body)).status_code == 400


def test_a_deep_body_is_verified_before_it_is_parsed(
    client: TestClient, private_key: ec.EllipticCurvePrivateKey
) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    unsigned = client.post(SENDGRID_PATH, content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 403
    assert client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body)).status_code == 400


def test_a_signed_event_with_an_oversized_id_is_ignored_not_stored(
    client: TestClient,
    engine: sa.Engine,
    deliveries: dict[Channel, int],
    private_key: ec.EllipticCurvePrivateKey,
) -> None:
    events = json.loads(sendgrid_body(deliveries[Channel.EMAIL], "bounce", "delivered"))
    events[0]["sg_event_id"] = "x" * 1024 * 1024
    body = json.dumps(events).encode()
    response = client.post(SENDGRID_PATH, content=body, headers=signed(private_key, body))
    assert response.status_code == 200
    assert response.json() == {
        "applied": 1,
        "duplicates": 0,
        "unknown": 0,
        "ignored": 1,
        "withdrawn": 0,
        "held": 0,
        "fallbacks": 0,
    }
    assert state_of(engine, deliveries[Channel.EMAIL]).state is DeliveryState.DELIVERED
    with Session(engine) as session:
        keys = session.exec(select(ProviderEvent.event_key)).all()
    assert sorted(keys) == ["id:ev-1", "msg:sg-msg-1.filter|delivered|1772000001"]


# ── Twilio ────────────────────────────────────────────────────────────────────────────────────────


def status_form(status: str, **extra: str) -> dict[str, str]:
    sid = "SM" + "ab" * 16
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": "AC" + "1" * 32,
        "From": "+15005550006",
        "To": PHONE,
        "ApiVersion": "2010-04-01",
        **extra,
    }


def post_status(
    client: TestClient,
    form: dict[str, str],
    *,
    token: str = TWILIO_TOKEN,
    query: str = "",
    headers: dict[str, str] | None = None,
    signed_form: dict[str, str] | None = None,
) -> int:
    path = STATUS_PATH + (f"?{query}" if query else "")
    signature = twilio_signature(token, PUBLIC + path, dict(signed_form if signed_form is not None else form))
    response = client.post(
        path,
        content=urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "X-Twilio-Signature": signature,
            **(headers or {}),
        },
    )
    return response.status_code


def test_signed_twilio_callbacks_are_applied(
    client: TestClient, engine: sa.Engine, deliveries: dict[Channel, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert post_status(client, status_form("sent"), query="attempt=1") == 204
    assert state_of(engine, deliveries[Channel.SMS]).provider_status == "sent"
    assert post_status(client, status_form("delivered", RawDlrDoneDate="2603011200")) == 204
    assert state_of(engine, deliveries[Channel.SMS]).state is DeliveryState.DELIVERED
    assert no_personal_data_logged(caplog)


def test_a_signed_callback_for_a_sid_not_recorded_yet_is_kept_once(
    client: TestClient, engine: sa.Engine, deliveries: dict[Channel, int]
) -> None:
    early = {"MessageSid": "SM" + "9" * 32, "MessageStatus": "delivered", "AccountSid": "AC" + "1" * 32}
    assert post_status(client, early) == 204
    assert post_status(client, early) == 204  # Twilio's retry
    with Session(engine) as session:
        held = session.exec(select(HeldEvent)).all()
    assert [(h.ref, h.change["state"]) for h in held] == [("SM" + "9" * 32, "delivered")]


def test_twilio_stop_withdraws_sms_consent(
    client: TestClient, engine: sa.Engine, deliveries: dict[Channel, int]
) -> None:
    retry = {"I-Twilio-Idempotency-Token": "idem-1"}
    assert post_status(client, status_form("failed", ErrorCode="21610"), headers=retry) == 204
    assert post_status(client, status_form("failed", ErrorCode="21610"), headers=retry) == 204
    delivery = state_of(engine, deliveries[Channel.SMS])
    assert (delivery.state, delivery.error_code) == (DeliveryState.FAILED, "21610")
    with Session(engine) as session:
        assert consent.has_withdrawn(
            session=session, recipient_id=delivery.recipient_id or 0, channel=Channel.SMS
        )
    assert audit_actions(engine) == [("twilio", "consent.withdrawn")]


@pytest.mark.parametrize("tamper", ["param", "extra-param", "token", "url", "missing"])
def test_a_bad_twilio_signature_is_403_and_changes_nothing(
    client: TestClient, engine: sa.Engine, deliveries: dict[Channel, int], tamper: str
) -> None:
    form = status_form("delivered")
    signed_form = dict(form)  # what the signature covers
    token, query, headers = TWILIO_TOKEN, "", {}
    if tamper == "param":
        form["MessageStatus"] = "failed"
    elif tamper == "extra-param":
        form["ErrorCode"] = "21610"
    elif tamper == "token":
        token = "another-token"
    elif tamper == "url":  # signed for the bare path, posted with a query
        query = "x=1"
        headers = {"X-Twilio-Signature": twilio_signature(token, PUBLIC + STATUS_PATH, form)}
    else:
        headers = {"X-Twilio-Signature": ""}
    assert (
        post_status(client, form, token=token, query=query, headers=headers, signed_form=signed_form) == 403
    )
    assert state_of(engine, deliveries[Channel.SMS]).state is DeliveryState.ACCEPTED


def test_twilio_sandbox_token_without_credentials(
    tmp_path: Path, engine: sa.Engine, deliveries: dict[Channel, int]
) -> None:
    from channels.sms import SANDBOX_AUTH_TOKEN

    with make_client(tmp_path, engine) as client:
        assert post_status(client, status_form("delivered"), token=SANDBOX_AUTH_TOKEN) == 204
        assert post_status(client, status_form("failed"), token=TWILIO_TOKEN) == 403
    assert state_of(engine, deliveries[Channel.SMS]).state is DeliveryState.DELIVERED


def test_twilio_account_without_token_is_503(tmp_path: Path, engine: sa.Engine) -> None:
    with make_client(tmp_path, engine, twilio_account_sid="AC" + "1" * 32) as client:
        response = client.post(STATUS_PATH, content=urlencode(status_form("sent")))
    assert response.status_code == 503
    assert "CLARION_TWILIO_AUTH_TOKEN" in response.text


def test_twilio_json_is_not_a_status_callback(client: TestClient) -> None:
    response = client.post(STATUS_PATH, json=status_form("sent"))
    assert response.status_code == 415
