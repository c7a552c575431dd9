"""What the survey web tests share: a resolved incident with a survey and signed invitations in a
migrated store, a tagger that says what it is told, the app with them, and the rows to count."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import Session

from clarion.kinds import Channel
from clarion.models import (
    AuditEvent,
    Delivery,
    Incident,
    Notice,
    Recipient,
    Survey,
    SurveyFollowup,
    SurveyInvite,
    SurveyResponse,
    utcnow,
)
from clarion.settings import Settings
from clarion.surveys.links import make_token, token_hash
from faces.web.app import create_app
from tests.faces.web.subscribe_helpers import KEY, PUBLIC, TestClient
from tests.helpers import PLAYBOOKS, TEMPLATES, load_raw, write_yaml
from tests.statuspage_world import T0, World

STAFF_TOKEN = "staff-Kx7-Rq2_Mv9pLw4TzB8nYd3HcJ5sFa6G"
SUPPORT = "support@acme.example"
"""The incident's contact email (``tests.statuspage_world.CONTACT``): told of follow-ups by default."""
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TABLES: dict[str, Any] = {
    "responses": SurveyResponse,
    "followups": SurveyFollowup,
    "notices": Notice,
    "deliveries": Delivery,
    "audit": AuditEvent,
}


class Word(StrEnum):
    RELIEF = "relief"
    DOUBT = "doubt"
    POSITIVE = "positive"
    NEUTRAL = "neutral"


@dataclass(frozen=True)
class Tagged:
    signals: tuple[Word, ...]
    polarity: Word
    contact: bool
    cues: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"cues": list(self.cues)}


class FakeTagger:
    """Relief in any text; a request for a person when the text says "call me"; what it saw, kept."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def tag(self, text: str, locale: str) -> Tagged:
        self.seen.append((text, locale))
        if "call me" in text:
            return Tagged((Word.DOUBT,), Word.NEUTRAL, True, ({"tag": "contact", "cue": "call me"},))
        return Tagged((Word.RELIEF,), Word.POSITIVE, False, ({"tag": "relief", "cue": text[:10]},))


def survey_settings(
    tmp_path: Path, *, nps: bool = False, staff: bool = False, public_url: str = PUBLIC
) -> Settings:
    """The web tests' settings, with the outage playbook (free text, and NPS when ``nps``)."""
    playbook = load_raw(PLAYBOOKS / "outage.yaml")
    playbook["survey"]["nps"] = nps
    write_yaml(tmp_path / "playbooks" / "outage.yaml", playbook)
    return Settings(
        home=tmp_path / "home",
        public_url=public_url,
        secret_key=SecretStr(KEY),
        templates_dir=TEMPLATES,
        playbooks_dir=tmp_path / "playbooks",
        email_from="incidents@acme.example",
        staff_token=SecretStr(STAFF_TOKEN) if staff else None,
    )


@dataclass
class SurveyWorld:
    """A resolved outage with its survey; :meth:`invite` signs a link for one more recipient."""

    engine: sa.Engine
    incident: Incident
    survey_id: int

    def invite(
        self,
        name: str = "ada",
        *,
        locale: str = "en",
        channel: Channel = Channel.EMAIL,
        expires_at: datetime | None = None,
    ) -> str:
        """A recipient's invitation; its link's token."""
        expires = expires_at or utcnow() + timedelta(days=14)
        with Session(self.engine) as session:
            recipient = Recipient(
                external_id=name, email=f"{name}@example.com", phone_e164="+4915112345678", locale=locale
            )
            session.add(recipient)
            session.flush()
            assert recipient.id is not None and self.incident.id is not None
            invite = SurveyInvite(
                incident_id=self.incident.id,
                recipient_id=recipient.id,
                channel=channel,
                locale=locale,
                token_hash=f"pending-{name}",
                sent_at=T0,
                expires_at=expires,
            )
            session.add(invite)
            session.flush()
            assert invite.id is not None
            token = make_token(KEY.encode(), invite.id, expires_at=expires)
            invite.token_hash = token_hash(token)
            survey = session.get(Survey, self.survey_id)
            assert survey is not None
            survey.invited += 1
            session.add_all([invite, survey])
            session.commit()
            return token


def survey_world(engine: sa.Engine, *, title: str = "API errors") -> SurveyWorld:
    """An outage published on the status page and resolved, and its survey opened."""
    world = World(engine, page_url=PUBLIC)
    incident = world.incident(title, components={"api": "partial_outage"}, at=T0)
    world.resolve(incident, at=T0 + timedelta(hours=1))
    with Session(engine) as session:
        assert incident.id is not None
        survey = Survey(incident_id=incident.id, resolution=2, closes_at=utcnow() + timedelta(days=14))
        session.add(survey)
        session.commit()
        assert survey.id is not None
        return SurveyWorld(engine, incident, survey.id)


def survey_client(settings: Settings, engine: sa.Engine, tagger: Any | None = None) -> TestClient:
    """A browser-like client of the app (it keeps the form cookie), with ``tagger`` tagging answers."""
    app = create_app(settings, engine=engine)
    app.state.survey_tagger = tagger if tagger is not None else FakeTagger()
    return TestClient(app, base_url=PUBLIC, client=("203.0.113.7", 50000), follow_redirects=False)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no form on the page"
    return found.group(1)


def counts(engine: sa.Engine) -> dict[str, int]:
    """Rows per table an answer writes, and the invitations marked answered."""
    with engine.connect() as connection:
        found = {
            name: connection.execute(sa.select(sa.func.count()).select_from(model.__table__)).scalar_one()
            for name, model in TABLES.items()
        }
        found["answered"] = connection.execute(
            sa.text("SELECT count(*) FROM survey_invite WHERE responded_at IS NOT NULL")
        ).scalar_one()
    return found
