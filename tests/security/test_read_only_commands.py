"""Commands that only read: they never create a store (nor its folder), never migrate an old one, and
print what they read back (from an older store, from the sandbox) with control characters spelled out.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import httpx
import pytest

from clarion import store
from clarion.files.text import first_unsafe
from tests.security.cases import assert_clear, case
from tests.security.cli_cases import BY, arg, filled
from tests.security.conftest import World

# ── commands that only read never create the store ────────────────────────────────────────────────

NO_STORE = r"no clarion store at .*: create it with `clarion db upgrade`"
READERS = [
    arg("status", ("status",), 0),
    arg("status-of-an-incident", ("status", "INC-0042"), 2, r"no incident 'INC-0042'"),
    arg("outbox-status", ("outbox", "status"), 1, NO_STORE),
    arg("audit-verify", ("audit", "verify"), 1, NO_STORE),
    arg("deadlines", ("deadlines", "INC-0042"), 1, NO_STORE),
    arg("notify-regulator", ("notify-regulator", "INC-0042", "--regime", "gdpr-art33"), 1, NO_STORE),
    arg("deadline-event", ("deadline-event", "INC-0042", "materiality-determined", *BY), 1, NO_STORE),
    arg("deadline-watch", ("deadline-watch", "INC-0042"), 2, r"no incident 'INC-0042'"),
    arg("approve", ("approve", "INC-0042", "--as", "dpo", "--by", "dpo@example.com"), 2, r"no incident"),
    arg(
        "update", ("update", "INC-0042", "--status", "monitoring", "--no-wait"), 2, r"no incident 'INC-0042'"
    ),
    arg("preview", ("preview", "data-breach", "-f", "{facts}"), 0),
    arg("playbooks-lint", ("playbooks", "lint"), 0),
]


@pytest.mark.parametrize("where", ["home", "missing-folder"])
@pytest.mark.parametrize(("args", "code", "says"), READERS)
def test_commands_that_only_read_never_create_a_store(
    world: World, where: str, args: tuple[str, ...], code: int, says: tuple[str, ...]
) -> None:
    env = {}
    home = world.home
    if where == "missing-folder":
        home = world.work / "no" / "such" / "folder"
        env = {"CLARION_DATABASE_URL": f"sqlite:///{home / 'clarion.db'}"}
    arguments = filled(world, args)
    before = world.snapshot(home)

    outcome = world.run(*arguments, env=env)

    if code == 0:
        assert outcome.code == 0, outcome
        assert "Traceback" not in outcome.err
    else:
        assert_clear(outcome, code, says)
    assert world.snapshot(home).changes_from(before) == []
    assert not (home / "clarion.db").exists()
    assert where == "home" or not home.parent.exists(), "the store's folder was created"


# ── nor migrate one ───────────────────────────────────────────────────────────────────────────────

NEEDS = store.head_revision()
OLD_SCHEMA = rf"the store at .* is at revision 0004, this clarion needs {NEEDS}: run `clarion db upgrade`"
NO_MIGRATION = [
    arg("status", ("status",), 1, OLD_SCHEMA),
    arg("status-of-an-incident", ("status", "INC-0042"), 1, OLD_SCHEMA),
    arg("outbox-status", ("outbox", "status"), 1, OLD_SCHEMA),
    arg("audit-verify", ("audit", "verify"), 1, OLD_SCHEMA),
    arg("deadlines", ("deadlines", "INC-0042"), 1, OLD_SCHEMA),
    arg("deadline-event", ("deadline-event", "INC-0042", "materiality-determined", *BY), 1, OLD_SCHEMA),
    arg("approve", ("approve", "INC-0042", "--as", "dpo", "--by", "dpo@example.com"), 1, OLD_SCHEMA),
    arg("update", ("update", "INC-0042", "--status", "monitoring", "--no-wait"), 1, OLD_SCHEMA),
]


@pytest.fixture(scope="module")
def old_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose schema is one migration behind (revision 0004)."""
    path = tmp_path_factory.mktemp("old") / "clarion.db"
    engine = store.make_engine(f"sqlite:///{path}")
    store.migrate(engine, revision="0004")
    engine.dispose()
    return path


