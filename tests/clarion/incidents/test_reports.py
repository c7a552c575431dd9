"""What the flows show people: the approval preview, the delivery table, the incident timeline.

Markdown is checked with markdown-it-py (CommonMark plus tables, raw HTML allowed: the most
permissive reading a displayer could give it), which ``rich`` brings along.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from sqlmodel import Session

from clarion import audit, store
from clarion.incidents import approvals
from clarion.incidents.approvals import Window
from clarion.incidents.reports import (
    delivery_rows,
    delivery_totals,
    fenced,
    preview_markdown,
    timeline_markdown,
)
from clarion.kinds import ApprovalDecision, Channel, DeliveryState, IncidentStatus, UpdateKind, UpdateState
from clarion.models import Approval, Incident, IncidentCreate, Rendition, Update, UpdateCreate

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MARKDOWN = MarkdownIt("commonmark").enable("table")

HOSTILE = (
    "Hello <script>alert('x')</script> and <img src=x onerror=alert(1)>\n"
    "| not | a | table |\n"
    "|---|---|---|\n"
    "``` closes nothing\n"
    "# not a heading, **not bold**, [not a link](https://evil.example)"
)


def fences(markdown: str) -> list[str]:
    return [t.content for t in MARKDOWN.parse(markdown) if t.type == "fence"]


# ── fenced ────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "```text\nplain\n```"),
        ("one `tick` and ``two``", "```text\none `tick` and ``two``\n```"),
        ("```\nthree\n```", "````text\n```\nthree\n```\n````"),
        ("five ````` here", "``````text\nfive ````` here\n``````"),
        ("", "```text\n\n```"),
    ],
)
def test_the_fence_is_longer_than_any_backtick_run(text: str, expected: str) -> None:
    assert fenced(text) == expected


def test_backticks_inside_cannot_close_the_fence() -> None:
    text = "before\n```\n````\nafter <b>bold</b>"

    assert fences(fenced(text)) == [text + "\n"]
    assert "<b>" not in MARKDOWN.render(fenced(text))


_fence_prone = st.text(alphabet=st.sampled_from(list("`~ \n\tab<>|#*-")), max_size=60)


@given(
    text=_fence_prone
    | st.text(alphabet=st.characters(exclude_characters="\r\x00", exclude_categories=["Cs"]))
)
def test_any_text_comes_back_as_exactly_one_code_block(text: str) -> None:
    tokens = MARKDOWN.parse(fenced(text) + "\n\nafter")

    assert [t.type for t in tokens if t.type == "fence"] == ["fence"]
    assert next(t for t in tokens if t.type == "fence").content == text + "\n"
    assert tokens[-2].content == "after"  # the paragraph after the block is outside it


# ── the approval preview ──────────────────────────────────────────────────────────────────────────


def incident_row(title: str = "Customer data | exposed") -> Incident:
    return Incident(
        id=1,
        reference="INC-0042",
        playbook="data-breach",
        severity="sev1",
        title=title,
        status=IncidentStatus.IDENTIFIED,
        aware_at=T0,
        declared_at=T0,
    )


def update_row() -> Update:
    return Update(
        id=7,
        incident_id=1,
        number=2,
        kind=UpdateKind.UPDATE,
        status=IncidentStatus.IDENTIFIED,
        apology={"en": {"text": "Sorry.", "short": "Sorry."}},
        next_update_by=T0 + timedelta(hours=1),
        state=UpdateState.PENDING_APPROVAL,
    )


def email(body: str = HOSTILE, subject: str = "INC-0042: your data") -> Rendition:
    return Rendition(
        update_id=7,
        channel=Channel.EMAIL,
        locale="de",
        time_zone="Europe/Berlin",
        subject=subject,
        body=body,
        length=1234,
        measure="characters",
    )


def sms(body: str = "Short | text") -> Rendition:
    return Rendition(
        update_id=7,
        channel=Channel.SMS,
        locale="en",
        time_zone="America/New_York",
        body=body,
        length=212,
        limit=459,
        measure="septets",
        sms_segments=2,
        sms_encoding="gsm-7",
    )


WINDOWS = {
    "legal": Window("legal", T0 + timedelta(minutes=30), T0 + timedelta(hours=1), False),
    "dpo": Window("dpo", T0 + timedelta(minutes=45), T0 + timedelta(hours=1, minutes=30), True),
}


def preview(renditions: list[Rendition], pending: list[str] | None = None) -> str:
    return preview_markdown(
        incident=incident_row(),
        update=update_row(),
        renditions=renditions,
        pending=["legal", "dpo"] if pending is None else pending,
        windows=WINDOWS,
    )


def test_the_preview_lists_roles_and_every_renditions_length_then_the_texts() -> None:
    text = preview([email("Hallo."), sms("Hi.")])

    assert text == "\n".join(
        [
            "# INC-0042 · update 2 (update): approval needed",
            "",
            "**Customer data \\| exposed**: status identified, next update promised by 2026-11-23 11:00 UTC.",
            "",
            "Every one of the 2 renditions passed the preflight: each fits its channel's limits and carries "
            "the same reference, status, next-update time and link.",
            "",
            "| role | answer by | escalates to the backup at |",
            "|---|---|---|",
            "| legal | 2026-11-23 11:00 UTC | 2026-11-23 10:30 UTC |",
            "| dpo | 2026-11-23 11:30 UTC | 2026-11-23 10:45 UTC |",
            "",
            "| channel | locale | time zone | length | limit | measure |",
            "|---|---|---|---|---|---|",
            "| email | de | Europe/Berlin | 1234 | - | characters |",
            "| sms | en | America/New_York | 212 (2 segments, gsm-7) | 459 | septets |",
            "",
            "## email · de · Europe/Berlin",
            "",
            "```text\nSubject: INC-0042: your data\n\nHallo.\n```",
            "",
            "## sms · en · America/New_York",
            "",
            "```text\nHi.\n```",
        ]
    )


def test_only_pending_roles_with_a_window_are_listed() -> None:
    text = preview([sms()], pending=["dpo", "press"])

    assert "| dpo | 2026-11-23 11:30 UTC | 2026-11-23 10:45 UTC |" in text
    assert "| legal |" not in text
    assert "press" not in text


def test_message_bodies_stay_inert_inside_their_fences() -> None:
    renditions = [email(), sms(HOSTILE.replace("\n", " "))]
    markdown = preview(renditions)

    html = MARKDOWN.render(markdown)

    assert fences(markdown) == [f"Subject: INC-0042: your data\n\n{HOSTILE}\n", renditions[1].body + "\n"]
    assert "<script>" not in html and "<img" not in html
    assert html.count("&lt;script&gt;") == 2
    assert html.count("<table>") == 2  # the roles and the renditions; the body's table is text
    assert html.count("<h1>") == 1  # the preview's own title; the body's heading is text
    assert "<a href" not in html and "<strong>not bold" not in html


def test_a_pipe_in_a_body_does_not_break_the_renditions_table() -> None:
    markdown = preview([email("a | b"), sms("c | d | e")])

    rows = [t for t in MARKDOWN.parse(markdown) if t.type == "tr_open"]

    assert len(rows) == 2 + 1 + 2 + 1  # header + 2 roles, header + 2 renditions


def test_a_subject_stays_inert_too() -> None:
    markdown = preview([email("body", subject="<script>alert(1)</script> | **not bold**")])

    html = MARKDOWN.render(markdown)

    assert fences(markdown) == ["Subject: <script>alert(1)</script> | **not bold**\n\nbody\n"]
    assert "<script>" not in html and "<strong>not bold" not in html
    assert "Subject: &lt;script&gt;alert(1)&lt;/script&gt; | **not bold**" in html


# ── deliveries ────────────────────────────────────────────────────────────────────────────────────

COUNTS = {
    (Channel.SMS, DeliveryState.ACCEPTED): 3,
    (Channel.EMAIL, DeliveryState.ACCEPTED): 2,
    (Channel.EMAIL, DeliveryState.DELIVERED): 1,
    (Channel.EMAIL, DeliveryState.FAILED): 1,
    (Channel.EMAIL, DeliveryState.BOUNCED): 4,
    (Channel.EMAIL, DeliveryState.PENDING): 1,
    (Channel.EMAIL, DeliveryState.CLAIMED): 5,
    (Channel.EMAIL, DeliveryState.SUPPRESSED): 6,
    (Channel.BANNER, DeliveryState.PENDING): 2,
}


def test_delivery_states_are_grouped_per_channel_in_channel_order() -> None:
    assert delivery_rows(COUNTS) == [
        {"channel": "email", "accepted": 3, "failed": 5, "pending": 6, "suppressed": 6},
        {"channel": "sms", "accepted": 3, "failed": 0, "pending": 0, "suppressed": 0},
        {"channel": "banner", "accepted": 0, "failed": 0, "pending": 2, "suppressed": 0},
    ]


def test_no_deliveries_no_rows() -> None:
    assert delivery_rows({}) == []
    assert delivery_totals([]) == (0, 0)


def test_totals_count_finished_against_all() -> None:
    assert delivery_totals(delivery_rows(COUNTS)) == (3 + 5 + 6 + 3, 3 + 5 + 6 + 3 + 6 + 2)


# ── the timeline ──────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def audit_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[datetime]]:
    """Audit entries are stamped with the times pushed onto this list, in order."""
    times: list[datetime] = []
    monkeypatch.setattr(audit, "utcnow", lambda: times.pop(0))
    yield times
    assert times == [], "every pushed time was used"


def declare(
    session: Session, reference: str = "INC-0042", title: str = "Customer data | exposed"
) -> Incident:
    incident = store.create_incident(
        session=session,
        incident_in=IncidentCreate(
            reference=reference,
            playbook="data-breach",
            severity="sev1",
            title=title,
            status=IncidentStatus.IDENTIFIED,
            aware_at=T0,
        ),
    )
    incident.declared_at = T0
    session.add(incident)
    session.flush()
    return incident


def add_update(
    session: Session,
    incident: Incident,
    kind: UpdateKind,
    *,
    created: timedelta,
    published: timedelta | None = None,
    state: UpdateState = UpdateState.PUBLISHED,
) -> Update:
    update = store.add_update(
        session=session,
        incident=incident,
        update_in=UpdateCreate(
            kind=kind,
            status=IncidentStatus.IDENTIFIED,
            apology={"en": {"text": "Sorry.", "short": None}},
            next_update_by=T0 + timedelta(hours=2),
        ),
    )
    update.created_at = T0 + created
    update.published_at = None if published is None else T0 + published
    update.state = state
    session.add(update)
    session.flush()
    return update


def add_approval(
    session: Session, update: Update, role: str, decision: ApprovalDecision, at: timedelta, reason: str | None
) -> None:
    assert update.id is not None
    session.add(
        Approval(
            update_id=update.id,
            role=role,
            approver=f"{role}@example.com",
            decision=decision,
            reason=reason,
            decided_at=T0 + at,
        )
    )
    session.flush()


def note(session: Session, action: str, subject: str) -> None:
    audit.append(session=session, actor="clarion", action=action, subject=subject, details={})


def test_the_timeline_tells_the_story_in_time_order(session: Session, audit_clock: list[datetime]) -> None:
    incident = declare(session)
    other = declare(session, "INC-0099")
    first = add_update(
        session, incident, UpdateKind.INITIAL, created=timedelta(minutes=5), published=timedelta(minutes=20)
    )
    second = add_update(
        session,
        incident,
        UpdateKind.UPDATE,
        created=timedelta(minutes=80),
        state=UpdateState.PENDING_APPROVAL,
    )
    add_update(
        session, other, UpdateKind.INITIAL, created=timedelta(minutes=1), published=timedelta(minutes=2)
    )
    add_approval(session, first, "dpo", ApprovalDecision.EDITED, timedelta(minutes=15), "count corrected")
    add_approval(session, first, "legal", ApprovalDecision.APPROVED, timedelta(minutes=10), None)
    audit_clock.extend(T0 + timedelta(minutes=m) for m in (95, 65, 81, 70, 3))
    note(session, "approval.escalated", "INC-0042/update-2")
    note(session, "cadence.reminder", "INC-0042/update-1")
    note(session, "approval.requested", "INC-0042/update-2")  # not a timeline event
    note(session, "cadence.lapsed", "INC-0099/update-1")  # another incident
    note(session, "incident.declared", "INC-0042")  # the incident row says it already
    assert second.number == 2

    assert timeline_markdown(session=session, incident=incident) == "\n".join(
        [
            "# INC-0042: Customer data \\| exposed",
            "",
            "Playbook data-breach, severity sev1, status identified.",
            "",
            "| when | what |",
            "|---|---|",
            "| 2026-11-23 10:00 UTC | declared |",
            "| 2026-11-23 10:10 UTC | update 1 approved by legal@example.com (asserted) as legal |",
            "| 2026-11-23 10:15 UTC | update 1 edited by dpo@example.com (asserted) as dpo: "
            "count corrected |",
            "| 2026-11-23 10:20 UTC | update 1 published (initial, identified) |",
            "| 2026-11-23 11:05 UTC | cadence.reminder (update-1) |",
            "| 2026-11-23 11:20 UTC | update 2 drafted (update): pending\\_approval |",
            "| 2026-11-23 11:35 UTC | approval.escalated (update-2) |",
        ]
    )


def test_a_fresh_incident_has_only_its_declaration(session: Session) -> None:
    incident = declare(session)

    lines = timeline_markdown(session=session, incident=incident).splitlines()

    assert lines[-2:] == ["|---|---|", "| 2026-11-23 10:00 UTC | declared |"]


def test_a_pipe_in_a_reason_stays_in_its_cell(session: Session) -> None:
    incident = declare(session)
    first = add_update(
        session, incident, UpdateKind.INITIAL, created=timedelta(0), published=timedelta(hours=1)
    )
    add_approval(session, first, "dpo", ApprovalDecision.REJECTED, timedelta(minutes=30), "a | b | c")

    tokens = MARKDOWN.parse(timeline_markdown(session=session, incident=incident))

    cells = [t.children[0].content for t in tokens if t.type == "inline" and t.children]
    assert "update 1 rejected by dpo@example.com (asserted) as dpo: a | b | c" in cells
    assert sum(t.type == "td_open" for t in tokens) == 3 * 2


def test_free_text_in_the_timeline_reads_as_written_and_stays_inert(session: Session) -> None:
    title = "<b>Data</b> & *more* | [a](https://x.example) _b_ ~c~ !`d` #e \\ f"
    incident = declare(session, title=title)
    first = add_update(
        session, incident, UpdateKind.INITIAL, created=timedelta(0), published=timedelta(hours=1)
    )
    add_approval(session, first, "legal_team", ApprovalDecision.APPROVED, timedelta(minutes=30), None)

    markdown = timeline_markdown(session=session, incident=incident)

    lines = markdown.splitlines()
    assert lines[0] == (
        "# INC-0042: &lt;b&gt;Data&lt;/b&gt; &amp; \\*more\\* \\| \\[a\\](https://x.example) "
        "\\_b\\_ \\~c\\~ \\!\\`d\\` \\#e \\\\ f"
    )
    assert lines[7] == (
        "| 2026-11-23 10:30 UTC | update 1 approved by legal\\_team@example.com (asserted) as legal\\_team |"
    )
    rendered = MARKDOWN.render(markdown)
    assert (
        "<h1>INC-0042: &lt;b&gt;Data&lt;/b&gt; &amp; *more* | [a](https://x.example) "
        "_b_ ~c~ !`d` #e \\ f</h1>" in rendered
    )
    assert "<td>update 1 approved by legal_team@example.com (asserted) as legal_team</td>" in rendered
    assert rendered.count("<td>") == 3 * 2


def test_an_edit_recorded_through_approvals_is_listed_once(session: Session) -> None:
    incident = declare(session)
    first = add_update(
        session, incident, UpdateKind.INITIAL, created=timedelta(0), state=UpdateState.PENDING_APPROVAL
    )
    edit = approvals.record_decision(
        session=session,
        incident=incident,
        update=first,
        role="dpo",
        approver="dpo@example.com",
        decision=ApprovalDecision.EDITED,
        reason="softer",
    )
    edit.decided_at = T0 + timedelta(minutes=5)
    session.add(edit)
    session.flush()

    events = [
        line.split(" | ", 1)[1]
        for line in timeline_markdown(session=session, incident=incident).splitlines()[7:]
    ]

    assert events == [
        "update 1 drafted (initial): pending\\_approval |",
        "update 1 edited by dpo@example.com (asserted) as dpo: softer |",
    ]


def test_approvals_are_recorded_as_asserted(session: Session) -> None:
    """``--by`` is what someone typed: the report says "asserted by", never plainly "approved by"."""
    incident = declare(session)
    first = add_update(
        session, incident, UpdateKind.INITIAL, created=timedelta(0), state=UpdateState.PENDING_APPROVAL
    )
    for minutes, decision in enumerate(ApprovalDecision, start=1):
        add_approval(session, first, "dpo", decision, timedelta(minutes=minutes), None)

    lines = timeline_markdown(session=session, incident=incident).splitlines()

    decided = [line for line in lines if "dpo@example.com" in line]
    assert len(decided) == len(ApprovalDecision)
    for line, decision in zip(decided, ApprovalDecision, strict=True):
        assert f"update 1 {decision.value} by dpo@example.com (asserted) as dpo |" in line


def test_another_incident_whose_reference_starts_the_same_is_left_out(
    session: Session, audit_clock: list[datetime]
) -> None:
    incident = declare(session, "INC-1000")
    declare(session, "INC-10000")
    audit_clock.append(T0 + timedelta(hours=1))
    note(session, "cadence.lapsed", "INC-10000/update-1")

    lines = timeline_markdown(session=session, incident=incident).splitlines()

    assert lines[6:] == ["| 2026-11-23 10:00 UTC | declared |"]
