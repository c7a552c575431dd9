"""Webhook signatures against the providers' official test vectors, and every way to break them."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from channels.signatures import (
    sendgrid_public_key,
    twilio_signature,
    verify_sendgrid,
    verify_twilio,
    verify_twilio_json,
)
from clarion.errors import ConfigError
from tests.helpers import ROOT

VECTORS: dict[str, Any] = json.loads((ROOT / "tests" / "fixtures" / "provider_test_vectors.json").read_text())
SG = VECTORS["sendgrid_signed_event_webhook"]
SG_KEY: str = SG["public_key"]
SG_SIGNATURE: str = SG["header_X-Twilio-Email-Event-Webhook-Signature"]
SG_TIMESTAMP: str = SG["header_X-Twilio-Email-Event-Webhook-Timestamp"]
SG_BODY: bytes = SG["raw_body"].encode("utf-8")
TW = VECTORS["twilio_x_twilio_signature"]


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# ── SendGrid ──────────────────────────────────────────────────────────────────────────────────────


def test_sendgrid_official_vector_verifies() -> None:
    assert verify_sendgrid(SG_KEY, SG_SIGNATURE, SG_TIMESTAMP, SG_BODY)


@pytest.mark.parametrize("index", [0, 1, len(SG_BODY) // 2, len(SG_BODY) - 1])
def test_sendgrid_any_changed_body_byte_fails(index: int) -> None:
    assert not verify_sendgrid(SG_KEY, SG_SIGNATURE, SG_TIMESTAMP, flip(SG_BODY, index))


def test_sendgrid_body_must_be_the_raw_bytes() -> None:
    assert not verify_sendgrid(SG_KEY, SG_SIGNATURE, SG_TIMESTAMP, SG_BODY.rstrip(b"\r\n"))
    reserialised = json.dumps(json.loads(SG_BODY)).encode()
    assert not verify_sendgrid(SG_KEY, SG_SIGNATURE, SG_TIMESTAMP, reserialised)


def test_sendgrid_changed_timestamp_fails() -> None:
    assert not verify_sendgrid(SG_KEY, SG_SIGNATURE, str(int(SG_TIMESTAMP) + 1), SG_BODY)


def test_sendgrid_changed_signature_fails() -> None:
    raw = base64.b64decode(SG_SIGNATURE)
    for index in (0, 10, len(raw) - 1):
        forged = base64.b64encode(flip(raw, index)).decode()
        assert not verify_sendgrid(SG_KEY, forged, SG_TIMESTAMP, SG_BODY)


@pytest.mark.parametrize("signature", ["", "not base64!", "AAAA"])
def test_sendgrid_garbled_signature_is_false_not_an_error(signature: str) -> None:
    assert not verify_sendgrid(SG_KEY, signature, SG_TIMESTAMP, SG_BODY)


def test_sendgrid_another_key_fails() -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = other.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert not verify_sendgrid(base64.b64encode(der).decode(), SG_SIGNATURE, SG_TIMESTAMP, SG_BODY)


def test_sendgrid_fresh_signature_round_trips() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    body = b'[{"event":"delivered"}]'
    signature = base64.b64encode(private.sign(b"1700000000" + body, ec.ECDSA(hashes.SHA256()))).decode()
    key = base64.b64encode(der).decode()
    assert verify_sendgrid(key, signature, "1700000000", body)
    assert not verify_sendgrid(key, signature, "1700000000", body + b" ")


@pytest.mark.parametrize("key", ["", "not base64!", base64.b64encode(b"garbage").decode()])
def test_sendgrid_unusable_key_is_a_config_error(key: str) -> None:
    with pytest.raises(ConfigError, match="SendGrid event webhook key"):
        verify_sendgrid(key, SG_SIGNATURE, SG_TIMESTAMP, SG_BODY)


def test_sendgrid_key_on_another_curve_is_a_config_error() -> None:
    der = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ConfigError, match="P-256"):
        sendgrid_public_key(base64.b64encode(der).decode())


# ── Twilio ────────────────────────────────────────────────────────────────────────────────────────


def test_twilio_official_vector_verifies() -> None:
    assert twilio_signature(TW["auth_token"], TW["url"], TW["params"]) == TW["expected"]
    assert verify_twilio(TW["auth_token"], TW["url"], TW["params"], TW["expected"])


def test_twilio_repeated_params_vector_verifies() -> None:
    params: dict[str, list[str]] = {}
    for name, value in TW["duplicate_params_case"]["params_multi"]:
        params.setdefault(name, []).append(value)
    assert verify_twilio(TW["auth_token"], TW["url"], params, TW["duplicate_params_case"]["expected"])


def test_twilio_url_with_and_without_default_port() -> None:
    with_port = TW["url"].replace("mycompany.com/", "mycompany.com:443/")
    assert twilio_signature(TW["auth_token"], with_port, TW["params"]) == "kvajT1Ptam85bY51eRf/AJRuM3w="
    # Either form of the URL accepts either signature, as the SDK does.
    for url in (TW["url"], with_port):
        assert verify_twilio(TW["auth_token"], url, TW["params"], TW["expected"])
        assert verify_twilio(TW["auth_token"], url, TW["params"], "kvajT1Ptam85bY51eRf/AJRuM3w=")


def test_twilio_other_port_is_not_dropped() -> None:
    url = "https://mycompany.com:8443/myapp.php?foo=1&bar=2"
    signature = twilio_signature(TW["auth_token"], url, TW["params"])
    assert verify_twilio(TW["auth_token"], url, TW["params"], signature)
    assert not verify_twilio(TW["auth_token"], TW["url"], TW["params"], signature)


@pytest.mark.parametrize(
    "change",
    [
        {"url": "https://mycompany.com/myapp.php?foo=1&bar=3"},
        {"url": "http://mycompany.com/myapp.php?foo=1&bar=2"},
        {"token": "12346"},
        {"param": ("Digits", "1235")},
        {"param": ("Extra", "")},
        {"drop": "To"},
        {"signature": "RSOYDt4T1cUTdK1PDd93/VVr8B9="},
        {"signature": ""},
    ],
)
def test_twilio_any_change_fails(change: dict[str, Any]) -> None:
    params: dict[str, str | list[str]] = dict(TW["params"])
    if "param" in change:
        name, value = change["param"]
        params[name] = value
    if "drop" in change:
        del params[change["drop"]]
    assert not verify_twilio(
        change.get("token", TW["auth_token"]),
        change.get("url", TW["url"]),
        params,
        change.get("signature", TW["expected"]),
    )


def test_twilio_json_body_vector_verifies() -> None:
    case = TW["json_body_case"]
    assert verify_twilio_json(TW["auth_token"], case["url"], case["body"].encode(), case["expected"])
    assert not verify_twilio_json(
        TW["auth_token"], case["url"], case["body"].encode() + b" ", case["expected"]
    )
