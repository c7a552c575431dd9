"""A pseudonymised pack names nobody, keeps each person's history linkable, and still verifies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from clarion.audiences.signing import secret_key
from clarion.errors import InputError
from clarion.evidence.pseudonyms import Pseudonyms, key_from_file, key_from_settings
from clarion.evidence.verify import verify_pack
from clarion.settings import Settings
from tests.clarion.evidence.conftest import Export, members
from tests.clarion.evidence.world import World

KEY = b"evidence-key-for-tests-0123456789abcdef"


def test_no_address_or_number_of_the_store_is_anywhere_in_the_pack(world: World, export: Export) -> None:
    pack = members(export(key=KEY).path)
    text = b"\n".join(pack.values()).decode("utf-8")

    assert len(world.personal) > 20  # emails, numbers, external ids of 12 customers; notice addresses
    found = sorted(value for value in world.personal if value in text or value.lower() in text.lower())
    assert found == []
    assert "p:" in text


def test_the_same_person_has_the_same_pseudonym_everywhere(export: Export) -> None:
    pack = members(export(key=KEY).path)
    lines = [json.loads(line) for line in pack["deliveries.jsonl"].splitlines()]
    customers = [d["recipient"] for d in lines if d["update"] == 1 and d["recipient"] is not None]

    by_person: dict[str, set[str]] = {}
    for recipient in customers:
        by_person.setdefault(recipient["external_id"], set()).add(recipient["id"])
    assert len(by_person) == 12 and all(len(ids) == 1 for ids in by_person.values())  # email and SMS alike
    bounced = next(d for d in lines if d["state"] == "bounced")
    assert bounced["error_detail"] == f"550 5.1.1 <{bounced['recipient']['address']}>: mailbox does not exist"


def test_audit_entries_that_name_someone_are_withheld_and_counted(export: Export) -> None:
    done = export(key=KEY)
    manifest = json.loads(members(done.path)["manifest.json"])
    withheld = [
        json.loads(line) for line in members(done.path)["audit.jsonl"].splitlines() if b"withheld" in line
    ]

    assert done.withheld == len(withheld) == manifest["audit"]["withheld"] > 0
    assert all(set(e) == {"id", "prev_hash", "hash", "withheld"} for e in withheld)
    report = verify_pack(done.path)
    assert report.pseudonymised and report.withheld == done.withheld
    assert any("pseudonymised" in note for note in manifest["notes"])


def test_another_key_gives_other_pseudonyms(export: Export) -> None:
    first = members(export("a.zip", key=KEY).path)["approvals.jsonl"]
    second = members(export("b.zip", key=KEY[::-1]).path)["approvals.jsonl"]

    assert first != second


def test_free_text_keeps_its_words_and_loses_its_people() -> None:
    names = Pseudonyms(KEY)

    said = names.text("Ada.Lovelace@Example.com asked to be called on +49 30 1234 5678 before 17:30.")
    assert said == (
        f"{names.person('ada.lovelace@example.com')} asked to be called on "
        f"{names.person('+493012345678')} before 17:30."
    )
    assert Pseudonyms().text("ada@example.com") == "ada@example.com"  # off: nothing changes


def test_an_audit_entry_naming_a_remembered_person_is_recognised() -> None:
    names = Pseudonyms(KEY)
    names.remember("alice")

    assert names.names_someone("alice", "approval.approved", {"role": "legal"})
    assert names.names_someone("clarion", "x", {"note": "call +14155550100"})
    assert not names.names_someone("clarion", "update.published", {"content_hash": "ab" * 32})


def test_the_derived_key_is_not_the_signing_key(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, secret_key=SecretStr("Zq3-vF8_kP2wLx9RtB7nYc4HmJ6sDa1E"))

    derived = key_from_settings(settings)
    assert derived != secret_key(settings) and len(derived) == 32
    assert derived == key_from_settings(settings)


def test_a_weak_key_file_is_refused(tmp_path: Path) -> None:
    weak = tmp_path / "weak.key"
    weak.write_text("short\n")
    with pytest.raises(InputError, match="only 5 characters"):
        key_from_file(weak)
    strong = tmp_path / "strong.key"
    strong.write_text(KEY.decode() + "\n")
    assert key_from_file(strong) == KEY
