"""The people file: every address checked by its channel, errors at file:line:field, and a playbook's
approvers and backups all in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from clarion.errors import PlaybookError
from clarion.kinds import Channel
from clarion.playbook import load_playbook
from clarion.responders.people import load_people, people_of
from tests.helpers import PLAYBOOKS

SHIPPED = PLAYBOOKS / "people" / "responders.yaml"

GOOD = """\
people:
  - id: ic@example.com
    name: Commander
    reach:
      email: IC@Example.com
      sms: "+1 415 555 0100"
"""


def write(tmp_path: Path, text: str, name: str = "people.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_people_file_names_every_approver_and_backup_of_every_playbook() -> None:
    for path in sorted(PLAYBOOKS.glob("*.yaml")):
        playbook = load_playbook(path)
        people = people_of(playbook, path)
        assert people is not None, path
        for step in playbook.approvals:
            assert all(a in people for a in step.approvers) and (step.backup is None or step.backup in people)
    assert len(load_people(SHIPPED).by_id) >= 10


def test_addresses_are_stored_as_their_channel_normalises_them(tmp_path: Path) -> None:
    person = load_people(write(tmp_path, GOOD)).get("ic@example.com")
    assert person is not None
    assert person.reach == {Channel.EMAIL: "IC@example.com", Channel.SMS: "+14155550100"}
    assert person.locale == "en"


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ('sms: "+1 415 555 0100"', 'sms: "0170 1234"', r"people\.yaml:6: people\[0\]\.reach\.sms: .*E\.164"),
        ("email: IC@Example.com", "email: not-an-address", r"people\.yaml:5: people\[0\]\.reach\.email: "),
        ("email: IC@Example.com", "mastodon: '@ic'", r"reach\.mastodon: .*does not reach one person"),
        (
            "email: IC@Example.com",
            "fax: 12345",
            r"people\.yaml:5: people\[0\]\.reach\.fax: 'fax' is not a channel",
        ),
        (
            'sms: "+1 415 555 0100"',
            "sms: +14155550100",
            r"people\.yaml:6: people\[0\]\.reach\.sms: '14155550100' is not",
        ),
        (
            "name: Commander",
            "name: Commander\n    locale: xx-nowhere",
            r"locale: 'xx-nowhere' is not a known",
        ),
        ("id: ic@example.com", "id: 'ic example'", r"people\[0\]\.id: "),
    ],
)
def test_a_bad_entry_is_named_by_file_line_and_field(tmp_path: Path, old: str, new: str, says: str) -> None:
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(PlaybookError, match=says):
        load_people(path)


def test_an_id_listed_twice_is_refused(tmp_path: Path) -> None:
    twice = GOOD + GOOD.removeprefix("people:\n")
    with pytest.raises(PlaybookError, match=r"'ic@example\.com' is listed twice"):
        load_people(write(tmp_path, twice))


def test_a_playbook_whose_approver_is_not_in_its_people_file_is_refused_at_its_line(tmp_path: Path) -> None:
    text = (PLAYBOOKS / "data-breach.yaml").read_text(encoding="utf-8")
    (tmp_path / "people").mkdir()
    write(tmp_path / "people", GOOD, "responders.yaml")
    path = write(tmp_path, text, "data-breach.yaml")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "legal-on-call@example.com" in row)

    with pytest.raises(PlaybookError) as caught:
        people_of(load_playbook(path), path)

    message = str(caught.value)
    assert (
        f"data-breach.yaml:{line}: approvals[0].approvers[0]: 'legal-on-call@example.com' is not in"
        in message
    )
    assert "approvals[1].backup: 'deputy-dpo@example.com'" in message


def test_a_people_file_outside_the_playbooks_folder_is_refused(tmp_path: Path) -> None:
    text = (PLAYBOOKS / "data-breach.yaml").read_text(encoding="utf-8")
    (tmp_path / "book").mkdir()
    path = write(
        tmp_path / "book",
        text.replace("people/responders.yaml", "people/../../people.yaml"),
        "data-breach.yaml",
    )
    write(tmp_path, GOOD)
    with pytest.raises(PlaybookError, match="responders: the people file must be beside the playbook"):
        people_of(load_playbook(path), path)
