"""Update files (``clarion update`` / ``resolve``) and facts read by ``preview`` and ``declare``.

``declare``, ``update`` and ``resolve`` start flow runs on the Prefect server; everything they can
check is checked before it is asked. The fake server of the conftest records every request, so each
case proves the server never heard of the bad input, on top of exit 2 with file, line and field, and
a store and sandbox left as they were.
"""

from __future__ import annotations

import pytest

from tests.security.cases import (
    BREACH_FACTS,
    FRESH_FACTS,
    Build,
    alias_bomb,
    assert_clear,
    case,
    fifo_unblocked,
    replaced,
    special,
    text_file,
)
from tests.security.conftest import World

UPDATE = """\
status: monitoring
impact:
  affected_count: 9000
story:
  en:
    fix: Wir haben den Zugang gesperrt und die Protokolle geprüft.
"""
NAME = r"update\.yaml"
ESC = r"control character U\+001B \(ESC\)"
TIME_BOUND = "the bound on facts' times (2000-2100) is not applied to an update file's as_of: "


def changed(id: str, extra: str, pattern: str, *, fails: str | None = None) -> object:
    """The base update file with ``extra`` appended (a key, or a new value for one)."""
    return case(id, ("update", "INC-0042"), text_file("update.yaml", UPDATE + extra), (pattern,), fails=fails)


def written(id: str, text: str, pattern: str, *, command: tuple[str, ...] = ("update", "INC-0042")) -> object:
    return case(id, command, text_file("update.yaml", text), (pattern,))


def kind(id: str, what: str, pattern: str) -> object:
    return case(id, ("update", "INC-0042"), special(what, "update.yaml", UPDATE), (pattern,))


UPDATE_CASES = [
    changed("unknown-key", "nope: 1\n", rf"^{NAME}:7: nope: unknown key"),
    changed(
        "reference-of-another-incident",
        "reference: INC-0043\n",
        rf"^{NAME}:7: reference: 'INC-0043', but you named INC-0042",
    ),
    written(
        "status-bogus", UPDATE.replace("monitoring", "bogus"), rf"^{NAME}:1: status: 'bogus' is not one of"
    ),
    changed(
        "severity-unknown",
        "severity: sev9\n",
        rf"^{NAME}:7: severity: 'sev9' is not one of sev1, sev2 \(playbook data-breach\)",
    ),
    changed(
        "story-locale-unknown",
        "  fr:\n    fix: Nous avons corrigé.\n",
        rf"^{NAME}:7: story\.fr: locale 'fr' is not in playbook data-breach",
    ),
    changed("story-with-escape", '  de:\n    fix: "\\e[2J Behoben."\n', rf"^{NAME}:8: story\.de\.fix.*{ESC}"),
    changed("title-with-osc", 'title: "\\e]0;pwned\\a"\n', rf"^{NAME}:7: title: .*{ESC}"),
    written("affected-negative", UPDATE.replace("9000", "-5"), rf"^{NAME}:3: impact\.affected_count: "),
    changed("contact-without-a-path", "contact: {}\n", rf"^{NAME}:7: contact: .*at least one of phone"),
    changed("as-of-february-30", "as_of: 2026-02-30T09:00:00Z\n", rf"^{NAME}:7: as_of: .*day value"),
    changed(
        "as-of-1970",
        "as_of: 1970-01-01T00:00:00Z\n",
        rf"^{NAME}:7: as_of: .*check the year",
    ),
    changed(
        "next-update-2126",
        "next_update_by: 2126-11-23T09:00:00Z\n",
        rf"^{NAME}:7: next_update_by: .*check the year",
    ),
    changed(
        "title-empty",
        'title: ""\n',
        rf"^{NAME}:7: title: .*at least 1 character",
    ),
    changed("alias-bomb", alias_bomb(), rf"^{NAME}:\d+: the document has more than"),
    written("a-list-not-keys", "- status: monitoring\n", rf"^{NAME}:1: expected keys: what changed"),
    written("just-text", "monitoring\n", rf"^{NAME}:1: expected keys: what changed"),
    kind("dev-zero", "dev-zero", r"^/dev/zero: is a character device"),
    kind("fifo", "fifo", rf"^{NAME}: is a named pipe"),
    kind("latin-1", "latin-1", rf"^{NAME}:\d+: not UTF-8 text"),
    kind("utf-16", "utf-16", rf"^{NAME}:1: the file is UTF-16 text"),
    kind("folder", "folder", rf"^{NAME}: is a folder"),
    written(
        "resolution-that-is-not-resolved",
        "status: investigating\n",
        rf"^{NAME}:1: status: a resolution's status is resolved",
        command=("resolve", "INC-0042"),
    ),
    written(
        "resolution-of-an-unknown-incident",
        "status: resolved\n",
        r"no incident 'INC-9999'",
        command=("resolve", "INC-9999"),
    ),
    written(
        "update-of-an-unknown-incident", UPDATE, r"no incident 'INC-9999'", command=("update", "INC-9999")
    ),
]


