"""The regulator notice drafted from the incident's facts: every field the law asks for, or a flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from markdown_it import MarkdownIt
from pydantic import BaseModel

from clarion.compliance.regulator_notice import MISSING, Notice, draft_notice, fill, lookup, render_markdown
from clarion.facts import Facts, load_facts
from clarion.incidents.reports import inert
from clarion.models import Deadline
from clarion.playbook import load_playbook
from clarion.regimes import NoticeField, get_regime
from tests.helpers import EXAMPLES, PLAYBOOKS

MARKDOWN = MarkdownIt("commonmark").enable("table")
AWARE = datetime(2026, 11, 23, 8, 5, tzinfo=UTC)  # the example facts' aware_at
DUE = AWARE + timedelta(hours=72)
ART_33_3 = [
    "nature",
    "subject-categories",
    "approx-people",
    "data-categories",
    "approx-records",
    "dpo-contact",
    "likely-consequences",
    "measures",
]


@pytest.fixture(scope="module")
def facts() -> Facts:
    return load_facts(EXAMPLES / "data-breach.yaml", load_playbook(PLAYBOOKS / "data-breach.yaml"))


def with_breach(facts: Facts, **changes: Any) -> Facts:
    """The facts with some breach facts changed (or emptied: None), as a form might leave them."""
    assert facts.breach is not None
    return facts.model_copy(update={"breach": facts.breach.model_copy(update=changes)})


def clock(regime: str, stage: str, *, due: datetime = DUE, submitted: bool = False) -> Deadline:
    return Deadline(
        incident_id=1,
        regime=regime,
        stage=stage,
        recipient="authority",
        starts_at=AWARE,
        due_at=due,
        submissions=[{"at": AWARE.isoformat(), "by": "dpo", "reference": None}] if submitted else [],
    )


def draft(
    facts: Facts,
    *,
    regime: str = "gdpr-art33",
    stage: str = "initial",
    row: Deadline | None = None,
    now: datetime | None = None,
) -> Notice:
    found = get_regime(regime)
    return draft_notice(
        regime=found,
        stage=found.stage(stage),
        facts=facts,
        row=row if row is not None else clock(regime, stage),
        now=now or facts.as_of,
    )


def render(notice: Notice, now: datetime | None = None) -> str:
    return render_markdown(
        notice, now=now or datetime(2026, 11, 23, 9, 0, tzinfo=UTC), zone=notice.regime.zone
    )


def values(notice: Notice) -> dict[str, str | None]:
    return {line.field.key: line.value for line in notice.lines}


# ── acceptance: the shipped example fills every Art. 33(3) field ──────────────────────────────────


def test_the_example_facts_fill_every_art_33_3_field(facts: Facts) -> None:
    notice = draft(facts)

    assert values(notice) == {
        "controller": "Acme Cloud; INC-0042",
        "timeline": "2026-11-23T06:40:00+00:00; 2026-11-23T08:05:00+00:00",
        "nature": (
            "Confidentiality breach: a support data export was publicly reachable for 85 minutes and was "
            "downloaded twice by unknown parties."
        ),
        "subject-categories": "customers",
        "approx-people": "8200",
        "data-categories": "names, email addresses, phone numbers",
        "approx-records": "8200",
        "dpo-contact": "Dr. Jana Weber, dpo@acme.example, +49 30 1234 5600",
        "likely-consequences": (
            "Targeted phishing by email and SMS; no passwords or payment data were exposed."
        ),
        "measures": (
            "Access closed, credentials rotated, access logs reviewed, affected people informed. "
            "Mandatory second review for storage permission changes; automated public-bucket alarms."
        ),
    }
    assert all(values(notice)[key] for key in ART_33_3)
    assert notice.missing == []
    assert (notice.late, notice.needs_delay_reason, notice.due_at, notice.reference) == (
        False,
        False,
        DUE,
        "INC-0042",
    )

    markdown = render(notice)

    for key in ART_33_3:
        value = values(notice)[key]
        assert value is not None and inert(value) in markdown
        assert value in MARKDOWN.render(markdown)
    assert MISSING not in markdown
    assert "Reasons for the delay" not in markdown and "(late)" not in markdown
    lines = markdown.splitlines()
    assert lines[0] == "# Notice to the supervisory authority: INC-0042"
    assert "- **Due:** 2026-11-26 08:05 UTC (2026-11-26 09:05 CET)" in lines
    assert "- **Drafted:** 2026-11-23 09:00 UTC from the incident's latest facts" in lines
    assert "- **Source:** https://eur-lex.europa.eu/eli/reg/2016/679/oj" in lines


def test_without_a_row_the_draft_has_no_due_line(facts: Facts) -> None:
    regime = get_regime("gdpr-art33")
    notice = draft_notice(
        regime=regime, stage=regime.stage("initial"), facts=facts, row=None, now=facts.as_of
    )

    assert (notice.due_at, notice.late) == (None, False)
    assert "**Due:**" not in render(notice)


# ── missing fields ────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("empty", [None, "", []])
def test_missing_required_facts_are_listed_and_flagged(facts: Facts, empty: object) -> None:
    notice = draft(with_breach(facts, subject_categories=empty, dpo_contact=empty))

    assert [f.key for f in notice.missing] == ["subject-categories", "dpo-contact"]
    assert values(notice)["subject-categories"] is None and values(notice)["dpo-contact"] is None

    markdown = render(notice)

    lines = markdown.splitlines()
    heading = lines.index("## Art. 33(3)(a) categories of data subjects concerned **MISSING**")
    assert lines[heading + 2] == "_To fill in: e.g. customers, employees, children_"
    heading = lines.index(
        "## Art. 33(3)(b) name and contact details of the DPO or other contact point **MISSING**"
    )
    assert lines[heading + 2] == "_To fill in._"  # this field gives no hint
    assert "**Missing required fields:** subject-categories, dpo-contact" in lines
    assert markdown.count(MISSING) == 2


def test_an_optional_field_without_facts_is_not_missing(facts: Facts) -> None:
    notice = draft(facts.model_copy(update={"started_at": None, "aware_at": None}))

    assert values(notice)["timeline"] is None
    assert notice.missing == []
    markdown = render(notice)
    assert "## When the breach started and when we became aware of it _(not given)_" in markdown.splitlines()
    assert MISSING not in markdown


def test_facts_without_any_breach_facts_miss_every_art_33_3_field(facts: Facts) -> None:
    notice = draft(facts.model_copy(update={"breach": None}))

    assert [f.key for f in notice.missing] == ART_33_3
    assert values(notice)["controller"] == "Acme Cloud; INC-0042"


def test_a_zero_is_a_value(facts: Facts) -> None:
    notice = draft(with_breach(facts, approx_records=0))

    assert values(notice)["approx-records"] == "0"
    assert "approx-records" not in [f.key for f in notice.missing]


# ── measures taken or proposed ────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("taken", "proposed", "expected"),
    [
        ("Access closed.", None, "Access closed."),
        (None, "Public-bucket alarms.", "Public-bucket alarms."),
        ("", "Public-bucket alarms.", "Public-bucket alarms."),
        ("Access closed.", "Public-bucket alarms.", "Access closed. Public-bucket alarms."),
        (None, None, None),
    ],
)
def test_either_measure_fills_the_field_and_both_are_joined(
    facts: Facts, taken: str | None, proposed: str | None, expected: str | None
) -> None:
    notice = draft(with_breach(facts, measures_taken=taken, measures_proposed=proposed))

    assert values(notice)["measures"] == expected
    assert ("measures" in [f.key for f in notice.missing]) is (expected is None)


# ── late notices ──────────────────────────────────────────────────────────────────────────────────


def test_a_late_gdpr_notice_asks_for_the_reasons_for_the_delay(facts: Facts) -> None:
    now = DUE + timedelta(hours=5)
    notice = draft(facts, row=clock("gdpr-art33", "initial"), now=now)

    assert (notice.late, notice.needs_delay_reason) == (True, True)
    markdown = render(notice, now)
    lines = markdown.splitlines()
    assert "- **Due:** 2026-11-26 08:05 UTC (2026-11-26 09:05 CET) **(late)**" in lines
    assert "## Reasons for the delay **MISSING**" in lines
    assert "_This notice is past its deadline; the law asks for the reasons for the delay._" in lines
    assert notice.missing == []  # the delay reason is asked for, not a fact field


def test_a_notice_drafted_at_the_deadline_is_not_late(facts: Facts) -> None:
    notice = draft(facts, row=clock("gdpr-art33", "initial"), now=DUE)

    assert (notice.late, notice.needs_delay_reason) == (False, False)


def test_a_notice_already_submitted_is_not_late_again(facts: Facts) -> None:
    notice = draft(facts, row=clock("gdpr-art33", "initial", submitted=True), now=DUE + timedelta(days=2))

    assert (notice.late, notice.needs_delay_reason) == (False, False)
    assert "Reasons for the delay" not in render(notice)


def test_a_late_stage_whose_law_asks_no_reasons_does_not_ask(facts: Facts) -> None:
    now = DUE + timedelta(hours=5)
    notice = draft(
        facts, regime="gdpr-art34", stage="data-subjects", row=clock("gdpr-art34", "data-subjects"), now=now
    )

    assert (notice.late, notice.needs_delay_reason) == (True, False)
    markdown = render(notice, now)
    assert "**(late)**" in markdown
    assert "Reasons for the delay" not in markdown and MISSING not in markdown


# ── escaping ──────────────────────────────────────────────────────────────────────────────────────


HOSTILE = "<script>alert(1)</script> **bold** a | b [x](https://evil.example) _u_ `c` # h"


def test_hostile_facts_are_rendered_inert(facts: Facts) -> None:
    notice = draft(with_breach(facts, nature=HOSTILE, dpo_contact="<img src=x onerror=alert(1)>"))

    markdown = render(notice)

    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt; \\*\\*bold\\*\\* a \\| b \\[x\\](https://evil.example) "
        "\\_u\\_ \\`c\\` \\# h"
    ) in markdown.splitlines()
    assert "<script>" not in markdown and "**bold**" not in markdown and "<img" not in markdown
    html = MARKDOWN.render(markdown)
    assert "<script>" not in html and "<img" not in html
    assert "<strong>bold" not in html and "<a href" not in html and "<em>u" not in html
    assert "<code>c" not in html and "<table>" not in html
    # and it reads as written
    assert (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt; **bold** a | b [x](https://evil.example) _u_ `c` # h</p>"
        in html
    )
    assert "<p>&lt;img src=x onerror=alert(1)&gt;</p>" in html


def test_a_multi_line_fact_stays_in_its_paragraph(facts: Facts) -> None:
    notice = draft(with_breach(facts, nature="first line\n# second\n| a | b |\n|---|---|"))

    html = MARKDOWN.render(render(notice))

    assert "<p>first line # second | a | b | |---|---|</p>" in html
    assert "<h1>second" not in html and "<table>" not in html


@pytest.mark.parametrize(
    "value",
    [
        "- Access closed\n- Credentials rotated",
        "1. Access closed\n2. Credentials rotated",
        "+ Access closed",
        "---",
    ],
    ids=["dash-list", "numbered-list", "plus-list", "rule"],
)
def test_a_fact_that_looks_like_a_block_reads_as_written(facts: Facts, value: str) -> None:
    """Each value stands on its own line in the draft: one that starts like a list item or a rule
    must still be a plain paragraph of its own text (``inert`` escapes only inline syntax)."""
    notice = draft(with_breach(facts, measures_taken=value, measures_proposed=None))

    tokens = MARKDOWN.parse(render(notice))

    heading = next(
        i
        for i, t in enumerate(tokens)
        if t.type == "inline" and t.content.startswith("Art. 33(3)(d) measures")
    )
    following = [t.type for t in tokens[heading + 2 : heading + 5]]
    assert following == ["paragraph_open", "inline", "paragraph_close"], following
    children = tokens[heading + 3].children
    assert children is not None
    assert "".join(c.content for c in children) == value.replace("\n", " ")


# ── lookup and fill ───────────────────────────────────────────────────────────────────────────────


class Inner(BaseModel):
    name: str | None = None
    tags: list[str] = []
    data: dict[str, Any] = {}


class Outer(BaseModel):
    inner: Inner | None = None
    when: datetime | None = None


def test_lookup_follows_models_and_mappings() -> None:
    outer = Outer(inner=Inner(name="n", tags=["a", "b"], data={"deep": {"deeper": 3}}))

    assert lookup(outer, "inner.name") == "n"
    assert lookup(outer, "inner.tags") == ["a", "b"]
    assert lookup(outer, "inner.data.deep.deeper") == 3
    assert lookup(outer, "inner") == outer.inner


@pytest.mark.parametrize(
    "path", ["nope", "inner.nope", "inner.data.missing", "inner.data.deep.missing.further", "when.year.x"]
)
def test_lookup_of_a_missing_path_is_none(path: str) -> None:
    outer = Outer(inner=Inner(data={"deep": {"deeper": 3}}))

    assert lookup(outer, path) is None


def test_lookup_through_none_is_none(facts: Facts) -> None:
    assert lookup(Outer(), "inner.name") is None
    assert lookup(facts.model_copy(update={"breach": None}), "breach.nature") is None
    assert lookup(facts, "contact.email") == "privacy@acme.example"
    assert str(lookup(facts, "links.password_reset")) == "https://acme.example/reset"


def test_fill_joins_lists_and_writes_times_in_iso(facts: Facts) -> None:
    fields = [
        NoticeField(key="list", label="List", facts=["breach.data_categories"]),
        NoticeField(key="times", label="Times", facts=["started_at", "as_of"]),
        NoticeField(
            key="some", label="Some", facts=["breach.subject_categories", "nope.nothing", "severity"]
        ),
        NoticeField(key="none", label="None", facts=["nope"], required=False),
        NoticeField(key="no-paths", label="No paths", facts=[]),
    ]

    lines = fill(fields, facts)

    assert [(line.field.key, line.value) for line in lines] == [
        ("list", "names, email addresses, phone numbers"),
        ("times", "2026-11-23T06:40:00+00:00; 2026-11-23T09:00:00+00:00"),
        ("some", "customers; sev1"),
        ("none", None),
        ("no-paths", None),
    ]
