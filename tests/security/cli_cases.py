"""Command-line cases: how an argument table row looks, and the files its arguments may name.

Arguments may name ``{facts}`` (the example breach facts for a new incident, INC-0077), ``{csv}``
(the example audience), ``{other}`` (another small audience) and ``{dir}`` (an empty folder): the
test fills them in (:func:`filled`). Exit codes as ``faces/cli.py`` documents them: 2 for a person's
bad input, 1 for what clarion refuses otherwise (a missing store, an unreachable server).
"""

from __future__ import annotations

from tests.security.cases import AUDIENCE_CSV, FRESH_FACTS, assert_clear, case, fill, text_file
from tests.security.conftest import World

ESCAPE = "\x1b[2J"
RETITLE = "\x1b]0;pwned\x07"
SHOWN = r"\\x1b"
"""How an escape is shown in an error: spelled out."""
BY = ("--by", "ada@example.com")
LATE = "9999-12-31T00:00:00Z"


def arg(id: str, args: tuple[str, ...], code: int, *says: str, fails: str | None = None) -> object:
    """A row: the arguments, the exit code, and patterns stderr must hold."""
    return case(id, args, code, says, fails=fails)


def filled(world: World, args: tuple[str, ...]) -> list[str]:
    """``args`` with the named files made and filled in."""
    facts = text_file("facts.yaml", FRESH_FACTS)(world.work)
    csv = text_file("audience.csv", AUDIENCE_CSV)(world.work)
    other = text_file("other.csv", "id,email\nc9001,zoe@example.com\n")(world.work)
    folder = world.work / "empty"
    folder.mkdir(exist_ok=True)
    names = {"facts": str(facts), "csv": str(csv), "other": str(other), "dir": str(folder)}
    return [fill(value, names) for value in args]


def refused_before_anything_happens(
    world: World, args: tuple[str, ...], code: int, says: tuple[str, ...]
) -> None:
    """On the seeded store: the exit code and message, and nothing changed, sent or asked."""
    world.seed()
    arguments = filled(world, args)
    before = world.snapshot()

    outcome = world.run(*arguments)

    assert_clear(outcome, code, says)
    assert world.snapshot().changes_from(before) == []
