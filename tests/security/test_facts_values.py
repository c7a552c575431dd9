"""Bad values in facts files: control characters and terminal escapes in every kind of text, times from
another age, wrong types, unknown keys; each refused with file, line and field, exit 2, nothing staged.
"""

from __future__ import annotations

import pytest

from tests.security.cases import Build
from tests.security.conftest import World
from tests.security.facts_cases import AS_OF, ESC, SHORT, TITLE, edit, stage_refused

CONTROL = [
    edit("title-esc-clear", TITLE, r'title: "Customer \e[2J contact"', "title", ESC),
    edit("title-osc-retitle", TITLE, r'title: "Customer \e]0;pwned\a details"', "title", ESC),
    edit("apology-short-esc", SHORT, r'short: "\e[2J We are sorry"', "story.en.apology.short", ESC),
    edit(
        "organisation-rlo",
        "organisation: Acme Cloud",
        r'organisation: "Acme \u202E Cloud"',
        "organisation",
        r"bidirectional control U\+202E",
    ),
    edit("contact-hours-bel", 'hours: "24/7"', r'hours: "24/7\a"', "contact.hours", r"U\+0007 \(BEL\)"),
    edit(
        "impact-summary-cr",
        "summary: Names, email addresses and phone numbers of about 8 200 customers.",
        r'summary: "Names\r, email addresses"',
        "impact.summary",
        r"U\+000D \(CR\)",
    ),
    edit(
        "component-c1-csi",
        "components: [customer-export]",
        r'components: ["export\x9b2J"]',
        "impact.components[0]",
        r"U\+009B \(CSI\)",
    ),
    edit(
        "breach-dpo-del",
        'dpo_contact: "Dr.',
        r'dpo_contact: "\x7f Dr.',
        "breach.dpo_contact",
        r"U\+007F \(DEL\)",
    ),
    edit(
        "link-esc",
        "password_reset: https://acme.example/reset",
        r'password_reset: "https://acme.example/\e[2J"',
        "links.password_reset",
        ESC,
    ),
    edit(
        "key-esc",
        TITLE,
        TITLE + '\n"ti\\e[2Jtle": x',
        "",
        r".*the key holds a control character U\+001B",
        needle="ti\\e",
    ),
    edit(
        "raw-esc-byte",
        TITLE,
        "title: Customer \x1b[2J details",
        "",
        r"control character U\+001B \(ESC\) at column \d+",
    ),
    edit("raw-nul-byte", TITLE, "title: Customer \x00 details", "", r"U\+0000 \(NUL\)"),
    edit("raw-osc-in-comment", "# Example facts", "# \x1b]0;pwned\x07 Example facts", "", ESC),
    edit("raw-rlo", TITLE, f"title: Customer {chr(0x202E)} details", "title", r"U\+202E"),
    edit("raw-vertical-tab", TITLE, "title: Customer \x0b details", "", r"U\+000B \(VT\)"),
]

TIMES = [
    edit("as-of-february-30", AS_OF, "as_of: 2026-02-30T09:00:00Z", "as_of", r"(day|date|datetime)"),
    edit(
        "as-of-offset-25h", AS_OF, "as_of: 2026-11-23T09:00:00+25:00", "as_of", r"(timezone|offset|datetime)"
    ),
    edit("as-of-year-1", AS_OF, "as_of: 0001-01-01T00:00:00Z", "as_of", r"not between 2000-01-01 and 2100"),
    edit(
        "as-of-year-9999", AS_OF, "as_of: 9999-12-31T23:59:59Z", "as_of", r"not between 2000-01-01 and 2100"
    ),
    edit("as-of-1970", AS_OF, "as_of: 1970-01-01T00:00:00Z", "as_of", r"check the year"),
    edit("as-of-without-offset", AS_OF, "as_of: 2026-11-23T09:00:00", "as_of", r"timezone"),
    edit("as-of-date-only", AS_OF, "as_of: 2026-11-23", "as_of", r"(datetime|timezone)"),
    edit("as-of-words", AS_OF, "as_of: yesterday", "as_of", r"datetime"),
    edit("as-of-explicit-tag", AS_OF, "as_of: !!timestamp 2026-02-30T09:00:00Z", "as_of", r"(day|date)"),
    edit(
        "next-update-2126",
        AS_OF,
        AS_OF + "\nnext_update_by: 2126-11-23T09:00:00Z",
        "next_update_by",
        r"not between",
        needle="next_update_by",
    ),
    edit(
        "next-update-before-as-of",
        AS_OF,
        AS_OF + "\nnext_update_by: 2026-11-23T08:00:00Z",
        "next_update_by",
        r"must be after as_of",
        needle="next_update_by",
    ),
    edit(
        "next-update-in-40-days",
        AS_OF,
        AS_OF + "\nnext_update_by: 2027-01-02T09:00:00Z",
        "next_update_by",
        r"more than 31 days",
        needle="next_update_by",
    ),
    edit(
        "started-after-as-of",
        "started_at: 2026-11-23T06:40:00Z",
        "started_at: 2026-11-23T10:00:00Z",
        "started_at",
        r"after as_of",
    ),
    edit(
        "aware-ten-years-before",
        "aware_at: 2026-11-23T08:05:00Z",
        "aware_at: 2016-11-23T08:05:00Z",
        "aware_at",
        r"more than 5 years",
    ),
]

