"""The subscribe form, the confirmation link's page and the SMS code page.

``GET /subscribe``, ``POST /subscribe``
    The form: email or mobile number, the components (grouped as the catalogue groups them, every one
    ticked at first), the language of the messages. A valid post records the request and its
    confirmation notice in the outbox (:func:`clarion.subscriptions.requests.request_subscription`)
    and answers the same whether the address was known or not: by email, "check your inbox"
    (``/subscribe/sent``); by SMS, the page to type the code on. Wrong fields are 422 with every
    problem beside its field; a form without its token 403; too many requests 429 with
    ``Retry-After``. Nothing is stored or sent in any of these cases.

``GET /subscribe/confirm/{token}``, ``POST …``
    The email's link opens a page with a button; only the button's post confirms, so a mail scanner
    following links confirms nothing. Then the browser is sent to the manage page.

``GET /subscribe/code/{token}``, ``POST …``
    The code sent by SMS is typed here. A wrong code is 422 with the tries left; after the last, the
    confirmation is spent (410).

A link that is forged or garbled is 400, one naming nothing 404, one expired, used or spent 410
(:mod:`clarion.subscriptions.refusals`). Routes are async and do their store work in the thread pool.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from clarion import store
from clarion.kinds import Channel
from clarion.models import Subscriber, utcnow
from clarion.outbox.notices import RenderNotice
from clarion.statuspage.components import Catalogue
from clarion.subscriptions import choices
from clarion.subscriptions.refusals import Reason, Refused
from clarion.subscriptions.requests import (
    Confirmed,
    Requested,
    check_code,
    confirm,
    pending_confirmation,
    request_subscription,
)
from clarion.subscriptions.secrets import (
    CODE_TTL,
    CONFIRM_TTL,
    code_page_token,
    keyed_digest,
    manage_token,
    read_code_page_token,
    read_confirm_token,
)
from faces.web.subscribe_pages import (
    Form,
    Reader,
    answers_unavailable,
    catalogue_of,
    client_of,
    engine_of,
    first,
    key_of,
    page,
    read_form,
    reader,
    reading,
    refusal,
    renderer_of,
    section_view,
    see_other,
)

router = APIRouter(tags=["subscriptions"])


def form_page(
    request: Request,
    who: Reader,
    values: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    catalogue = catalogue_of(request)
    return page(
        request,
        who,
        "form.html.j2",
        status_code=status_code,
        values=values,
        errors=errors or {},
        sections=section_view(catalogue),
        chosen=set(values["components"]) or {c.id for c in catalogue.components},
    )


def _values(form: Form, who: Reader) -> dict[str, Any]:
    """What the form said, to show again beside its problems (and which channel was meant)."""
    email, phone = first(form, "email").strip(), first(form, "phone").strip()
    channel = first(form, "channel")
    if channel not in ("email", "sms"):  # no choice made: the one field filled in says which
        channel = "email" if email and not phone else "sms" if phone and not email else channel
    return {
        "channel": channel,
        "email": email[:300],
        "phone": phone[:40],
        "components": form.get("components", []),
        "locale": first(form, "locale") or who.locale,
    }


@router.get("/subscribe", response_class=HTMLResponse)
@answers_unavailable
async def subscribe_form(request: Request) -> Response:
    who = reader(request)
    values = {"channel": "email", "email": "", "phone": "", "components": [], "locale": who.locale}
    return form_page(request, who, values)


@router.post("/subscribe")
@answers_unavailable
async def subscribe(request: Request) -> Response:
    who = reader(request)
    form = await read_form(request, who)
    if isinstance(form, Response):
        return form
    values = _values(form, who)
    try:
        asked = choices.check_request(
            channel=values["channel"],
            email=values["email"],
            phone=values["phone"],
            components=values["components"],
            locale=values["locale"],
            catalogue=catalogue_of(request),
        )
    except choices.FormError as exc:
        return form_page(request, who, values, errors=exc.fields(), status_code=422)
    key = key_of(request)
    client = keyed_digest(key, "client", client_of(request))
    render = renderer_of(request, key)
    try:
        requested = await run_in_threadpool(_request, engine_of(request), key, asked, client, render)
    except Refused as refused:
        return refusal(request, who, refused)
    if asked.channel is Channel.EMAIL:
        return see_other(f"/subscribe/sent{who.lang_query}")
    token = code_page_token(key, requested.confirmation_id, expires_at=requested.expires_at)
    return see_other(f"/subscribe/code/{token}{who.lang_query}")


def _request(
    engine: sa.Engine, key: bytes, asked: choices.Request, client: str, render: RenderNotice
) -> Requested:
    with store.session_scope(engine) as session:
        return request_subscription(
            session=session, key=key, request=asked, client=client, now=utcnow(), render=render
        )


@router.get("/subscribe/sent", response_class=HTMLResponse)
@answers_unavailable
async def sent(request: Request) -> Response:
    return page(request, reader(request), "sent.html.j2", hours=int(CONFIRM_TTL.total_seconds() // 3600))


# ── the email's link ──────────────────────────────────────────────────────────────────────────────


def _asked(engine: sa.Engine, confirmation_id: int, catalogue: Catalogue) -> dict[str, Any]:
    """What a pending confirmation asks for, as its page shows it (the address masked)."""
    with reading(engine) as session:
        confirmation = pending_confirmation(session=session, confirmation_id=confirmation_id, now=utcnow())
        subscriber = session.get(Subscriber, confirmation.subscriber_id)
        assert subscriber is not None
        names = catalogue.by_id()
        return {
            "address": choices.mask(subscriber.channel, subscriber.address),
            "channel": subscriber.channel.value,
            "components": [names[c].name if c in names else c for c in confirmation.components],
        }


@router.get("/subscribe/confirm/{token}", response_class=HTMLResponse)
@answers_unavailable
async def confirm_page(token: str, request: Request) -> Response:
    who = reader(request)
    try:
        confirmation_id = read_confirm_token(key_of(request), token, now=utcnow())
        asked = await run_in_threadpool(_asked, engine_of(request), confirmation_id, catalogue_of(request))
    except Refused as refused:
        return refusal(request, who, refused)
    return page(
        request, who, "confirm.html.j2", action=f"/subscribe/confirm/{token}{who.lang_query}", **asked
    )


@router.post("/subscribe/confirm/{token}")
@answers_unavailable
async def confirm_post(token: str, request: Request) -> Response:
    who = reader(request)
    form = await read_form(request, who)
    if isinstance(form, Response):
        return form
    key = key_of(request)
    render = renderer_of(request, key)
    try:
        confirmation_id = read_confirm_token(key, token, now=utcnow())
        confirmed = await run_in_threadpool(_confirm, engine_of(request), key, confirmation_id, render)
    except Refused as refused:
        return refusal(request, who, refused)
    return see_other(manage_path(key, confirmed, who, done="confirmed"))


def _confirm(engine: sa.Engine, key: bytes, confirmation_id: int, render: RenderNotice) -> Confirmed:
    with store.session_scope(engine) as session:
        return confirm(session=session, key=key, confirmation_id=confirmation_id, now=utcnow(), render=render)


def manage_path(key: bytes, confirmed: Confirmed, who: Reader, *, done: str) -> str:
    token = manage_token(
        key, confirmed.subscriber_id, confirmed.generation, expires_at=confirmed.manage_expires_at
    )
    query = f"{who.lang_query}&done={done}" if who.lang_query else f"?done={done}"
    return f"/subscriptions/{token}{query}"


# ── the SMS code ──────────────────────────────────────────────────────────────────────────────────


def code_page(
    request: Request, who: Reader, token: str, *, status_code: int = 200, left: int | None = None
) -> Response:
    return page(
        request,
        who,
        "code.html.j2",
        status_code=status_code,
        action=f"/subscribe/code/{token}{who.lang_query}",
        minutes=int(CODE_TTL.total_seconds() // 60),
        left=left,
    )


@router.get("/subscribe/code/{token}", response_class=HTMLResponse)
@answers_unavailable
async def code_form(token: str, request: Request) -> Response:
    who = reader(request)
    try:
        confirmation_id = read_code_page_token(key_of(request), token, now=utcnow())
        await run_in_threadpool(_asked, engine_of(request), confirmation_id, catalogue_of(request))
    except Refused as refused:
        return refusal(request, who, refused)
    return code_page(request, who, token)


@router.post("/subscribe/code/{token}")
@answers_unavailable
async def code_post(token: str, request: Request) -> Response:
    who = reader(request)
    form = await read_form(request, who)
    if isinstance(form, Response):
        return form
    key = key_of(request)
    render = renderer_of(request, key)
    try:
        confirmation_id = read_code_page_token(key, token, now=utcnow())
        result = await run_in_threadpool(
            _check_code, engine_of(request), key, confirmation_id, first(form, "code"), render
        )
    except Refused as refused:
        return refusal(request, who, refused)
    if isinstance(result, Refused):
        if result.reason is Reason.WRONG_CODE:
            return code_page(request, who, token, status_code=422, left=result.left)
        return refusal(request, who, result)
    return see_other(manage_path(key, result, who, done="confirmed"))


def _check_code(
    engine: sa.Engine, key: bytes, confirmation_id: int, code: str, render: RenderNotice
) -> Confirmed | Refused:
    with store.session_scope(engine) as session:  # a wrong code is counted: this commits
        return check_code(
            session=session, key=key, confirmation_id=confirmation_id, code=code, now=utcnow(), render=render
        )
