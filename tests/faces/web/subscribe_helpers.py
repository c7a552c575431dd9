"""What the subscription web tests share: an app on a store of its own, a browser-like client that
keeps the form cookie, and ways to read what the outbox would send."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import Session, select

from clarion.models import Notice
from clarion.outbox.notices import data_of
from clarion.settings import Settings
from clarion.subscriptions.notices import renderer
from clarion.subscriptions.secrets import sms_code
from faces.web.app import create_app
from tests.clarion.subscriptions.conftest import counts
from tests.helpers import PLAYBOOKS, TEMPLATES

with warnings.catch_warnings():  # Starlette 1.x asks for "httpx2"; the httpx we have works the same
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", UserWarning)
    from fastapi.testclient import TestClient

__all__ = [
    "PUBLIC",
    "TestClient",
    "client_for",
    "counts",
    "form_token",
    "last_notice",
    "link_in",
    "make_settings",
]

PUBLIC = "https://status.example.com"
KEY = "Zq3-vF8_kP2wLx9RtB7nYc4HmJ6sDa1E"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def make_settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        public_url=PUBLIC,
        secret_key=SecretStr(KEY),
        templates_dir=TEMPLATES,
        playbooks_dir=PLAYBOOKS,
        email_from="incidents@acme.example",
    )


def client_for(settings: Settings, engine: sa.Engine, *, host: str = "203.0.113.7") -> TestClient:
    return TestClient(
        create_app(settings, engine=engine), base_url=PUBLIC, client=(host, 50000), follow_redirects=False
    )


def form_token(client: TestClient, path: str = "/subscribe") -> str:
    """Open a page with a form (the client keeps its cookie) and read the form's token."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = _CSRF.search(page.text)
    assert found is not None, f"no form on {path}"
    return found.group(1)


def last_notice(engine: sa.Engine, settings: Settings) -> tuple[Notice, str]:
    """The newest notice and its text as the worker would render it."""
    with Session(engine) as session:
        notice = session.exec(select(Notice).order_by(Notice.id.desc())).first()  # type: ignore[union-attr]
        assert notice is not None
    return notice, renderer(settings, KEY.encode())(data_of(notice)).text


def link_in(text: str, kind: str, *, base: str = PUBLIC) -> str:
    """The path of the first link to ``base/<kind>/…`` in a message."""
    found = re.search(rf"{re.escape(base)}(/{kind}/\S+)", text)
    assert found is not None, text
    return urlsplit(found.group(1)).path


def code_of(notice: Notice) -> str:
    return sms_code(KEY.encode(), int(notice.params["confirmation"]))
