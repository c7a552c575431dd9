"""One message for any channel, as the delivery engine would hand it to the channel's adapter."""

from __future__ import annotations

from datetime import UTC, datetime

from clarion.channel_table import spec_of
from clarion.kinds import Channel
from clarion.outbox.port import Content, OutboundMessage

ADDRESS = {"email": "reader{n}@example.com", "phone": "+1415555{n:04d}"}


def message(channel: Channel, n: int = 1) -> OutboundMessage:
    """Message ``n`` of update 1 (delivery id ``n``); a personal channel's goes to reader ``n``."""
    text = f"INC-0042 update {n}: payments are degraded. Next update by 10:30 UTC. https://status.example.com/i/42"
    spec = spec_of(channel)
    address = spec.address
    inside = f"responder-{n}" if spec.check_address is not None and address is None else None
    return OutboundMessage(
        delivery_id=n,
        idempotency_key=f"u1.{channel.value}.r{n}",
        channel=channel,
        content=Content(
            rendition_id=1,
            locale="en",
            text=text,
            subject="[INC-0042] Payments degraded",
            html=f"<p>{text}</p>",
            link="https://status.example.com/i/42",
        ),
        incident_reference="INC-0042",
        severity="sev2",
        status="identified",
        created_at=datetime.now(UTC),
        address=ADDRESS[address].format(n=2671 + n) if address else inside,
        recipient_id=n if address else None,
    )
