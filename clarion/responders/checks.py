"""Before a draft waits for approval: would each approver's request reach them?

An approval request carries the draft's preview, so its words are known as soon as the draft is.
``clarion preview`` renders it for every approver of the playbook on every channel the people file
gives them, as the flow would stage it, and builds the provider's message offline (Slack's Block Kit,
Teams' Adaptive Card): a request that would be refused (a section over 3 000 characters, a card over
28 KB) is a preview error naming the person, channel, locale and limit, not a surprise when it is due.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from clarion.errors import LimitExceeded, PayloadRefused, RenderError, TemplateError
from clarion.incidents.approvals import required_steps
from clarion.kinds import UpdateKind
from clarion.outbox.notices import NoticeData, RenderNotice
from clarion.playbook import Playbook
from clarion.responders.notices import APPROVAL, Drafted, approval_params, preview_of
from clarion.responders.people import People
from clarion.responders.who import approvers, channels_for

SAMPLE_UI_URL = "http://127.0.0.1:4200/runs/flow-run/00000000-0000-4000-8000-000000000000"
"""As long as the Prefect UI link a flow run puts in a request."""


def approval_problems(
    *,
    playbook: Playbook,
    people: People,
    reference: str,
    title: str,
    renditions: Sequence[Drafted],
    render: RenderNotice,
) -> tuple[int, list[str]]:
    """(how many requests were checked, one sentence per approver and channel whose request for this
    draft would not render or be refused: ``slack/en responder-approval to legal@acme.example: a
    paragraph is 3120 characters…``)."""
    preview = preview_of(renditions, playbook.default_locale)
    expires = datetime(2026, 12, 31, 23, 59, tzinfo=UTC).strftime("%Y-%m-%d %H:%M UTC")
    problems: list[str] = []
    checked = 0
    for step in required_steps(playbook, UpdateKind.UPDATE):
        params = approval_params(
            reference=reference,
            title=title,
            update=1,
            role=step.role,
            preview=preview,
            ui_url=SAMPLE_UI_URL,
            expires=expires,
        )
        for person_id in approvers(playbook, [step.role]):
            person = people.get(person_id)
            if person is None:
                continue  # `clarion playbooks lint` names an approver the people file does not list
            for channel in channels_for(person, urgent=False):
                notice = NoticeData(
                    id=0,
                    kind=APPROVAL,
                    channel=channel,
                    locale=person.locale,
                    address=person.reach[channel],
                    about=f"{reference}/update-1/{step.role}",
                    params={"reference": reference, **params, "person": person.name, "person_id": person.id},
                )
                checked += 1
                try:
                    render(notice)
                except (TemplateError, RenderError) as exc:
                    where = f"{channel.value}/{person.locale} {APPROVAL} to {person.id}"
                    problems.append(f"{where}: {_why(exc)}")
    return checked, problems


def _why(error: TemplateError | RenderError) -> str:
    """The error without the channel and locale it repeats."""
    if isinstance(error, LimitExceeded):
        return f"{error.length} {error.measure}, limit {error.limit}"
    if isinstance(error, PayloadRefused):
        return error.problem
    return str(error)
