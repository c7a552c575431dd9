"""Provider webhook signatures: SendGrid's signed Event Webhook and Twilio's ``X-Twilio-Signature``.

Setup notes:

* **SendGrid** (Settings → Mail Settings → Event Webhook → "Signed Event Webhook Requests"): copy the
  verification key (base64 DER SubjectPublicKeyInfo, no PEM armour) into
  ``CLARION_SENDGRID_EVENT_PUBLIC_KEY``. Each POST carries ``X-Twilio-Email-Event-Webhook-Signature``
  (base64 DER ECDSA) and ``X-Twilio-Email-Event-Webhook-Timestamp``; the signature is ECDSA P-256 /
  SHA-256 over ``timestamp + raw body``. Verify the **raw bytes** as received: re-serialised JSON (or a
  body without its trailing CRLF) does not verify. SendGrid documents no timestamp tolerance and
  retries for 24 hours, so none is enforced here; deduplication is the replay defence.
* **Twilio** status callbacks: ``X-Twilio-Signature`` is ``base64(HMAC-SHA1(auth token, url + params))``
  where ``url`` is the exact public URL Twilio called (scheme, host, path, query) and the form
  parameters are appended sorted by name as ``name + value`` (a repeated name's values sorted). Like
  the official SDK, both the URL with and without the default port (``:443``/``:80``) are accepted.
  JSON-bodied webhooks sign the URL only and carry ``bodySHA256`` in its query.

Every comparison is constant-time. A signature that does not verify is ``False``; a verification key
that cannot be a P-256 public key is a :class:`~clarion.errors.ConfigError` (a setup problem, not a
forged request).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from clarion.errors import ConfigError

SENDGRID_SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"

_DEFAULT_PORTS = {"https": 443, "http": 80}

# ── SendGrid: ECDSA P-256 / SHA-256 ───────────────────────────────────────────────────────────────


def sendgrid_public_key(public_key_b64: str) -> ec.EllipticCurvePublicKey:
    """The verification key from SendGrid's dashboard (base64 DER); :class:`ConfigError` if unusable."""
    try:
        key = load_der_public_key(base64.b64decode(public_key_b64.strip(), validate=True))
    except (ValueError, binascii.Error, TypeError) as exc:
        raise ConfigError(f"the SendGrid event webhook key is not a base64 DER public key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigError("the SendGrid event webhook key is not a P-256 (secp256r1) EC public key")
    return key


def verify_sendgrid(public_key_b64: str, signature_b64: str, timestamp: str, raw_body: bytes) -> bool:
    """Whether ``signature_b64`` signs ``timestamp + raw_body`` under SendGrid's verification key."""
    key = sendgrid_public_key(public_key_b64)
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (ValueError, binascii.Error):
        return False
    try:
        key.verify(signature, timestamp.encode("utf-8") + raw_body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


# ── Twilio: HMAC-SHA1 over URL + sorted params ────────────────────────────────────────────────────


def _values(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str | list[str]] | None = None) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for a request to ``url`` with form ``params``.

    Names are sorted; a repeated name contributes its distinct values, sorted (as the SDK does).
    """
    message = url
    for name in sorted(params or {}):
        for value in sorted(set(_values((params or {})[name]))):
            message += name + value
    digest = hmac.new(auth_token.encode("utf-8"), message.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _port_variants(url: str) -> tuple[str, str]:
    """``url`` without and with its scheme's default port (unchanged when it names another port)."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return url, url
    if default is None or (port is not None and port != default):
        return url, url
    host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    without = urlunsplit(parts._replace(netloc=host))
    with_port = urlunsplit(parts._replace(netloc=f"{host}:{default}"))
    return without, with_port


def verify_twilio(auth_token: str, url: str, params: Mapping[str, str | list[str]], signature: str) -> bool:
    """Whether ``signature`` is Twilio's signature of a form POST of ``params`` to ``url``.

    ``url`` must be the public URL Twilio called, query included; it is tried with and without the
    default port.
    """
    if not signature:
        return False
    expected = signature.encode("utf-8")
    matches = [
        hmac.compare_digest(twilio_signature(auth_token, variant, params).encode("ascii"), expected)
        for variant in _port_variants(url)
    ]
    return any(matches)


def verify_twilio_json(auth_token: str, url: str, raw_body: bytes, signature: str) -> bool:
    """Whether a JSON-bodied Twilio webhook is genuine: the URL's signature and its ``bodySHA256``."""
    claimed = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True)).get("bodySHA256", "")
    actual = hashlib.sha256(raw_body).hexdigest()
    body_ok = hmac.compare_digest(claimed.lower().encode("ascii", "replace"), actual.encode("ascii"))
    return verify_twilio(auth_token, url, {}, signature) and body_ok