TYPES = [
    edit("title-a-list", TITLE, "title: [a, b]", "title", r"valid string"),
    edit("title-empty", TITLE, 'title: ""', "title", r"at least 1 character"),
    edit(
        "apology-short-900000-characters",
        SHORT,
        "short: " + "y" * 900_000,
        "story.en.apology.short",
        r"(characters|long)",
    ),
    edit("title-201-characters", TITLE, "title: " + "x" * 201, "title", r"at most 200"),
    edit("status-bogus", "status: identified", "status: bogus", "status", r"'bogus' is not one of"),
    edit(
        "affected-negative",
        "affected_count: 8200",
        "affected_count: -5",
        "impact.affected_count",
        r"greater than or equal to 0",
    ),
    edit(
        "affected-1e20",
        "affected_count: 8200",
        "affected_count: 1.0e+20",
        "impact.affected_count",
        r"(less than|integer)",
    ),
    edit(
        "affected-beyond-64-bits",
        "affected_count: 8200",
        "affected_count: 99999999999999999999999",
        "",
        r"the number is too large",
    ),
    edit(
        "affected-base-60-monster",
        "affected_count: 8200",
        "affected_count: " + "1:" * 200 + "1",
        "",
        r"the number is too long",
    ),
    edit(
        "affected-nan",
        "affected_count: 8200",
        "affected_count: .nan",
        "impact.affected_count",
        r"(integer|finite)",
    ),
    edit("people-in-words", "approx_people: 8200", "approx_people: many", "breach.approx_people", r"integer"),
    edit(
        "contact-without-a-path",
        'contact:\n  phone: "+49 30 1234 5678"\n  email: privacy@acme.example\n  hours: "24/7"',
        "contact: {}",
        "contact",
        r"at least one of phone, email or url",
    ),
    edit(
        "contact-email-not-an-address",
        "email: privacy@acme.example",
        "email: not-an-address",
        "contact.email",
        r"email address",
    ),
    edit(
        "status-page-javascript",
        "status_page_url: https://status",
        "status_page_url: javascript:alert(1)//",
        "status_page_url",
        r"URL",
        needle="status_page_url",
    ),
    edit(
        "status-page-file-url",
        "status_page_url: https://status",
        "status_page_url: file:///etc/passwd#",
        "status_page_url",
        r"URL",
        needle="status_page_url",
    ),
    edit(
        "link-not-a-url",
        "password_reset: https://acme.example/reset",
        "password_reset: not a url",
        "links.password_reset",
        r"URL",
    ),
    edit(
        "unknown-key",
        TITLE,
        TITLE + "\nseverty: sev1",
        "severty",
        r"unknown key \(did you mean 'severity'\?\)",
        needle="severty",
    ),
    edit(
        "unknown-nested-key",
        'hours: "24/7"',
        'hours: "24/7"\n  fax: "+1 555"',
        "contact.fax",
        r"unknown key",
        needle="fax:",
    ),
    edit("unknown-breach-key", "breach:", "breach_x:", "breach_x", r"unknown key"),
    edit(
        "duplicate-key",
        TITLE,
        TITLE + "\ntitle: Another title",
        "title",
        r"duplicate key",
        needle="Another title",
    ),
    edit("reference-too-short", "reference: INC-0077", "reference: INC-1", "reference", r"pattern"),
    edit("reference-traversal", "reference: INC-0077", "reference: ../../etc", "reference", r"pattern"),
    edit(
        "severity-unknown", "severity: sev1", "severity: sev9", "severity", r"'sev9' is not one of sev1, sev2"
    ),
    edit(
        "severity-markup-and-emoji",
        "severity: sev1",
        'severity: "root:x:0 :smile: [bold]x[/bold]"',
        "severity",
        r"'root:x:0 :smile: \[bold\]x\[/bold\]' is not one of",
    ),
    edit(
        "story-locale-unknown",
        "  de:\n",
        "  xx:\n",
        "story.xx",
        r"locale 'xx' is not in playbook",
        needle="  xx:",
    ),
    edit(
        "time-zone-of-mars",
        "time_zone: Europe/London",
        "time_zone: Mars/Base",
        "recipient.time_zone",
        r"not an IANA time zone",
    ),
    edit(
        "time-zone-traversal",
        "time_zone: Europe/London",
        "time_zone: ../../../etc/passwd",
        "recipient.time_zone",
        r"not an IANA time zone",
    ),
]


@pytest.mark.parametrize(("build", "says"), CONTROL + TIMES + TYPES)
def test_bad_facts_values_are_refused_with_file_line_field(
    world: World, build: Build, says: tuple[str, ...]
) -> None:
    stage_refused(world, build, says)
