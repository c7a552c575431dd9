"""Bad playbooks: refused with file, line and field, exit 2, and nothing staged, sent or created.

Control characters, durations out of bounds, unknown regimes, locales and channels, YAML that is not
plain data, files that are not text, and CSV audience sources that resolve outside the playbook's
folder (``../../../../etc/passwd``, an absolute path, a symlink) or run SQL that writes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.cases import Build, alias_bomb, case, deep_list, line_in, replaced, text_file
from tests.security.conftest import World
from tests.security.playbook_cases import FILE, NAME, PLAYBOOK, SHORT, SQL_SOURCE, edit, kind, stage_refused

CONTROL = [
    edit(
        "title-esc",
        "title: Personal data breach",
        r'title: "Personal \e[2J data breach"',
        "title",
        r"U\+001B \(ESC\)",
    ),
    edit(
        "approver-osc",
        "approvers: [legal-on-call@example.com]",
        r'approvers: ["legal\e]0;pwned\a@example.com"]',
        "approvals[0].approvers[0]",
        r"U\+001B \(ESC\)",
    ),
    edit(
        "description-rlo",
        "description: People whose data was in the exposed records.",
        r'description: "\u202E People whose data"',
        "audiences.affected-customers.description",
        r"U\+202E",
    ),
    edit("raw-nul", "title: Personal data breach", "title: Personal \x00 breach", "", r"U\+0000 \(NUL\)"),
    edit("raw-esc-in-comment", "# message before it goes out.", "# \x1b[2J message", "", r"U\+001B \(ESC\)"),
    edit(
        "override-with-escape",
        SHORT,
        '      short: "{{ super() }} \\e[2J"',
        "parts.en.fix.short",
        r"U\+001B \(ESC\)",
    ),
]

DURATIONS = [
    edit(
        "approval-timeout-0m", "timeout: 2h", "timeout: 0m", "approvals[0].timeout", r"shorter than 5 minutes"
    ),
    edit(
        "approval-timeout-999999999d",
        "timeout: 2h",
        "timeout: 999999999d",
        "approvals[0].timeout",
        r"longer than 10 years",
    ),
    edit("approval-timeout-8d", "timeout: 2h", "timeout: 8d", "approvals[0].timeout", r"longer than 7 days"),
    edit(
        "approval-timeout-negative", "timeout: 2h", "timeout: -5m", "approvals[0].timeout", r"not a duration"
    ),
    edit(
        "approval-timeout-in-words",
        "timeout: 2h",
        "timeout: two hours",
        "approvals[0].timeout",
        r"not a duration such as 30m",
    ),
    edit("approval-timeout-infinite", "timeout: 2h", "timeout: .inf", "approvals[0].timeout", r"."),
    edit(
        "survey-delay-999999999d", "delay: 7d", "delay: 999999999d", "survey.delay", r"longer than 10 years"
    ),
    edit("survey-delay-100-weeks", "delay: 7d", "delay: 100w", "survey.delay", r"longer than 90 days"),
    edit(
        "survey-expiry-0m",
        "expires_after: 14d",
        "expires_after: 0m",
        "survey.expires_after",
        r"shorter than 1 day",
    ),
    edit("holding-grace-2d", "grace: 10m", "grace: 2d", "holding_statement.grace", r"longer than 1 day"),
    edit(
        "holding-max-0",
        "max_consecutive: 3",
        "max_consecutive: 0",
        "holding_statement.max_consecutive",
        r"greater than or equal to 1",
    ),
    edit("sms-segments-0", "sms_max_segments: 3", "sms_max_segments: 0", "sms_max_segments", r"greater than"),
    edit("sms-segments-11", "sms_max_segments: 3", "sms_max_segments: 11", "sms_max_segments", r"less than"),
]

SCHEMA = [
    edit(
        "regime-unknown",
        "regimes: [gdpr-art33, gdpr-art34]",
        "regimes: [gdpr-art33, nope]",
        "regimes",
        r"unknown regime 'nope'",
    ),
    edit(
        "regime-traversal",
        "regimes: [gdpr-art33, gdpr-art34]",
        "regimes: ['../../etc/passwd']",
        "regimes[0]",
        r"pattern",
    ),
    edit(
        "locale-xx-nope",
        "locales: [en, de]",
        "locales: [en, xx-NOPE]",
        "locales",
        r"'xx-NOPE' is not a known",
    ),
    edit(
        "locale-traversal",
        "locales: [en, de]",
        "locales: [en, ../../etc]",
        "locales",
        r"'\.\./\.\./etc' is not a known locale",
    ),
    edit("locale-twice", "locales: [en, de]", "locales: [en, de, en]", "locales", r"listed twice"),
    edit(
        "channel-fax",
        "channels: [email, sms, banner]",
        "channels: [email, fax, banner]",
        "audiences.affected-customers.channels[1]",
        r"'fax' is not a channel; known: email, sms",
    ),
    edit(
        "public-channel-for-an-audience",
        "channels: [email, sms, banner]",
        "channels: [email, mastodon]",
        "audiences.affected-customers.channels",
        r"reach the public",
    ),
    edit(
        "personal-channel-in-public",
        "public_channels: [statuspage, mastodon, bluesky]",
        "public_channels: [statuspage, email]",
        "public_channels",
        r"sent to audiences",
    ),
    edit(
        "survey-channel-fax",
        "channels: [email]\n",
        "channels: [fax]\n",
        "survey.channels[0]",
        r"'fax' is not a channel; known: email, sms",
    ),
    edit("kind-unknown", "kind: data-breach", "kind: heist", "kind", r"'heist' is not one of"),
    edit(
        "time-zone-of-mars",
        "public_time_zone: Europe/Berlin",
        "public_time_zone: Mars/Base",
        "public_time_zone",
        r"not an IANA time zone",
    ),
    edit(
        "name-not-the-file",
        "name: data-breach",
        "name: data-heist",
        "name",
        r"must match the file name",
    ),
    edit("name-traversal", "name: data-breach", "name: ../x", "name", r"pattern"),
    edit(
        "misspelt-key",
        "severities:",
        "severites:",
        "severites",
        r"unknown key \(did you mean 'severities'\?\)",
    ),
    edit(
        "both-sources",
        SQL_SOURCE,
        'source: {sql: "select 1", csv: a.csv}',
        "audiences.affected-customers.source",
        r"exactly one of csv, sql or subscribers",
    ),
    edit("role-not-a-slug", "role: legal", "role: Legal!", "approvals[0].role", r"pattern"),
    edit(
        "approvers-none",
        "approvers: [legal-on-call@example.com]",
        "approvers: []",
        "approvals[0].approvers",
        r"at least 1",
    ),
    edit(
        "required-link-traversal",
        "required_links: [password_reset]",
        "required_links: [../x]",
        "required_links[0]",
        r"pattern",
    ),
    edit(
        "overrides-for-a-locale-not-shipped",
        "  de:\n    fix:",
        "  fr:\n    fix:",
        "parts",
        r"overrides for fr, which is not in locales",
        needle="parts:",
    ),
]

STRUCTURE = [
    case(
        "alias-bomb",
        text_file(FILE, PLAYBOOK + alias_bomb()),
        (rf"^{NAME}:\d+: the document has more than",),
    ),
    edit(
        "deep-990",
        "sms_max_segments: 3",
        "sms_max_segments: 3\ndeep: " + deep_list(990),
        "",
        r"deeper than 64 levels",
        needle="deep:",
    ),
    edit(
        "python-tag",
        "title: Personal data breach",
        "title: !!python/name:os.system",
        "",
        r"the tag !!python/name:os\.system is not allowed",
    ),
    edit("two-documents", "survey:", "---\nsurvey:", "", r"a second document starts here", needle="---"),
    edit(
        "duplicate-key",
        "title: Personal data breach",
        "title: Personal data breach\ntitle: Twice",
        "title",
        r"duplicate key",
        needle="title: Twice",
    ),
    kind("dev-zero", "dev-zero", r"^/dev/zero: is a character device"),
    kind("fifo", "fifo", rf"^{NAME}: is a named pipe"),
    kind("folder", "folder", rf"^{NAME}: is a folder"),
    kind("symlink-loop", "symlink-loop", rf"{NAME}: cannot read the file: a symlink loop"),
    kind("missing", "missing", rf"^{NAME}: file not found"),
    kind("latin-1", "latin-1", rf"^{NAME}:\d+: not UTF-8 text"),
    kind("utf-16", "utf-16", rf"^{NAME}:1: the file is UTF-16 text"),
    kind("oversize", "oversize", rf"^{NAME}: the file is larger than 1 MiB"),
    kind("empty", "empty", rf"^{NAME}(:\d+)?: name: required field is missing"),
]


def _link(target: str) -> Build:
    def build(folder: Path) -> Path:
        (folder / "pb").mkdir(exist_ok=True)
        (folder / "pb" / "audience-link.csv").symlink_to(target)
        return text_file(FILE, replaced(PLAYBOOK, SQL_SOURCE, "source: {csv: audience-link.csv}"))(folder)

    return build


def source(id: str, csv: str, message: str, *, env: dict[str, str] | None = None) -> object:
    text = replaced(PLAYBOOK, SQL_SOURCE, f"source: {{csv: {csv!r}}}")
    line = line_in(text, "source: {csv:")
    return case(
        id,
        text_file(FILE, text),
        env or {},
        (rf"^{NAME}:{line}: audiences\.affected-customers\.source\.csv: .*{message}",),
    )


SOURCES = [
    source("csv-source-climbing-out", "../" * 30 + "etc/passwd", r"resolves to '/etc/passwd'"),
    source("csv-source-absolute", "/etc/passwd", r"resolves to '/etc/passwd'"),
    source("csv-source-in-proc", "/proc/self/environ", r"resolves to '/proc/"),
    source(
        "csv-source-outside-the-allowed-roots",
        "../outside/audience.csv",
        r"resolves to",
        env={"CLARION_AUDIENCE_ROOTS": "/var/empty"},
    ),
    case(
        "csv-source-symlink-out",
        _link("/etc/passwd"),
        {},
        (
            rf"^{NAME}:\d+: audiences\.affected-customers\.source\.csv: "
            r"'audience-link\.csv' resolves to '/etc/passwd'",
        ),
    ),
    case(
        "sql-source-that-writes",
        text_file(FILE, replaced(PLAYBOOK, SQL_SOURCE, 'source: {sql: "DROP TABLE audit_event"}')),
        {},
        (r"audience query: sql: ",),
    ),
]


@pytest.mark.parametrize(("build", "says"), CONTROL + DURATIONS + SCHEMA + STRUCTURE)
def test_bad_playbooks_are_refused_with_file_line_field(
    world: World, build: Build, says: tuple[str, ...]
) -> None:
    stage_refused(world, build, says, sources=("-r", f"affected-customers={world.work / 'audience.csv'}"))


@pytest.mark.parametrize(("build", "env", "says"), SOURCES)
def test_playbook_audience_sources_stay_inside_their_roots(
    world: World, build: Build, env: dict[str, str], says: tuple[str, ...]
) -> None:
    outcome = stage_refused(world, build, says, sources=(), env=env)
    assert "root:x:0" not in outcome.out + outcome.err, "the error prints the file it refused"
