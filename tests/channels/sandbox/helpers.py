"""Request builders shared by the sandbox tests."""

from __future__ import annotations

import httpx

from channels.sandbox import (
    BLUESKY_SANDBOX_HANDLE,
    BLUESKY_SANDBOX_PASSWORD,
    TWILIO_SANDBOX_SID,
    TWILIO_SANDBOX_TOKEN,
)

MESSAGES = f"/2010-04-01/Accounts/{TWILIO_SANDBOX_SID}/Messages.json"
TWILIO_AUTH = (TWILIO_SANDBOX_SID, TWILIO_SANDBOX_TOKEN)
SENDGRID_AUTH = {"Authorization": "Bearer SG.test-key"}


def mail(*recipients: str, **extra: object) -> dict[str, object]:
    """A valid mail/send body: one personalization per recipient, delivery ids d-0, d-1, ..."""
    return {
        "from": {"email": "incidents@example.com", "name": "Incidents"},
        "subject": "Payments outage",
        "content": [{"type": "text/plain", "value": "We are investigating."}],
        "personalizations": [
            {"to": [{"email": r}], "custom_args": {"delivery_id": f"d-{i}", "idempotency_key": f"k-{i}"}}
            for i, r in enumerate(recipients)
        ],
        **extra,
    }


def sms(to: str = "+4915112345678", body: str = "Payments are down.", **extra: str) -> dict[str, str]:
    return {"To": to, "From": "+15005550006", "Body": body, **extra}


def bluesky_session(client: httpx.Client) -> dict[str, str]:
    response = client.post(
        "/xrpc/com.atproto.server.createSession",
        json={"identifier": BLUESKY_SANDBOX_HANDLE, "password": BLUESKY_SANDBOX_PASSWORD},
    )
    assert response.status_code == 200, response.text
    data: dict[str, str] = response.json()
    return data


def post_record(text: str = "Payments are down.", **extra: object) -> dict[str, object]:
    return {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-11-23T10:00:00.000Z", **extra}
