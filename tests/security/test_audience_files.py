"""Bad audience CSVs: refused with file, line and column, exit 2, and nothing staged, sent or created.

Each case is staged with ``clarion outbox stage data-breach -f FACTS -r affected-customers=CSV`` on
the seeded store; the facts are good and name a new incident (INC-0077), so a file wrongly accepted
would stage it and the store would show it. Every row is checked before anything is stored.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.cases import (
    AUDIENCE_CSV,
    FRESH_FACTS,
    Build,
    assert_clear,
    bytes_file,
    case,
    fifo_unblocked,
    special,
    text_file,
)
from tests.security.conftest import World

NAME = r"audience\.csv"
ROW = 8
"""The line of a row added after the example file's seven."""


def row(
    id: str, line: str, field: str, message: str, *, at: str = str(ROW), fails: str | None = None
) -> object:
    """The example audience with ``line`` added as row 8; the error names line 8 (``at``), ``field`` and
    ``message`` (a pattern, searched after them)."""
    where = rf"^{NAME}:{at}: " + (f"{field}: .*" if field else "")
    return case(id, text_file("audience.csv", AUDIENCE_CSV + line + "\n"), (where + message,), fails=fails)


def header(id: str, names: str, message: str) -> object:
    return case(
        id,
        text_file("audience.csv", names + "\nc1,ada@example.com,,,\n"),
        (rf"^{NAME}:1: header: {message}",),
    )


def kind(id: str, what: str, pattern: str) -> object:
    return case(id, special(what, "audience.csv", AUDIENCE_CSV), (pattern,))


def _passwd(folder: Path) -> Path:
    return Path("/etc/passwd")


LOCALES = [
    row("locale-xx-nope", "c9,x@example.com,,xx-NOPE,", "locale", r"'xx-NOPE' is not a language tag"),
    row(
        "locale-traversal", "c9,x@example.com,,../../etc,", "locale", r"'\.\./\.\./etc' is not a language tag"
    ),
    row("locale-overlong", "c9,x@example.com,,en-" + "x" * 40 + ",", "locale", r"more than the 35"),
    row("time-zone-of-mars", "c9,x@example.com,,en,Mars/Base", "time_zone", r"'Mars/Base' is not an IANA"),
    row("time-zone-traversal", "c9,x@example.com,,en,../../../etc/passwd", "time_zone", r"not an IANA"),
]

HEADERS = [
    header(
        "repeated-column",
        "id,email,email,phone,locale,time_zone",
        r"column 'email' is named 2 times, in columns 2 \('email'\) and 3 \('email'\)",
    ),
    header("id-and-its-alias", "id,external_id,email,phone,locale", r"column 'id' is named 2 times"),
    header("unknown-column", "id,emial,phone,locale,time_zone", r"unknown column 'emial'"),
    header("no-id-column", "email,phone,locale,time_zone,external", r"the 'id' column is required"),
    header("not-a-header-at-all", "root:x:0:0:root:/root:/bin/bash", r"names none of the columns"),
    case("passwd-itself", _passwd, (r"^/etc/passwd:1: header: names none of the columns",)),
]

VALUES = [
    row("email-not-an-address", "c9,not-an-email,,,", "email", r"'not-an-email' is not an email address"),
    row("email-without-a-dot", "c9,ada@localhost,,,", "email", r"is not an email address"),
    row("email-double-dot", "c9,ada@example..com,,,", "email", r"is not an email address"),
    row("email-with-a-space", "c9,ada lovelace@example.com,,,", "email", r"is not an email address"),
    row("phone-too-short", "c9,,12345,,", "phone", r"'12345' is not a valid number in international form"),
    row("phone-no-such-country", "c9,,+999999999999999,,", "phone", r"is not a valid number"),
    row("phone-in-letters", "c9,,+1-CALL-NOW,,", "phone", r"is not a valid number"),
    row("id-missing", ",ada@example.com,,,", "id", r"missing: every recipient needs the id"),
    row("id-repeated", "c1001,other@example.com,,,", "id", r"'c1001' repeats the recipient on line 2"),
    row(
        "more-fields-than-the-header",
        "c9,x@example.com,,en,UTC,surplus",
        "",
        r"more fields than the header names \(6 fields, the header names 5\)",
    ),
    row("id-201-characters", "x" * 201 + ",x@example.com,,,", "id", r"201 characters, more than the 200"),
    row("email-300-characters", "c9," + "a" * 290 + "@example.com,,,", "email", r"more than the 254"),
    row("phone-40-characters", "c9,,+" + "1" * 39 + ",,", "phone", r"more than the 32"),
]

