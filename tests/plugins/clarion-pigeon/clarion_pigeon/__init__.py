"""Pigeon post: a public feed that takes one "coo" per message, deduplicated by an idempotency key.

The whole channel is this module, its templates and its sandbox double (:mod:`clarion_pigeon.double`):
a spec, an adapter built on clarion's base contract, and nothing else. ``PIGEON_URL`` names a real
loft; without it the coos go to clarion's provider sandbox.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import httpx

from channels.base import ChannelAdapter, http_error, transport_error
from clarion.channel_table import ChannelSpec, Form, Reach
from clarion.outbox.port import OutboundMessage, Presence, Reconciled, SendResult
from clarion.settings import Settings
from clarion.updates.limits import GRAPHEMES, Limit

COOS = "/pigeon/v1/coos"
MAX_GRAPHEMES: Final = 600


def _loft(settings: Settings) -> str:
    return (os.environ.get("PIGEON_URL") or settings.sandbox_url).rstrip("/")


def _adapter(settings: Settings, *, client: httpx.Client, engine: object) -> PigeonAdapter:
    return PigeonAdapter(client=client, base_url=_loft(settings))


SPEC: Final = ChannelSpec(
    name="pigeon",
    reach=Reach.BROADCAST,
    form=Form.SHORT,
    fields={"body": "body.txt.j2"},
    limits=(Limit("body", GRAPHEMES, MAX_GRAPHEMES),),
    adapter=_adapter,
    max_batch=5,
    no_duplicates=True,
    reconcile="looks the idempotency key up: GET /pigeon/v1/coos/{key}",
    settings=("PIGEON_URL",),
    sandboxed=lambda settings: not os.environ.get("PIGEON_URL"),
    provider="pigeon",
    sandbox="clarion_pigeon.double:router",
    templates=Path(__file__).parent / "templates",
)


class PigeonAdapter(ChannelAdapter):
    spec = SPEC

    def __init__(self, *, client: httpx.Client, base_url: str) -> None:
        super().__init__()
        self._client, self.base_url = client, base_url

    def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        return self._send_each(messages, self._coo)

    def reconcile(self, messages: Sequence[OutboundMessage]) -> list[Reconciled]:
        return self._reconcile_each(messages, self._find)

    def _coo(self, message: OutboundMessage) -> SendResult:
        try:
            response = self._client.post(
                self.base_url + COOS,
                json={"text": message.content.text},
                headers={"Idempotency-Key": message.idempotency_key},
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, channel=self.channel) from exc
        if response.status_code != 201:
            raise http_error(response, channel=self.channel, message=response.text[:200])
        return SendResult(message.delivery_id, provider_id=str(response.json()["id"]))

    def _find(self, message: OutboundMessage) -> Reconciled:
        try:
            response = self._client.get(f"{self.base_url}{COOS}/{message.idempotency_key}")
        except httpx.TransportError as exc:
            raise transport_error(exc, channel=self.channel) from exc
        if response.status_code == 404:
            return Reconciled(message.delivery_id, Presence.ABSENT)
        if response.status_code != 200:
            raise http_error(response, channel=self.channel, message=response.text[:200])
        return Reconciled(message.delivery_id, Presence.PRESENT, provider_id=str(response.json()["id"]))

    def _describe(self) -> str:
        return self.base_url
