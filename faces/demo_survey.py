"""The demo's last act: the survey after resolution, answered through the web form, and its report.

The resolution scheduled a ``send-survey`` run at the playbook's delay (seven days for a breach,
84 minutes of the demo's wall clock at 120×). The demo brings that same run forward, as "Run now" in
the Prefect UI would, waits for the invitations to reach the sandbox's inbox, follows the links in
three of them and answers each survey over HTTP like a browser (the form's page first, for its
cookie and token, then the post), and prints the report ``clarion survey report`` prints.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from faces.console import console

out = console()
STEP_TIMEOUT = 180.0
LINK = re.compile(r"https?://\S+/survey/[A-Za-z0-9._-]+")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')

ANSWERS: tuple[dict[str, str], ...] = (
    {
        "informed": "5",
        "trust": "4",
        "text": "Thank you for telling us so quickly and so plainly. I feel reassured.",
        "quote": "yes",
    },
    {"informed": "2", "trust": "2", "text": "Sure, just like last time. I doubt it will be the last leak."},
    {
        "informed": "4",
        "trust": "3",
        "text": "Danke für die offene Information. Bitte rufen Sie mich an, ich habe noch Fragen.",
        "contact": "yes",
        "contact_channel": "phone",
    },
)


def _say(text: str) -> None:
    out.print(f"· {text}", markup=False)


def play_survey(api: Any, stack: Any, engine: Any, reference: str) -> None:
    """Run the scheduled survey now, answer three invitations through the page, print the report."""
    runs = api.scheduled_runs("send-survey", reference)
    if not runs:
        raise TimeoutError(f"the resolution of {reference} scheduled no survey")
    run = runs[0]
    _say(
        f"the resolution scheduled the survey for {run.expected_start_time:%H:%M:%S} UTC (the playbook's "
        "7 days on the incident's clock); the demo runs it now, as Run now in the Prefect UI would"
    )
    api.start_now(run.id)
    _wait(lambda: api.read_run(run.id).state_type == "COMPLETED", "the survey run", stack)
    links = _wait(lambda: _links(stack.sandbox), "the survey invitations in the sandbox inbox", stack)
    _say(f"{len(links)} invitations in the sandbox inbox, each with its own signed link")
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        for number, (link, answer) in enumerate(zip(links.values(), ANSWERS, strict=False), start=1):
            _answer(client, link, answer, number)
    _print_report(engine, reference)


def _answer(client: httpx.Client, link: str, answer: dict[str, str], number: int) -> None:
    client.cookies.clear()
    form = client.get(link)
    token = CSRF.search(form.text)
    if form.status_code != 200 or token is None:
        raise TimeoutError(f"the survey page answered HTTP {form.status_code}")
    posted = client.post(link, data={"csrf": token.group(1), **answer})
    if posted.status_code != 303:
        raise TimeoutError(f"the survey form answered HTTP {posted.status_code}: {posted.text[:200]}")
    asked = " and asked for a call" if answer.get("contact") else ""
    _say(
        f"answered invitation {number} over HTTP (shown as answered by the demo): "
        f"informed {answer['informed']}/5, trust {answer['trust']}/5{asked}: “{answer['text']}”"
    )


def _links(sandbox: str) -> dict[str, str] | None:
    records = httpx.get(f"{sandbox}/_sandbox/inbox", params={"channel": "sendgrid", "limit": 1000}, timeout=5)
    found = {}
    for record in records.json().get("records", []):
        match = LINK.search(record.get("text") or "")
        if match and "/survey/" in match.group():
            found[record["address"]] = match.group()
    return found or None


def _wait(done: Any, what: str, stack: Any) -> Any:
    deadline = time.monotonic() + STEP_TIMEOUT
    while not (result := done()):
        stack.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not come within {STEP_TIMEOUT:.0f} s")
        time.sleep(0.5)
    return result


def _print_report(engine: Any, reference: str) -> None:
    from sqlmodel import Session, select

    from clarion.models import Incident
    from clarion.surveys.followups import followups
    from clarion.surveys.report import report_markdown, survey_report

    with Session(engine) as session:
        incident = session.exec(select(Incident).where(Incident.reference == reference)).one()
        report = survey_report(session=session, incident=incident)
        waiting = followups(session=session, only_open=True, reference=reference)
    out.print("")
    out.print(report_markdown(report), markup=False)
    out.print("")
    _say(
        f"{len(waiting)} follow-up open: a person asked to be called (`clarion followups --open`); "
        "the note to support waits in the outbox, which the outbox-sweep deployment sends within a minute"
    )
    _say(f'the report again: `clarion survey report {reference}`; try the tagger: `clarion survey tag "…"`')