CONTROL = [
    row("id-with-esc", '"c9\x1b[2J",x@example.com,,,', "id", r"holds a control character U\+001B \(ESC\)"),
    row("email-with-osc", 'c9,"x\x1b]0;pwned\x07@example.com",,,', "email", r"U\+001B \(ESC\)"),
    row("id-with-rlo", "c9\u202e1,x@example.com,,,", "id", r"bidirectional control U\+202E"),
    row("id-with-a-tab", "c9\tx,x@example.com,,,", "id", r"holds a tab"),
    row("id-with-a-line-break", '"c9\nx",x@example.com,,,', "id", r"holds a line break", at="(8|9)"),
    row("id-with-nul", "c9\x00x,x@example.com,,,", "id", r"U\+0000 \(NUL\)"),
    row("id-with-del", "c9\x7f,x@example.com,,,", "id", r"U\+007F \(DEL\)"),
    row("id-with-a-carriage-return", '"c9\rx",x@example.com,,,', "id", r"U\+000D \(CR\)", at="(8|9)"),
    row("locale-with-c1", "c9,x@example.com,,en\x9b,", "locale", r"U\+009B \(CSI\)"),
]

SIZES = [
    case(
        "field-over-131072-characters",
        text_file("audience.csv", AUDIENCE_CSV + 'c9,"' + ("y" * 50_000 + "\n") * 3 + '",,,\n'),
        (rf"^{NAME}:\d+: cannot be read as CSV: a field is longer than 131,072 characters",),
    ),
    case(
        "line-over-64-ki-characters",
        text_file("audience.csv", AUDIENCE_CSV + "c9," + "z" * 140_000 + ",,,\n"),
        (rf"^{NAME}:{ROW}: the line is longer than 65,536 characters",),
    ),
    case(
        "every-row-wrong",
        text_file("audience.csv", AUDIENCE_CSV + "".join(f"c{n},bad,,,\n" for n in range(500))),
        (rf"^{NAME}:{ROW}: email: 'bad' is not an email address", r"… and 450 more problems"),
    ),
]

FILES = [
    case(
        "latin-1",
        bytes_file("audience.csv", (AUDIENCE_CSV + "c9,jos\xe9@example.com,,,\n").encode("latin-1")),
        (rf"^{NAME}:{ROW}: not UTF-8 text \(byte 0xe9\)",),
    ),
    kind("utf-16-with-bom", "utf-16", rf"^{NAME}:1: the recipients file is UTF-16 text"),
    kind("utf-16-without-bom", "utf-16-le", rf"^{NAME}:1: "),
    kind("utf-32", "utf-32", rf"^{NAME}:1: the recipients file is UTF-32 text"),
    kind("dev-zero", "dev-zero", r"^/dev/zero: is a character device"),
    kind("fifo", "fifo", rf"^{NAME}: is a named pipe \(FIFO\)"),
    kind("folder", "folder", rf"^{NAME}: is a folder"),
    kind("symlink-loop", "symlink-loop", rf"{NAME}: cannot read the recipients file: a symlink loop"),
    kind("missing", "missing", rf"^{NAME}: recipients file not found"),
    kind("empty", "empty", rf"^{NAME}:1: empty file: expected a header row"),
    kind("binary", "binary", rf"^{NAME}:1: not UTF-8 text"),
]


@pytest.mark.parametrize(("build", "says"), LOCALES + HEADERS + VALUES + CONTROL + SIZES + FILES)
def test_bad_audience_files_are_refused_with_file_line_column(
    world: World, build: Build, says: tuple[str, ...]
) -> None:
    world.seed()
    facts = text_file("facts.yaml", FRESH_FACTS)(world.work)
    audience = build(world.work)
    before = world.snapshot()

    with fifo_unblocked(world.work):
        outcome = world.run(
            "outbox", "stage", "data-breach", "-f", str(facts), "-r", f"affected-customers={audience}"
        )

    assert_clear(outcome, 2, says)
    assert "/bin/bash" not in outcome.err, "the error prints the file it refused"
    assert world.snapshot().changes_from(before) == []