@pytest.mark.parametrize(("args", "code", "says"), NO_MIGRATION)
def test_commands_that_only_read_never_migrate_an_old_store(
    world: World, old_store: Path, args: tuple[str, ...], code: int, says: tuple[str, ...]
) -> None:
    shutil.copyfile(old_store, world.store_path)
    before = world.snapshot()

    outcome = world.run(*filled(world, args))

    assert_clear(outcome, code, says)
    assert world.snapshot().changes_from(before) == []


# ── text read back from an older store: shown, never obeyed ───────────────────────────────────────

POISON = "Checkout\x1b[2J\x1b]0;pwned\x07\u202e"
POISONED = (
    ("UPDATE incident SET title = ?, commander = ?", 2),
    ("UPDATE approval SET approver = ?, reason = ?", 2),
    ("UPDATE deadline SET override_reason = ?, recipient = ?", 2),
    ("UPDATE delivery SET error_detail = ?, state = 'failed', error_code = ?", 2),
    ("UPDATE incident_update SET facts = json_set(facts, '$.title', ?, '$.breach.nature', ?)", 2),
)
READ_BACK = [
    case("status", ("status",), False),
    case("status-of-an-incident", ("status", "INC-0042"), True),
    case("status-of-the-outage", ("status", "INC-0043"), True),
    case(
        "deadlines",
        ("deadlines", "INC-0042"),
        True,
    ),
    case(
        "notify-regulator",
        ("notify-regulator", "INC-0042", "--regime", "gdpr-art33"),
        True,
    ),
    case("outbox-status", ("outbox", "status"), False),
]


@pytest.mark.parametrize(("args", "shows"), READ_BACK)
def test_text_read_back_from_the_store_is_printed_spelled_out(
    world: World, args: tuple[str, ...], shows: bool
) -> None:
    """A store written before control characters were refused may hold them; what prints them spells
    them out (``\\x1b``) instead of letting them clear or retitle the terminal."""
    world.seed()
    connection = sqlite3.connect(world.store_path)
    with connection:
        for statement, count in POISONED:
            connection.execute(statement, (POISON,) * count)
    connection.close()

    outcome = world.run(*args)

    shown = f"exit {outcome.code}\n{outcome.out}\n{outcome.err}"
    assert outcome.code == 0, shown
    assert "Traceback" not in outcome.err, shown
    assert first_unsafe(outcome.out + outcome.err) is None, f"printed raw: {shown}"
    assert not shows or "\\x1b" in outcome.out, f"the stored text is not shown at all: {shown}"


def test_text_read_back_from_the_sandbox_is_printed_spelled_out(world: World) -> None:
    """What a provider accepted (here a subject with a terminal escape) is shown by ``sandbox inbox``
    spelled out."""
    mail = {
        "from": {"email": "incidents@example.com"},
        "subject": f"Payments {POISON}",
        "content": [{"type": "text/plain", "value": f"We are investigating {POISON}"}],
        "personalizations": [{"to": [{"email": "ada@example.com"}]}],
    }
    sent = httpx.post(
        f"{world.sandbox.url}/v3/mail/send", json=mail, headers={"Authorization": "Bearer SG.x"}, timeout=10
    )
    assert sent.status_code == 202, sent.text

    outcome = world.run("sandbox", "inbox", "--channel", "email", "--limit", "1")

    shown = f"exit {outcome.code}\n{outcome.out}\n{outcome.err}"
    assert outcome.code == 0, shown
    assert first_unsafe(outcome.out + outcome.err) is None, f"printed raw: {shown}"
    assert "\\x1b" in outcome.out, shown
