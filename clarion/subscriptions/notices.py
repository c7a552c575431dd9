"""What subscriptions send through the outbox: the kinds of notice, and the values their templates get.

* ``subscription-confirm`` (email): the confirmation link, which opens a page with a button;
* ``subscription-code`` (SMS): the code to type on the page;
* ``subscription-welcome`` (email or SMS): sent once a subscription is confirmed, with its manage link
  (and, by SMS, how to stop and get help, as carriers require of a recurring programme).

Each context builds its links and codes from the notice's ``params`` and the signing key when the
worker claims the notice (see :mod:`clarion.outbox.notices`): ``confirmation`` and ``expires`` (epoch
seconds) for the first two, ``subscriber``, ``generation`` and ``expires`` for the welcome. The
templates are ``templates/notice/<kind>/<channel>/<locale>/``. :func:`help_reply` renders the answer
to an SMS ``HELP`` (``templates/notice/subscription-help``), which Twilio sends as the webhook's reply.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from clarion.errors import TemplateError
from clarion.kinds import Channel
from clarion.outbox.notices import NoticeContext, NoticeData, NoticeRenderer
from clarion.settings import Settings
from clarion.statuspage.components import catalogue_at
from clarion.statuspage.snapshot import PageInfo
from clarion.subscriptions.secrets import CODE_TTL, CONFIRM_TTL, confirm_token, manage_token, sms_code

CONFIRM = "subscription-confirm"
CODE = "subscription-code"
WELCOME = "subscription-welcome"
HELP = "subscription-help"


def _int(notice: NoticeData, name: str) -> int:
    value = notice.params.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TemplateError.at(f"templates/notice/{notice.kind}", None, f"the notice has no {name!r}")
    return value


def _moment(notice: NoticeData) -> datetime:
    return datetime.fromtimestamp(_int(notice, "expires"), UTC)


def manage_url(
    settings: Settings, key: bytes, subscriber_id: int, generation: int, expires_at: datetime
) -> str:
    token = manage_token(key, subscriber_id, generation, expires_at=expires_at)
    return f"{settings.public_url.rstrip('/')}/subscriptions/{token}"


def notice_contexts(settings: Settings, key: bytes) -> dict[str, NoticeContext]:
    """The context of every kind of subscription notice, signing with ``key``."""
    base = settings.public_url.rstrip("/")
    page = PageInfo.of(settings.public_url, settings.public_time_zone)

    def common(notice: NoticeData) -> dict[str, Any]:
        return {"page": page.name, "page_url": base, "contact": settings.email_from}

    def components(notice: NoticeData) -> list[str]:
        names = catalogue_at(settings.components_path).by_id()
        return [names[c].name if c in names else c for c in notice.params.get("components", [])]

    def confirm(notice: NoticeData) -> Mapping[str, Any]:
        token = confirm_token(key, _int(notice, "confirmation"), expires_at=_moment(notice))
        return common(notice) | {
            "link": f"{base}/subscribe/confirm/{token}",
            "hours": int(CONFIRM_TTL.total_seconds() // 3600),
            "components": components(notice),
        }

    def code(notice: NoticeData) -> Mapping[str, Any]:
        return common(notice) | {
            "code": sms_code(key, _int(notice, "confirmation")),
            "minutes": int(CODE_TTL.total_seconds() // 60),
        }

    def welcome(notice: NoticeData) -> Mapping[str, Any]:
        link = manage_url(
            settings, key, _int(notice, "subscriber"), _int(notice, "generation"), _moment(notice)
        )
        return common(notice) | {"manage": link, "components": components(notice)}

    return {CONFIRM: confirm, CODE: code, WELCOME: welcome, HELP: common}


def renderer(settings: Settings, key: bytes) -> NoticeRenderer:
    """The renderer of subscription notices (the worker's, and the web app's check before staging)."""
    return NoticeRenderer(
        settings.templates_dir, notice_contexts(settings, key), sms_max_segments=settings.sms_max_segments
    )


def help_reply(render: NoticeRenderer, locale: str) -> str:
    """The answer to an SMS ``HELP``: who sends these messages, how to stop them, whom to ask."""
    data = NoticeData(id=0, kind=HELP, channel=Channel.SMS, locale=locale, address="", about="")
    return render(data).text