@pytest.mark.parametrize(("command", "build", "says"), UPDATE_CASES)
def test_bad_update_files_are_refused_before_the_server_is_asked(
    world: World, command: tuple[str, ...], build: Build, says: tuple[str, ...]
) -> None:
    world.seed()
    update = build(world.work)
    before = world.snapshot()

    with fifo_unblocked(world.work):
        outcome = world.run(*command, "-f", str(update), "--no-wait")

    assert_clear(outcome, 2, says)
    assert world.snapshot().changes_from(before) == []


# ── the same facts through every command that reads them ─────────────────────────────────────────

ESC_TITLE = replaced(FRESH_FACTS, "title: Customer", 'title: "\\e[2J Customer')
ESC_TITLE = ESC_TITLE.replace("misconfigured export\n", 'misconfigured export"\n', 1)
FEB_30 = replaced(FRESH_FACTS, "as_of: 2026-11-23T09:00:00Z", "as_of: 2026-02-30T09:00:00Z")
AMPLIFIED = replaced(
    FRESH_FACTS,
    "components: [customer-export]",
    "components: [&big " + "x" * 100_000 + ", " + ", ".join(["*big"] * 1000) + "]",
)


def facts_case(
    id: str, command: tuple[str, ...], build: Build, pattern: str, *, fails: str | None = None
) -> object:
    return case(id, command, build, (pattern,), fails=fails)


def facts(text: str) -> Build:
    return text_file("facts.yaml", text)


COMMAND_CASES = [
    facts_case(
        "preview-escape-in-title",
        ("preview", "data-breach"),
        facts(ESC_TITLE),
        rf"^facts\.yaml:4: title: {ESC}",
    ),
    facts_case(
        "preview-dev-zero",
        ("preview", "data-breach"),
        special("dev-zero", "facts.yaml"),
        r"^/dev/zero: is a character device",
    ),
    facts_case("preview-fifo", ("preview", "data-breach"), special("fifo", "facts.yaml"), r"named pipe"),
    facts_case("preview-february-30", ("preview", "data-breach"), facts(FEB_30), r"^facts\.yaml:9: as_of: "),
    facts_case(
        "preview-alias-bomb",
        ("preview", "data-breach"),
        facts(FRESH_FACTS + alias_bomb()),
        r"^facts\.yaml:\d+: the document has more than",
    ),
    facts_case(
        "preview-scalar-alias-amplification",
        ("preview", "data-breach"),
        facts(AMPLIFIED),
        r"^facts\.yaml:19: the document has more than 4 Mi characters of text",
    ),
    facts_case(
        "declare-escape-in-title",
        ("declare", "data-breach", "--no-wait"),
        facts(ESC_TITLE),
        rf"^facts\.yaml:4: title: {ESC}",
    ),
    facts_case(
        "declare-fifo", ("declare", "data-breach", "--no-wait"), special("fifo", "facts.yaml"), r"named pipe"
    ),
    facts_case(
        "declare-symlink-loop",
        ("declare", "data-breach", "--no-wait"),
        special("symlink-loop", "facts.yaml"),
        r"a symlink loop",
    ),
    facts_case(
        "declare-february-30",
        ("declare", "data-breach", "--no-wait"),
        facts(FEB_30),
        r"^facts\.yaml:9: as_of: ",
    ),
    facts_case(
        "declare-already-declared",
        ("declare", "data-breach", "--no-wait"),
        facts(BREACH_FACTS),
        r"^facts\.yaml:3: reference: INC-0042 is already declared",
    ),
    facts_case(
        "declare-with-another-playbook",
        ("declare", "outage", "--no-wait"),
        facts(FRESH_FACTS),
        r"^facts\.yaml:\d+: .*playbook outage",
    ),
    facts_case(
        "declare-unknown-jurisdiction",
        ("declare", "data-breach", "--no-wait", "-j", "Mars"),
        facts(FRESH_FACTS),
        r"jurisdictions: no regime of jurisdiction 'Mars'",
    ),
    facts_case(
        "declare-a-playbook-outside-the-folder",
        ("declare", "elsewhere/data-breach.yaml", "--no-wait"),
        facts(FRESH_FACTS),
        r"the server runs the playbooks in .* only",
    ),
]


@pytest.mark.parametrize(("command", "build", "says"), COMMAND_CASES)
def test_facts_are_refused_alike_by_every_command_that_reads_them(
    world: World, command: tuple[str, ...], build: Build, says: tuple[str, ...]
) -> None:
    world.seed()
    elsewhere = world.work / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "data-breach.yaml").write_bytes((world.playbooks / "data-breach.yaml").read_bytes())
    facts_file = build(world.work)
    before = world.snapshot()

    with fifo_unblocked(world.work):
        outcome = world.run(*command, "-f", str(facts_file))

    assert_clear(outcome, 2, says)
    assert world.snapshot().changes_from(before) == []
