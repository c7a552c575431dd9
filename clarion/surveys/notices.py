"""What surveys send through the outbox: the kinds of notice, and the values their templates get.

* ``survey-invite`` (email or SMS): the survey's link, signed for the invitation, and how long it works;
* ``survey-reminder``: the same link once more, to those who have not answered;
* ``survey-followup`` (email or SMS, to the playbook's support contact): someone asked for a person.
  It names the incident and the follow-up's number, never the person: the address and what they
  wrote are read where they are kept (``clarion followups``, the staff page), not copied into mail.

Each context builds its link from the notice's ``params`` (``invite``, ``expires`` in epoch seconds,
``reference``, ``title``) and the signing key when a worker claims the notice
(:mod:`clarion.outbox.notices`); the templates are ``templates/notice/<kind>/<channel>/<locale>/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from clarion.errors import TemplateError
from clarion.outbox.notices import NoticeContext, NoticeData, NoticeRenderer
from clarion.settings import Settings
from clarion.surveys.links import link, make_token

INVITE = "survey-invite"
REMINDER = "survey-reminder"
FOLLOWUP = "survey-followup"


def _param(notice: NoticeData, name: str, kind: type) -> Any:
    value = notice.params.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TemplateError.at(f"templates/notice/{notice.kind}", None, f"the notice has no {name!r}")
    return value


def notice_contexts(settings: Settings, key: bytes) -> dict[str, NoticeContext]:
    """The context of every kind of survey notice, signing with ``key``."""
    base = settings.public_url.rstrip("/")

    def invite(notice: NoticeData) -> Mapping[str, Any]:
        expires = datetime.fromtimestamp(_param(notice, "expires", int), UTC)
        token = make_token(key, _param(notice, "invite", int), expires_at=expires)
        return {
            "link": link(base, token),
            "reference": _param(notice, "reference", str),
            "title": _param(notice, "title", str),
            "expires_on": expires.strftime("%Y-%m-%d"),  # never "in 3 days": a resend says the same
            "contact": settings.email_from,
        }

    def followup(notice: NoticeData) -> Mapping[str, Any]:
        return {
            "followup": _param(notice, "followup", int),
            "reference": _param(notice, "reference", str),
            "channel": notice.params.get("channel") or "",
            "staff_url": f"{base}/staff/followups",
        }

    return {INVITE: invite, REMINDER: invite, FOLLOWUP: followup}


def renderer(settings: Settings, key: bytes) -> NoticeRenderer:
    """The renderer of survey notices (the check before staging; the worker merges every kind)."""
    return NoticeRenderer(
        settings.templates_dir, notice_contexts(settings, key), sms_max_segments=settings.sms_max_segments
    )
