"""Bad playbooks, as cases: the shipped data-breach playbook with one thing wrong, and how it is staged.

Each case's playbook is written to ``pb/data-breach.yaml`` and staged with ``clarion outbox stage
pb/data-breach.yaml -f FACTS -r affected-customers=CSV`` on the seeded store: a playbook wrongly
accepted would stage a new incident (INC-0077), and the store would show it.
"""

from __future__ import annotations

import re

from tests.helpers import PLAYBOOKS
from tests.security.cases import (
    AUDIENCE_CSV,
    FRESH_FACTS,
    Build,
    Outcome,
    assert_clear,
    case,
    fifo_unblocked,
    line_in,
    replaced,
    special,
    text_file,
)
from tests.security.conftest import World

PLAYBOOK = (PLAYBOOKS / "data-breach.yaml").read_text(encoding="utf-8")
FILE = "pb/data-breach.yaml"
NAME = re.escape(FILE)
SHORT = "      short: >-\n        {{ super() }} Reset your password: {{ links.password_reset }}"
SQL_SOURCE = 'source: {sql: "select external_id, email, phone, locale, time_zone from affected_customers"}'


def edit(
    id: str,
    old: str,
    new: str,
    field: str,
    message: str,
    *,
    needle: str | None = None,
    fails: str | None = None,
) -> object:
    """The playbook with ``old`` replaced by ``new``; the error names the line of ``needle`` (the first
    line of ``new``), the ``field`` and the ``message`` (a pattern)."""
    text = replaced(PLAYBOOK, old, new)
    line = line_in(text, needle if needle is not None else new.strip("\n").splitlines()[0])
    where = rf"^{NAME}:{line}: " + (re.escape(field) + ": " if field else "")
    return case(id, text_file(FILE, text), (where + ".*" + message,), fails=fails)


def override(id: str, snippet: str, message: str, *, fails: str | None = None) -> object:
    """The English fix part's short override replaced by ``snippet`` (one line)."""
    return edit(
        id,
        SHORT,
        "      short: >-\n        " + snippet,
        "parts.en.fix.short",
        message,
        needle="      short: >-",
        fails=fails,
    )


def kind(id: str, what: str, pattern: str) -> object:
    return case(id, special(what, FILE, PLAYBOOK), (pattern,))


def stage_refused(
    world: World,
    build: Build,
    says: tuple[str, ...],
    *,
    sources: tuple[str, ...],
    env: dict[str, str] | None = None,
) -> Outcome:
    """Stage the playbook ``build`` makes with good facts (and ``sources``): exit 2 saying ``says``,
    nothing changed."""
    world.seed()
    text_file("audience.csv", AUDIENCE_CSV)(world.work)
    facts = text_file("facts.yaml", FRESH_FACTS)(world.work)
    playbook = build(world.work)
    before = world.snapshot()

    with fifo_unblocked(world.work):
        outcome = world.run("outbox", "stage", str(playbook), "-f", str(facts), *sources, env=env)

    assert_clear(outcome, 2, says)
    assert world.snapshot().changes_from(before) == []
    return outcome
