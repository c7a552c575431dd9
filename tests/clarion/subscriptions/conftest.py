"""What the subscription domain's tests share: a signing key, settings with the shipped components
file and templates, the notice renderer, and helpers to count what the store holds."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from clarion.models import AuditEvent, Delivery, Notice, RateHit, Subscriber, SubscriptionConfirmation
from clarion.outbox.notices import NoticeRenderer
from clarion.settings import Settings
from clarion.statuspage.components import Catalogue, catalogue_at
from clarion.subscriptions.notices import renderer
from tests.helpers import PLAYBOOKS, TEMPLATES

KEY = "Zq3-vF8_kP2wLx9RtB7nYc4HmJ6sDa1E"
CLIENT = "client-digest"

TABLES = {
    "subscriber": Subscriber,
    "confirmation": SubscriptionConfirmation,
    "notice": Notice,
    "delivery": Delivery,
    "rate_hit": RateHit,
    "audit": AuditEvent,
}


@pytest.fixture
def key() -> bytes:
    return KEY.encode()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        public_url="https://status.example.com",
        secret_key=SecretStr(KEY),
        templates_dir=TEMPLATES,
        playbooks_dir=PLAYBOOKS,
        email_from="incidents@acme.example",
    )


@pytest.fixture
def catalogue(settings: Settings) -> Catalogue:
    found = catalogue_at(settings.components_path)
    assert found.components, "the shipped components file lists components"
    return found


@pytest.fixture
def render(settings: Settings, key: bytes) -> NoticeRenderer:
    return renderer(settings, key)


def counts(engine: sa.Engine) -> dict[str, int]:
    """Rows per table the subscription steps write."""
    with engine.connect() as connection:
        return {
            name: connection.execute(sa.select(sa.func.count()).select_from(model.__table__)).scalar_one()  # type: ignore[attr-defined]
            for name, model in TABLES.items()
        }
