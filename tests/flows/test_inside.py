"""Telling the people inside from a flow run: a notice that cannot be rendered never stops the run.

`clarion preview` refuses a request the provider would refuse; if a template breaks while an incident
runs anyway (edited mid-incident), the run logs the error, stages nothing and goes on.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from sqlmodel import select

from channels.sandbox import SandboxHandle
from clarion import store
from clarion.models import Notice
from clarion.responders import notices
from flows import inside
from flows.context import open_context
from tests.clarion.incidents.test_incident_status import add_incident

LEGAL = "legal-on-call@example.com"


@flow
def _ask_legal() -> list[str]:
    told = inside.tell(
        open_context("INC-0042"),
        notices.APPROVAL,
        "update-1/legal",
        [LEGAL],
        **notices.approval_params(
            reference="INC-0042",
            title="Customer data exposed",
            update=1,
            role="legal",
            preview="We are sorry…",
            ui_url="",
            expires="2026-12-31 23:59 UTC",
        ),
    )
    return told.unreachable


def _notices() -> list[Notice]:
    with store.session_scope() as session:
        return list(session.exec(select(Notice)).all())


def test_a_request_that_renders_is_staged_and_sent(sandbox: SandboxHandle) -> None:
    with store.session_scope() as session:
        add_incident(session, "INC-0042")

    assert _ask_legal() == []
    assert {n.channel.value for n in _notices()} == {"email", "teams"}
    assert {r.address for r in sandbox.inbox("email")} == {LEGAL}


def test_a_request_that_cannot_render_is_logged_and_the_run_goes_on(
    sandbox: SandboxHandle, own_templates: Path
) -> None:
    body = own_templates / "notice" / "responder-approval" / "internal" / "en" / "body.txt.j2"
    body.write_text("{{ no_such_value }}", encoding="utf-8")
    with store.session_scope() as session:
        add_incident(session, "INC-0042")

    assert _ask_legal() == [LEGAL]  # not told, said so; the flow run itself completed
    assert _notices() == []  # nothing half-staged: not even the email, which would have rendered
    assert sandbox.inbox("email") == []
