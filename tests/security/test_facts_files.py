"""Bad facts files as files: YAML that is not plain data or not bounded, files that are not text
(``/dev/zero``, a FIFO, a folder, a symlink loop, other encodings), facts of another incident, and files
with thousands of problems; each refused with file and line, exit 2, nothing staged.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.security.cases import (
    AUDIENCE_CSV,
    BREACH_FACTS,
    FRESH_FACTS,
    Build,
    alias_bomb,
    assert_clear,
    case,
    deep_list,
    fill,
    replaced,
    text_file,
)
from tests.security.conftest import World
from tests.security.facts_cases import NAME, TITLE, edit, kind, stage_refused, whole

STRUCTURE = [
    edit(
        "unclosed-bracket",
        "components: [customer-export]",
        "components: [customer-export",
        "",
        r"YAML syntax",
        needle="regions",
    ),
    edit(
        "tab-indentation",
        "  email: privacy@acme.example",
        "\temail: privacy@acme.example",
        "",
        r"YAML syntax",
        needle="\temail",
    ),
    edit(
        "second-document", "recipient:", "---\nrecipient:", "", r"a second document starts here", needle="---"
    ),
    edit("alias-loop", TITLE, TITLE + "\nloop: &a [*a]", "", r"a loop", needle="loop:"),
    edit("undefined-alias", TITLE, "title: *nowhere", "", r"undefined alias"),
    edit(
        "key-not-text",
        "breach:",
        "1: one\nbreach:",
        "1",
        r"(text|string)",
        needle="1: one",
    ),
    edit(
        "python-object-tag",
        TITLE,
        'title: !!python/object/apply:os.system ["echo pwned"]',
        "",
        r"the tag !!python/object/apply:os.system is not allowed",
    ),
    edit("binary-tag", TITLE, "title: !!binary aGVsbG8=", "", r"the tag !!binary is not allowed"),
    edit("set-tag", "components: [customer-export]", "components: !!set {a, b}", "", r"!!set is not allowed"),
    edit("local-tag", TITLE, "title: !shout details", "", r"the tag !shout is not allowed"),
    edit(
        "deep-990", TITLE, TITLE + "\ndeep: " + deep_list(990), "", r"deeper than 64 levels", needle="deep:"
    ),
    edit(
        "deep-100000",
        TITLE,
        TITLE + "\ndeep: " + deep_list(100_000),
        "",
        r"(deeper than 64 levels|maximum nesting depth)",
        needle="deep:",
    ),
    whole("alias-bomb", FRESH_FACTS + alias_bomb(), rf"^{NAME}:\d+: the document has more than"),
    whole("top-level-list", "- a\n- b\n", rf"^{NAME}:1: .*(dictionary|mapping|object)"),
    whole("top-level-text", "hello\n", rf"^{NAME}:1: .*(dictionary|mapping|object)"),
    whole("comment-only", "# nothing yet\n", rf"^{NAME}(:\d+)?: organisation: required field is missing"),
]

FILES = [
    kind("dev-zero", "dev-zero", r"^/dev/zero: is a character device"),
    kind("fifo", "fifo", rf"^{NAME}: is a named pipe \(FIFO\)"),
    kind("folder", "folder", rf"^{NAME}: is a folder"),
    kind("symlink-loop", "symlink-loop", rf"{NAME}: cannot read the file: a symlink loop"),
    kind("missing", "missing", rf"^{NAME}: file not found"),
    kind("latin-1", "latin-1", rf"^{NAME}:2: not UTF-8 text \(byte 0xe9\)"),
    kind("utf-16-with-bom", "utf-16", rf"^{NAME}:1: the file is UTF-16 text"),
    kind("utf-16-without-bom", "utf-16-le", rf"^{NAME}:\d+: (not UTF-8 text|.*U\+0000 \(NUL\))"),
    kind("utf-32", "utf-32", rf"^{NAME}:1: the file is UTF-32 text"),
    kind("oversize-2-mib", "oversize", rf"^{NAME}: the file is larger than 1 MiB"),
    kind("binary", "binary", rf"^{NAME}:1: not UTF-8 text"),
    kind("empty", "empty", rf"^{NAME}(:\d+)?: organisation: required field is missing"),
]

INCIDENTS = [
    whole(
        "reference-of-another-playbook",
        replaced(FRESH_FACTS, "reference: INC-0077", "reference: INC-0043"),
        rf"^{NAME}: reference: INC-0043 is an incident of playbook outage; facts of playbook data-breach "
        "cannot be added to it",
    ),
    whole(
        "other-facts-for-a-published-incident",
        BREACH_FACTS,
        rf"^{NAME}: reference: INC-0042 already has update 2 .* say so with --new-update",
    ),
]


@pytest.mark.parametrize(("build", "says"), STRUCTURE + FILES + INCIDENTS)
def test_bad_facts_files_are_refused_with_file_line_field(
    world: World, build: Build, says: tuple[str, ...]
) -> None:
    stage_refused(world, build, says)


# ── thousands of problems: a bounded report ───────────────────────────────────────────────────────

MANY = 30_000
SHOWN_AT_MOST = 200
"""Lines a report of problems may take, however many the file has (the CSV reader shows 50 and a count)."""
UNBOUNDED = "a YAML file's problems are all printed: "


def _many_links(folder: Path) -> Path:
    links = "links:\n" + "".join(f"  l{n}: not-a-url\n" for n in range(MANY))
    return text_file("facts.yaml", replaced(FRESH_FACTS, "links:\n", links))(folder)


def _many_update_keys(folder: Path) -> Path:
    return text_file("facts.yaml", "status: monitoring\n" + "".join(f"k{n}: 1\n" for n in range(MANY)))(
        folder
    )


def _many_bad_rows(folder: Path) -> Path:
    rows = "".join(f"c{n},not-an-address,,,\n" for n in range(MANY))
    return text_file("rows.csv", AUDIENCE_CSV + rows)(folder)


@pytest.mark.parametrize(
    ("build", "command"),
    [
        case(
            "facts-30000-bad-links",
            _many_links,
            ("outbox", "stage", "data-breach", "-f", "{file}", "-r", "affected-customers={csv}"),
        ),
        case(
            "update-30000-unknown-keys",
            _many_update_keys,
            ("update", "INC-0042", "-f", "{file}", "--no-wait"),
        ),
        case(
            "audience-30000-bad-rows",
            _many_bad_rows,
            ("outbox", "stage", "data-breach", "-f", "{facts}", "-r", "affected-customers={file}"),
        ),
    ],
)
def test_a_file_with_thousands_of_problems_gets_a_bounded_report(
    world: World, build: Build, command: tuple[str, ...]
) -> None:
    world.seed()
    names = {
        "file": str(build(world.work)),
        "csv": str(text_file("audience.csv", AUDIENCE_CSV)(world.work)),
        "facts": str(text_file("fresh.yaml", FRESH_FACTS)(world.work)),
    }
    before = world.snapshot()

    outcome = world.run(*(fill(a, names) for a in command))

    assert_clear(outcome, 2, (r"^(facts\.yaml|rows\.csv):\d+: ",))
    lines = outcome.err.count("\n")
    assert lines <= SHOWN_AT_MOST, f"{lines} lines of problems"
    assert re.search(r"and \d[\d,]* more problems", outcome.err), outcome.err[-300:]
    assert world.snapshot().changes_from(before) == []
