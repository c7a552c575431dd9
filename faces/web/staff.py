"""The staff pages: the follow-ups people asked for, and each incident's survey report.

``GET /staff/followups`` (``?open=1``: the open ones only)
    Every follow-up, oldest first: the incident, how long it has waited, why it was opened, the
    channel asked for, the address to use, the scores and what the person wrote. That is personal
    data, so it is shown here and nowhere else (the notice to support names only the follow-up's
    number, :mod:`clarion.surveys.notices`).

``GET /staff/surveys/{reference}``
    The survey report of one incident (:func:`clarion.surveys.report.survey_report`): response
    rates per channel, the score distributions, NPS, trust signals, polarity and the quotes their
    writers allowed.

``GET /staff/reports/{reference}``
    The post-incident report of one incident (:mod:`clarion.review`), the same document as its PDF.

They sit behind HTTP Basic auth, user ``staff`` and the password ``CLARION_STAFF_TOKEN``, both
compared in constant time; a wrong or missing pair is 401 with a challenge. Without a staff token
(or with one shorter than :data:`MIN_TOKEN`, which is logged) the pages do not exist: 404, the
answer of any unknown address. Answers are ``no-store`` and ``noindex``; HTTPS is the deployment's
business (Basic auth sends the password with every request).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from clarion.incidents.clock import IncidentClock
from clarion.models import Incident, utcnow
from clarion.review.figures import review
from clarion.review.page import review_page
from clarion.settings import STAFF_TOKEN_MIN
from clarion.statuspage.pages import render_page
from clarion.statuspage.wording import Wording
from clarion.surveys.followups import FollowupRow, followups
from clarion.surveys.report import SurveyReport, survey_report
from faces.web.subscribe_pages import HEADERS, engine_of, reading, settings_of

logger = logging.getLogger(__name__)
router = APIRouter(tags=["staff"])
USER = b"staff"
MIN_TOKEN = STAFF_TOKEN_MIN  # the settings refuse a shorter one; checked again here, where it matters
CHALLENGE = {"WWW-Authenticate": 'Basic realm="clarion staff"'}


def _credentials(header: str) -> tuple[bytes, bytes] | None:
    """User and password of an ``Authorization: Basic`` header; None when it is not one."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else None


def _digest(value: bytes) -> bytes:
    """Compared as digests: equal lengths, so not even the password's length shows in the timing."""
    return hashlib.sha256(value).digest()


def refused(request: Request) -> Response | None:
    """None when the request carries the staff credentials; else the answer: 404 when there are no
    staff pages (no token), 401 with a challenge otherwise."""
    token = settings_of(request).staff_token
    secret = token.get_secret_value().encode() if token is not None else b""
    if len(secret) < MIN_TOKEN:
        if secret:
            logger.error("staff pages are off: CLARION_STAFF_TOKEN is shorter than %d characters", MIN_TOKEN)
        raise HTTPException(status_code=404)
    given = _credentials(request.headers.get("authorization", ""))
    user, password = given if given is not None else (b"", b"")
    user_ok = hmac.compare_digest(_digest(user), _digest(USER))
    password_ok = hmac.compare_digest(_digest(password), _digest(secret))
    if given is not None and user_ok and password_ok:
        return None
    return PlainTextResponse(
        "Staff credentials are needed here.\n", status_code=401, headers={**HEADERS, **CHALLENGE}
    )


def staff_page(template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``staff/<template>`` (English: the staff pages are the team's, not the public's)."""
    wording = Wording("en")
    body = render_page(f"staff/{template}", locale="en", moment=wording.moment, **context)
    return HTMLResponse(body, status_code=status_code, headers=HEADERS)


# ── follow-ups ────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Age:
    """How long a follow-up has waited, in whole days, hours and minutes."""

    days: int
    hours: int
    minutes: int

    @classmethod
    def of(cls, waited: timedelta) -> Age:
        minutes = max(0, int(waited.total_seconds()) // 60)
        return cls(minutes // 1440, minutes % 1440 // 60, minutes % 60)


def _followups(engine: sa.Engine, only_open: bool) -> list[FollowupRow]:
    with reading(engine) as session:
        return followups(session=session, only_open=only_open)


@router.get("/staff/followups", response_class=HTMLResponse)
async def followups_page(request: Request) -> Response:
    if (answer := refused(request)) is not None:
        return answer
    only_open = request.query_params.get("open") == "1"
    rows = await run_in_threadpool(_followups, engine_of(request), only_open)
    now = utcnow()
    return staff_page(
        "followups.html.j2",
        rows=rows,
        ages={row.id: Age.of((row.closed_at or now) - row.opened_at) for row in rows},
        only_open=only_open,
    )


# ── survey reports ────────────────────────────────────────────────────────────────────────────────


def _report(session: Session, incident: Incident) -> SurveyReport:
    """The incident's survey report (:mod:`clarion.surveys.report`)."""
    return survey_report(session=session, incident=incident)


def _report_of(engine: sa.Engine, reference: str) -> SurveyReport | None:
    with reading(engine) as session:
        incident = session.exec(select(Incident).where(Incident.reference == reference)).first()
        return None if incident is None else _report(session, incident)


def share(part: int, whole: int) -> int:
    """``part`` of ``whole`` in percent, rounded to a step of 5: the width class of a CSS bar."""
    return 0 if whole <= 0 else min(100, round(part * 20 / whole) * 5)


@router.get("/staff/surveys/{reference}", response_class=HTMLResponse)
async def report_page(reference: str, request: Request) -> Response:
    if (answer := refused(request)) is not None:
        return answer
    report = await run_in_threadpool(_report_of, engine_of(request), reference[:100])
    if report is None:
        return staff_page("missing.html.j2", status_code=404, reference=reference[:100])
    return staff_page("report.html.j2", report=report, share=share)


# ── post-incident reports ─────────────────────────────────────────────────────────────────────────


def _review_of(engine: sa.Engine, reference: str, time_scale: float) -> bytes | None:
    with reading(engine) as session:
        incident = session.exec(select(Incident).where(Incident.reference == reference)).first()
        if incident is None:
            return None
        now = IncidentClock(incident.declared_at, time_scale).now()
        return review_page(review(session=session, incident=incident, now=now, time_scale=time_scale))


@router.get("/staff/reports/{reference}", response_class=HTMLResponse)
async def review_report_page(reference: str, request: Request) -> Response:
    if (answer := refused(request)) is not None:
        return answer
    scale = settings_of(request).time_scale
    page = await run_in_threadpool(_review_of, engine_of(request), reference[:100], scale)
    if page is None:
        return staff_page("missing.html.j2", status_code=404, reference=reference[:100])
    return HTMLResponse(page, headers=HEADERS)
