"""Every survey notice renders in every language it ships in, within its channel's limits, and the link
it carries is the invitation's own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from clarion.audiences.signing import secret_key
from clarion.kinds import Channel
from clarion.outbox.notices import NoticeData
from clarion.settings import Settings
from clarion.surveys import notices
from clarion.surveys.links import make_token
from clarion.updates.limits import sms_count

EXPIRES = datetime(2026, 12, 20, 12, tzinfo=UTC)
LONG_TITLE = "Customer contact details exposed through a misconfigured export of the CRM (" + "x" * 100 + ")"


def _notice(kind: str, channel: Channel, locale: str) -> NoticeData:
    params = {
        "invite": 12345,
        "expires": int(EXPIRES.timestamp()),
        "reference": "INC-0042",
        "title": LONG_TITLE,
    }
    if kind == notices.FOLLOWUP:
        params = {"followup": 7, "reference": "INC-0042", "channel": "phone"}
    return NoticeData(
        id=1, kind=kind, channel=channel, locale=locale, address="a@acme.example", about="x", params=params
    )


@pytest.mark.parametrize("kind", [notices.INVITE, notices.REMINDER])
@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.SMS])
@pytest.mark.parametrize("locale", ["en", "de"])
def test_invitations_render_with_the_invitations_own_link(
    settings: Settings, kind: str, channel: Channel, locale: str
) -> None:
    key = secret_key(settings)
    content = notices.renderer(settings, key)(_notice(kind, channel, locale))
    token = make_token(key, 12345, expires_at=EXPIRES)
    assert f"/survey/{token}" in content.text and "2026-12-20" in content.text
    assert "INC-0042" in content.text
    if channel is Channel.SMS:
        assert sms_count(content.text).segments <= 2  # a link, a reference, one sentence
        assert LONG_TITLE not in content.text
    else:
        assert content.subject is not None and "\n" not in content.subject
        assert content.html is not None and f"/survey/{token}" in content.html


@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.SMS])
def test_the_followup_notice_names_the_incident_not_the_person(settings: Settings, channel: Channel) -> None:
    content = notices.renderer(settings, secret_key(settings))(_notice(notices.FOLLOWUP, channel, "en"))
    assert "INC-0042" in content.text and "7" in content.text and "a@acme.example" not in content.text
