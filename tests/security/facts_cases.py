"""Bad facts files, as cases: the example breach facts with one thing wrong, and how they are staged.

Every case is staged with ``clarion outbox stage data-breach -f FACTS -r affected-customers=CSV`` (a
good audience) on the seeded store. The facts name a new incident (INC-0077): facts wrongly accepted
would be staged, and the store would show it.
"""

from __future__ import annotations

import re

from tests.security.cases import (
    AUDIENCE_CSV,
    FRESH_FACTS,
    Build,
    assert_clear,
    case,
    fifo_unblocked,
    line_in,
    replaced,
    special,
    text_file,
)
from tests.security.conftest import World

NAME = r"facts\.yaml"
ESC = r"control character U\+001B \(ESC\)"


def edit(
    id: str,
    old: str,
    new: str,
    field: str,
    message: str,
    *,
    needle: str | None = None,
    base: str = FRESH_FACTS,
    fails: str | None = None,
) -> object:
    """A case: the example facts with ``old`` replaced by ``new``; the error names the line of
    ``needle`` (the first line of ``new`` by default), ``field`` and ``message`` (a pattern)."""
    text = replaced(base, old, new)
    line = line_in(text, needle if needle is not None else new.strip("\n").splitlines()[0])
    where = rf"^{NAME}:{line}: " + (re.escape(field) + ": " if field else "")
    return case(id, text_file("facts.yaml", text), (where + ".*" + message,), fails=fails)


def whole(id: str, text: str, pattern: str, *, fails: str | None = None) -> object:
    return case(id, text_file("facts.yaml", text), (pattern,), fails=fails)


def kind(id: str, what: str, pattern: str, *, fails: str | None = None) -> object:
    return case(id, special(what, "facts.yaml", FRESH_FACTS), (pattern,), fails=fails)


TITLE = "title: Customer contact details exposed through a misconfigured export"
AS_OF = "as_of: 2026-11-23T09:00:00Z"
SHORT = 'short: "We are sorry: 8 200 customers\' names, emails and phone numbers were exposed today."'


def stage_refused(world: World, build: Build, says: tuple[str, ...]) -> None:
    """Stage the facts ``build`` makes with a good audience: exit 2 saying ``says``, nothing changed."""
    world.seed()
    audience = text_file("audience.csv", AUDIENCE_CSV)(world.work)
    facts = build(world.work)
    before = world.snapshot()

    with fifo_unblocked(world.work):
        outcome = world.run(
            "outbox", "stage", "data-breach", "-f", str(facts), "-r", f"affected-customers={audience}"
        )

    assert_clear(outcome, 2, says)
    assert world.snapshot().changes_from(before) == []
