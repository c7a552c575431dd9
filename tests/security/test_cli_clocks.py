"""The regulatory clock commands (``deadline-event | deadline-override | deadline-waive |
notify-regulator | deadlines | deadline-watch``): times from another age (``--at 9999-12-31T00:00:00Z``),
times without an offset, unknown events, regimes and stages, paths that cannot be written; and text
given on the command line that would be stored (reasons, who did it, references, a worker's name),
which may not carry control characters.
"""

from __future__ import annotations

import pytest

from tests.security.cli_cases import BY, LATE, RETITLE, SHOWN, arg, refused_before_anything_happens
from tests.security.conftest import World

CLOCKS = [
    arg(
        "event-in-9999",
        ("deadline-event", "INC-0042", "materiality-determined", *BY, "--at", LATE),
        2,
        r"at: '9999-12-31T00:00:00Z' is not between 2000-01-01 and 2100-01-01",
    ),
    arg(
        "event-on-february-30",
        ("deadline-event", "INC-0042", "materiality-determined", *BY, "--at", "2026-02-30T00:00:00Z"),
        2,
        r"is not an ISO 8601 time",
    ),
    arg(
        "event-without-offset",
        ("deadline-event", "INC-0042", "materiality-determined", *BY, "--at", "2026-11-23T10:00"),
        2,
        r"has no offset",
    ),
    arg(
        "event-in-words",
        ("deadline-event", "INC-0042", "materiality-determined", *BY, "--at", "yesterday"),
        2,
        r"'yesterday' is not an ISO 8601 time",
    ),
    arg(
        "event-in-1970",
        ("deadline-event", "INC-0042", "materiality-determined", *BY, "--at", "1970-01-01T00:00:00Z"),
        2,
        r"check the year",
    ),
    arg(
        "event-unknown",
        ("deadline-event", "INC-0042", "moon-landing", *BY),
        2,
        r"'moon-landing' is not one of",
    ),
    arg(
        "event-short-reference",
        ("deadline-event", "INC-1", "materiality-determined", *BY),
        2,
        r"is not an incident reference",
    ),
    arg(
        "override-stage-without-regime",
        ("deadline-override", "INC-0042", "gdpr-art33", "--due", "now", "--reason", "granted", *BY),
        2,
        r"write REGIME/STAGE",
    ),
    arg(
        "override-unknown-regime",
        ("deadline-override", "INC-0042", "nope/initial", "--due", "now", "--reason", "granted", *BY),
        2,
        r"does not run 'nope'",
    ),
    arg(
        "override-unknown-stage",
        ("deadline-override", "INC-0042", "gdpr-art33/nope", "--due", "now", "--reason", "granted", *BY),
        2,
        r"stage: ",
    ),
    arg(
        "override-due-a-number",
        ("deadline-override", "INC-0042", "gdpr-art33/initial", "--due", "99999", "--reason", "granted", *BY),
        2,
        r"due: ",
    ),
    arg(
        "override-without-reason",
        (
            "deadline-override",
            "INC-0042",
            "gdpr-art33/initial",
            "--due",
            "2026-12-01T00:00:00Z",
            "--reason",
            " ",
            *BY,
        ),
        2,
        r"reason: ",
    ),
    arg(
        "waive-unknown-stage",
        ("deadline-waive", "INC-0042", "gdpr-art33/nope", "--reason", "n/a", *BY),
        2,
        r"stage: ",
    ),
    arg(
        "notify-unknown-regime",
        ("notify-regulator", "INC-0042", "--regime", "nope"),
        2,
        r"does not run 'nope'",
    ),
    arg(
        "notify-unknown-stage",
        ("notify-regulator", "INC-0042", "--regime", "gdpr-art33", "--stage", "nope"),
        2,
        r"stage",
    ),
    arg(
        "notify-out-in-a-missing-folder",
        ("notify-regulator", "INC-0042", "--regime", "gdpr-art33", "--out", "no/such/folder/notice.md"),
        2,
        r"no/such/folder/notice\.md",
    ),
    arg(
        "notify-out-a-folder",
        ("notify-regulator", "INC-0042", "--regime", "gdpr-art33", "--out", "{dir}"),
        2,
        r"(folder|directory)",
    ),
    arg(
        "notify-submitted-without-by",
        ("notify-regulator", "INC-0042", "--regime", "gdpr-art33", "--submitted"),
        2,
        r"--submitted needs --by",
    ),
    arg(
        "notify-submitted-in-9999",
        ("notify-regulator", "INC-0042", "--regime", "gdpr-art33", "--submitted", *BY, "--at", LATE),
        2,
        r"check the year",
    ),
    arg("deadlines-unknown-incident", ("deadlines", "INC-9999"), 2, r"no incident 'INC-9999'"),
    arg("deadlines-traversal", ("deadlines", "../x"), 2, r"is not an incident reference"),
    arg("watch-unknown-incident", ("deadline-watch", "INC-9999"), 2, r"no incident 'INC-9999'"),
]


STORED = "control characters in a command-line value that is stored are not refused: "
TRACEBACK = "control characters in a command-line value give a traceback (pydantic ValidationError of "
DUE = ("--due", "2026-12-30T00:00:00Z")
STORED_TEXT = [
    arg(
        "override-reason-retitles",
        ("deadline-override", "INC-0042", "gdpr-art33/initial", *DUE, "--reason", RETITLE, *BY),
        2,
        SHOWN,
    ),
    arg(
        "override-by-retitles",
        ("deadline-override", "INC-0042", "gdpr-art33/initial", *DUE, "--reason", "granted", "--by", RETITLE),
        2,
        SHOWN,
    ),
    arg(
        "event-by-retitles",
        ("deadline-event", "INC-0042", "materiality-determined", "--by", RETITLE),
        2,
        SHOWN,
    ),
    arg(
        "waive-reason-retitles",
        ("deadline-waive", "INC-0042", "gdpr-art34/data-subjects", "--reason", RETITLE, *BY),
        2,
        SHOWN,
    ),
    arg(
        "notify-reference-retitles",
        (
            "notify-regulator",
            "INC-0042",
            "--regime",
            "gdpr-art33",
            "--submitted",
            *BY,
            "--reference",
            RETITLE,
        ),
        2,
        SHOWN,
    ),
    arg(
        "notify-by-retitles",
        ("notify-regulator", "INC-0042", "--regime", "gdpr-art33", "--submitted", "--by", RETITLE),
        2,
        SHOWN,
    ),
    arg(
        "worker-name-retitles",
        ("outbox", "work", "--name", RETITLE, "--no-progress", "--max-wait", "0"),
        2,
        SHOWN,
    ),
    arg(
        "approve-reason-retitles",
        ("approve", "INC-0042", "--as", "dpo", "--by", "dpo@example.com", "--reason", RETITLE),
        2,
        SHOWN,
    ),
    arg(
        "declare-commander-retitles",
        ("declare", "data-breach", "-f", "{facts}", "--commander", RETITLE, "--no-wait"),
        2,
        SHOWN,
    ),
]


@pytest.mark.parametrize(("args", "code", "says"), CLOCKS)
def test_bad_clock_arguments_are_refused_before_anything_happens(
    world: World, args: tuple[str, ...], code: int, says: tuple[str, ...]
) -> None:
    refused_before_anything_happens(world, args, code, says)


@pytest.mark.parametrize(("args", "code", "says"), STORED_TEXT)
def test_control_characters_in_arguments_that_are_stored_are_refused(
    world: World, args: tuple[str, ...], code: int, says: tuple[str, ...]
) -> None:
    refused_before_anything_happens(world, args, code, says)
