"""The manage page of a subscription, behind its signed link: choose other components, unsubscribe.

``GET /subscriptions/{token}``
    The subscription the link names: where updates go (the address masked), the components ticked.
    ``?done=confirmed`` or ``?done=saved`` adds a line saying what just happened.

``POST /subscriptions/{token}``
    ``action=save`` with the components ticked (none ticked, or an unknown one, is 422 with the page
    again); ``action=unsubscribe`` ends the subscription, and with it every link of it: the page that
    answers says so, and the link is refused as ended (410) from then on. A form without its token
    is 403 and changes nothing.

A forged or garbled link is 400, one naming no subscriber 404, one expired or of an ended
subscription 410.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from clarion import store
from clarion.models import utcnow
from clarion.statuspage.components import Catalogue
from clarion.subscriptions import choices, manage
from clarion.subscriptions.refusals import Refused
from clarion.subscriptions.secrets import read_manage_token
from faces.web.subscribe_pages import (
    Reader,
    answers_unavailable,
    catalogue_of,
    engine_of,
    first,
    key_of,
    page,
    problem,
    read_form,
    reader,
    reading,
    refusal,
    section_view,
    see_other,
)

router = APIRouter(tags=["subscriptions"])
DONE = frozenset({"confirmed", "saved"})


def _shown(engine: sa.Engine, subscriber_id: int, generation: int) -> dict[str, Any]:
    with reading(engine) as session:
        subscriber = manage.subscription(session=session, subscriber_id=subscriber_id, generation=generation)
        return {
            "address": choices.mask(subscriber.channel, subscriber.address),
            "channel": subscriber.channel.value,
            "current": list(subscriber.components),
        }


def manage_page(
    request: Request,
    who: Reader,
    token: str,
    shown: dict[str, Any],
    catalogue: Catalogue,
    *,
    chosen: list[str] | None = None,
    error: str | None = None,
    done: str | None = None,
) -> Response:
    """The page; ``chosen`` (what a refused post ticked) instead of the subscription's own choice."""
    everything = {c.id for c in catalogue.components}
    picked = (set(shown["current"]) or everything) if chosen is None else set(chosen)
    return page(
        request,
        who,
        "manage.html.j2",
        status_code=422 if error else 200,
        action=f"/subscriptions/{token}{who.lang_query}",
        address=shown["address"],
        channel=shown["channel"],
        sections=section_view(catalogue),
        chosen=picked,
        error=error,
        done=done,
    )


@router.get("/subscriptions/{token}", response_class=HTMLResponse)
@answers_unavailable
async def manage_form(token: str, request: Request) -> Response:
    who = reader(request)
    try:
        subscriber_id, generation = read_manage_token(key_of(request), token, now=utcnow())
        shown = await run_in_threadpool(_shown, engine_of(request), subscriber_id, generation)
    except Refused as refused:
        return refusal(request, who, refused)
    done = request.query_params.get("done")
    return manage_page(request, who, token, shown, catalogue_of(request), done=done if done in DONE else None)


@router.post("/subscriptions/{token}")
@answers_unavailable
async def manage_post(token: str, request: Request) -> Response:
    who = reader(request)
    form = await read_form(request, who)
    if isinstance(form, Response):
        return form
    action = first(form, "action")
    if action not in ("save", "unsubscribe"):
        return problem(request, who, "not-a-form", 400)
    engine, catalogue = engine_of(request), catalogue_of(request)
    try:
        subscriber_id, generation = read_manage_token(key_of(request), token, now=utcnow())
        if action == "unsubscribe":
            await run_in_threadpool(_unsubscribe, engine, subscriber_id, generation)
            return page(request, who, "unsubscribed.html.j2")
        shown = await run_in_threadpool(_shown, engine, subscriber_id, generation)
        wanted = form.get("components", [])
        try:
            components = choices.check_components(wanted, catalogue)
        except ValueError as exc:
            return manage_page(
                request, who, token, shown, catalogue, chosen=_known(wanted, catalogue), error=str(exc)
            )
        await run_in_threadpool(_change, engine, subscriber_id, generation, components)
    except Refused as refused:
        return refusal(request, who, refused)
    query = f"{who.lang_query}&done=saved" if who.lang_query else "?done=saved"
    return see_other(f"/subscriptions/{token}{query}")


def _known(wanted: list[str], catalogue: Catalogue) -> list[str]:
    ids = {c.id for c in catalogue.components}
    return [c for c in wanted if c in ids]


def _unsubscribe(engine: sa.Engine, subscriber_id: int, generation: int) -> None:
    with store.session_scope(engine) as session:
        manage.unsubscribe(session=session, subscriber_id=subscriber_id, generation=generation, now=utcnow())


def _change(engine: sa.Engine, subscriber_id: int, generation: int, components: tuple[str, ...]) -> None:
    with store.session_scope(engine) as session:
        manage.change(
            session=session,
            subscriber_id=subscriber_id,
            generation=generation,
            components=components,
            now=utcnow(),
        )
