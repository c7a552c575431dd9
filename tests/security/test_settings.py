"""Unusable settings: one line naming the setting (or the store it points to), exit 1, no traceback,
no secret printed, and nothing written, migrated or sent.

Each setting is tried on a few commands: one that only reads (``status``), one that writes
(``outbox stage`` or ``db upgrade``) and, for what only delivery uses, ``outbox work`` on the seeded
store, whose outage messages wait in the outbox: a setting that should stop the worker and does not
shows up as messages in the provider sandbox.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.security.cases import (
    AUDIENCE_CSV,
    FRESH_FACTS,
    assert_clear,
    case,
    fifo_unblocked,
    fill,
    text_file,
)
from tests.security.conftest import World

STAGE = ("outbox", "stage", "data-breach", "-f", "{facts}", "-r", "affected-customers={csv}")
WORK = ("outbox", "work", "--no-progress", "--max-wait", "0")
STATUS = ("status",)
PREVIEW = ("preview", "data-breach", "-f", "{facts}")
UNREACHABLE = "postgresql://nobody:hunter2secret@127.0.0.1:9/clarion"
FIFO = "<fifo>"
FILES = (".env", "secret.key")
"""Keys of a case's ``env`` that are files to make: ``.env`` in the working folder, ``secret.key`` in
the home; their value is the content, or :data:`FIFO`."""


def setting(
    id: str,
    env: dict[str, str],
    args: tuple[str, ...],
    *says: str,
    code: int = 1,
    fails: str | None = None,
) -> object:
    return case(id, env, args, code, says, fails=fails)


def each(name: str, value: str, message: str, *commands: tuple[str, ...]) -> list[object]:
    """``name=value`` on every command, each saying ``setting NAME = 'value': message``."""
    label = {STATUS: "status", STAGE: "stage", WORK: "work", PREVIEW: "preview"}
    return [
        setting(
            f"{name.removeprefix('CLARION_').lower()}-{value or 'empty'}-{label[command]}",
            {name: value},
            command,
            rf"^error: setting {name} = .*{message}",
        )
        for command in commands
    ]


RATES = "CLARION_PROVIDER_RATES"

VALUES = [
    *each("CLARION_TIME_SCALE", "0", r"greater than or equal to 1", STATUS, PREVIEW),
    *each("CLARION_TIME_SCALE", "nan", r"less than or equal to 100000", STATUS),
    *each("CLARION_TIME_SCALE", "abc", r"valid number", STATUS),
    *each("CLARION_TIME_SCALE", "1e9", r"less than or equal to 100000", STAGE),
    *each("CLARION_SMS_MAX_SEGMENTS", "0", r"greater than or equal to 1", PREVIEW, STAGE),
    *each("CLARION_SMS_MAX_SEGMENTS", "11", r"less than or equal to 10", PREVIEW),
    *each("CLARION_SMS_MAX_SEGMENTS", "abc", r"valid integer", STATUS),
    *each("CLARION_PUBLIC_TIME_ZONE", "Mars/Base", r"'Mars/Base' is not an IANA time zone", STATUS, STAGE),
    *each("CLARION_PUBLIC_TIME_ZONE", "../../../etc/passwd", r"is not an IANA time zone", PREVIEW),
    *each("CLARION_PUBLIC_TIME_ZONE", "", r"is not an IANA time zone", STATUS),
    *each("CLARION_PROVIDER_TIMEOUT", "0", r"greater than or equal to 1", WORK),
    *each("CLARION_PROVIDER_TIMEOUT", "abc", r"valid number", WORK),
    *each("CLARION_PROVIDER_TIMEOUT", "inf", r"less than or equal to 300", WORK),
    *each("CLARION_OUTBOX_CLAIM_SIZE", "0", r"greater than or equal to 1", WORK),
    *each("CLARION_OUTBOX_CLAIM_SIZE", "5000", r"less than or equal to 1000", WORK),
    *each("CLARION_OUTBOX_MAX_WAIT", "-1", r"greater than or equal to 0", WORK),
    # A JSON setting: the entry that is wrong is named, and a value that is not JSON says so.
    *(
        setting(f"provider-rates-{label}", {RATES: value}, command, rf"^error: setting (CLARION_)?{says}")
        for label, value, command, says in (
            ("zero", '{"twilio": 0}', WORK, r"PROVIDER_RATES\['twilio'\]: value '0': .*greater"),
            ("key", '{"Twilio": 9}', WORK, r"PROVIDER_RATES: key 'Twilio': "),
            ("not-json", "twilio=10", WORK, r"PROVIDER_RATES = 'twilio=10': not JSON; .*\{"),
            ("not-json-status", "twilio=10", STATUS, r"PROVIDER_RATES = 'twilio=10': not JSON"),
            ("unknown", '{"twillio": 9}', WORK, r"PROVIDER_RATES names twillio: not a provider \(known: "),
        )
    ),
]

STORES = [
    setting(
        "database-url-garbage-status",
        {"CLARION_DATABASE_URL": "garbage"},
        STATUS,
        r"^error: CLARION_DATABASE_URL 'garbage' is not a database URL clarion can use",
    ),
    setting(
        "database-url-garbage-stage", {"CLARION_DATABASE_URL": "garbage"}, STAGE, r"CLARION_DATABASE_URL"
    ),
    setting(
        "database-url-garbage-audit",
        {"CLARION_DATABASE_URL": "garbage"},
        ("audit", "verify"),
        r"CLARION_DATABASE_URL",
    ),
    setting(
        "database-url-garbage-upgrade",
        {"CLARION_DATABASE_URL": "garbage"},
        ("db", "upgrade"),
        r"CLARION_DATABASE_URL",
    ),
    setting(
        "database-url-unreachable-status",
        {"CLARION_DATABASE_URL": UNREACHABLE},
        STATUS,
        r"^error: cannot open the store at postgresql\+psycopg://nobody:\*\*\*@127\.0\.0\.1:9/clarion",
    ),
    setting(
        "database-url-unreachable-stage",
        {"CLARION_DATABASE_URL": UNREACHABLE},
        STAGE,
        r"cannot (open|prepare) the store",
    ),
    setting(
        "database-url-unreachable-deadlines",
        {"CLARION_DATABASE_URL": UNREACHABLE},
        ("deadlines", "INC-0042"),
        r"cannot open the store",
    ),
    setting(
        "database-url-unreachable-upgrade",
        {"CLARION_DATABASE_URL": UNREACHABLE},
        ("db", "upgrade"),
        r"cannot open the store",
    ),
    setting(
        "database-url-driver-missing",
        {"CLARION_DATABASE_URL": "mysql://clarion@db.example/clarion"},
        STATUS,
        r"CLARION_DATABASE_URL",
    ),
    setting(
        "database-url-a-folder",
        {"CLARION_DATABASE_URL": "sqlite:///{dir}"},
        ("db", "upgrade"),
        r"is a (folder|directory)",
    ),
    setting(
        "home-a-file-upgrade",
        {"CLARION_HOME": "{file}"},
        ("db", "upgrade"),
        r"^error: cannot create the store at .*home-file/clarion\.db: Not a directory",
    ),
    setting(
        "home-a-file-stage", {"CLARION_HOME": "{file}"}, STAGE, r"cannot create the store at .*home-file"
    ),
    setting(
        "audience-database-garbage",
        {"CLARION_AUDIENCE_DATABASE_URL": "garbage"},
        ("outbox", "stage", "data-breach", "-f", "{facts}"),
        r"CLARION_AUDIENCE_DATABASE_URL",
    ),
    setting(
        "audience-database-unreachable",
        {"CLARION_AUDIENCE_DATABASE_URL": UNREACHABLE},
        ("outbox", "stage", "data-breach", "-f", "{facts}"),
        r"127\.0\.0\.1",
    ),
    setting(
        "templates-missing",
        {"CLARION_TEMPLATES_DIR": "/nonexistent/templates"},
        PREVIEW,
        r"templates folder not found: /nonexistent/templates",
    ),
]

KEYS = [
    setting("secret-key-empty", {"CLARION_SECRET_KEY": ""}, WORK, r"CLARION_SECRET_KEY is set but empty"),
    setting(
        "secret-key-short", {"CLARION_SECRET_KEY": "hunter2"}, WORK, r"CLARION_SECRET_KEY is set but only 7"
    ),
    setting(
        "secret-key-repeated", {"CLARION_SECRET_KEY": "ab" * 20}, WORK, r"made of only 2 different characters"
    ),
    setting(
        "secret-key-file-emptied",
        {"secret.key": ""},
        WORK,
        r"secret\.key: the signing key in this file is empty",
    ),
    setting("secret-key-file-a-fifo", {"secret.key": FIFO}, WORK, r"secret\.key.*named pipe"),
    setting(
        "home-a-file-work",
        {"CLARION_HOME": "{file}", "CLARION_DATABASE_URL": "sqlite:///{store}"},
        WORK,
        r"(signing key|CLARION_HOME)",
    ),
]

DELIVERY = [
    setting(
        "email-from-not-an-address",
        {"CLARION_EMAIL_FROM": "not-an-address"},
        WORK,
        r"CLARION_EMAIL_FROM = 'not-an-address': is not an email address",
    ),
    setting(
        "twilio-sid-without-token",
        {"CLARION_TWILIO_ACCOUNT_SID": "AC" + "1" * 32},
        WORK,
        r"twilio_auth_token is not set",
    ),
    setting(
        "mastodon-url-without-token",
        {"CLARION_MASTODON_BASE_URL": "https://social.example"},
        WORK,
        r"CLARION_MASTODON_ACCESS_TOKEN is not set",
    ),
    setting(
        "public-url-garbage",
        {"CLARION_PUBLIC_URL": "garbage"},
        WORK,
        r"CLARION_PUBLIC_URL",
    ),
    setting(
        "email-from-name-with-escape",
        {"CLARION_EMAIL_FROM_NAME": "Acme \x1b[2J"},
        WORK,
        r"CLARION_EMAIL_FROM_NAME",
    ),
    setting(
        "sandbox-url-garbage-inbox",
        {"CLARION_SANDBOX_URL": "garbage"},
        ("sandbox", "inbox"),
        r"CLARION_SANDBOX_URL = 'garbage': must be an http\(s\) URL",
    ),
]

DOTENV = [
    setting(
        "dotenv-not-json",
        {".env": "CLARION_PROVIDER_RATES=twilio=10\n"},
        WORK,
        r"^error: setting CLARION_PROVIDER_RATES \(in \.env\): not JSON",
    ),
    setting("dotenv-bad-value", {".env": "CLARION_TIME_SCALE=0\n"}, STATUS, r"CLARION_TIME_SCALE"),
    setting(
        "dotenv-latin-1",
        {".env": "CLARION_EMAIL_FROM_NAME=Acm\xe9\n"},
        STATUS,
        r"\.env",
    ),
    setting(
        "dotenv-a-fifo",
        {".env": FIFO},
        STATUS,
        r"\.env",
    ),
]


@pytest.mark.parametrize(("env", "args", "code", "says"), VALUES + STORES + KEYS + DELIVERY + DOTENV)
def test_unusable_settings_are_refused_naming_the_setting(
    world: World, env: dict[str, str], args: tuple[str, ...], code: int, says: tuple[str, ...]
) -> None:
    world.seed()
    names = _files(world)
    for name in FILES:
        if name in env:
            path = (world.work if name == ".env" else world.home) / name
            path.unlink(missing_ok=True)
            if env[name] == FIFO:
                os.mkfifo(path)
            else:
                path.write_bytes(env[name].encode("latin-1"))
    filled_env = {k: fill(v, names) for k, v in env.items() if k not in FILES}
    home = Path(filled_env.get("CLARION_HOME", world.home))
    before = world.snapshot(), world.snapshot(home)

    with fifo_unblocked(world.work), fifo_unblocked(world.home):
        outcome = world.run(*(fill(a, names) for a in args), env=filled_env)

    assert_clear(outcome, code, says)
    assert "hunter2" not in outcome.out + outcome.err, "a secret was printed"
    assert world.snapshot().changes_from(before[0]) == []
    assert world.snapshot(home).changes_from(before[1]) == []


def _files(world: World) -> dict[str, str]:
    folder = world.work / "a-folder"
    folder.mkdir()
    home_file = world.work / "home-file"
    home_file.write_text("not a folder\n")
    return {
        "facts": str(text_file("facts.yaml", FRESH_FACTS)(world.work)),
        "csv": str(text_file("audience.csv", AUDIENCE_CSV)(world.work)),
        "dir": str(folder),
        "file": str(home_file),
        "store": str(world.store_path),
    }
