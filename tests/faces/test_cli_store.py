"""`clarion db upgrade` and `clarion audit verify`, run as a user runs them: the installed command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from clarion import audit, store

CLARION = str(Path(sys.executable).with_name("clarion"))


def clarion(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLARION_HOME": str(home)}
    return subprocess.run([CLARION, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_db_upgrade_creates_the_sqlite_store(tmp_path: Path) -> None:
    done = clarion(tmp_path, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "clarion.db").is_file()
    assert f"store at {store.head_revision()}" in done.stdout


def test_audit_verify_passes_then_names_the_tampered_entry(tmp_path: Path) -> None:
    engine = store.make_engine(f"sqlite:///{tmp_path / 'clarion.db'}")
    store.migrate(engine)
    with store.session_scope(engine) as session:
        for n in range(3):
            audit.append(
                session=session,
                actor="ada",
                action="update.approved",
                subject=f"INC-0042/update/{n}",
                details={"role": "legal"},
            )
    done = clarion(tmp_path, "audit", "verify")
    assert done.returncode == 0, done.stderr
    assert "audit log intact: 3 entries" in done.stdout

    with engine.begin() as connection:  # someone with database access: drop the guard, edit entry 2
        connection.exec_driver_sql("DROP TRIGGER audit_event_no_update")
        connection.execute(sa.text("UPDATE audit_event SET actor = 'mallory' WHERE id = 2"))
    engine.dispose()
    done = clarion(tmp_path, "audit", "verify")
    assert done.returncode == 2
    assert "audit log TAMPERED: audit entry 2" in done.stderr
    assert done.stdout == ""


def test_a_cut_off_tail_is_found_against_a_recorded_head(tmp_path: Path) -> None:
    engine = store.make_engine(f"sqlite:///{tmp_path / 'clarion.db'}")
    store.migrate(engine)
    with store.session_scope(engine) as session:
        for n in range(3):
            audit.append(
                session=session, actor="ada", action="update.sent", subject=f"INC-0042/update/{n}", details={}
            )
    head = clarion(tmp_path, "audit", "verify").stdout.split("head ")[1].strip()
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER audit_event_no_delete")
        connection.execute(sa.text("DELETE FROM audit_event WHERE id = 3"))
    engine.dispose()
    assert clarion(tmp_path, "audit", "verify").returncode == 0  # the chain alone cannot tell
    done = clarion(tmp_path, "audit", "verify", "--anchor", head)
    assert done.returncode == 2, done.stdout
    assert "TAMPERED" in done.stderr


def test_commands_that_only_read_never_create_a_store(tmp_path: Path) -> None:
    """Issue 12: `clarion status` with a store URL in a folder that does not exist made the folder
    and the database and answered "no incidents yet"."""
    missing = tmp_path / "nonexistent" / "dir"
    env = {
        **os.environ,
        "CLARION_HOME": str(tmp_path / "home"),
        "CLARION_DATABASE_URL": f"sqlite:///{missing}/x.db",
    }
    commands = [
        ("status",),
        ("status", "INC-0001"),
        ("outbox", "status"),
        ("audit", "verify"),
        ("deadlines", "INC-0001"),
        ("approve", "INC-0001", "--as", "dpo", "--by", "dpo@example.com"),
    ]
    for command in commands:
        done = subprocess.run(
            [CLARION, *command], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        said = done.stdout + done.stderr
        assert "Traceback" not in said, (command, said)
        assert str(missing / "x.db") in said or "no incident 'INC-0001'" in said, (command, said)
        assert done.returncode in (0, 1, 2), (command, done.returncode)
        assert not (tmp_path / "nonexistent").exists(), command


def test_the_store_is_created_private(tmp_path: Path) -> None:
    """It holds recipients' addresses: the file 0600, its folder 0700, like secret.key."""
    done = clarion(tmp_path / "home", "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "home").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "home" / "clarion.db").stat().st_mode & 0o777 == 0o600
