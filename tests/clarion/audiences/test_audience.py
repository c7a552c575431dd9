"""Audience sources: every problem of a recipients file named at once, rows normalised, SQL streamed."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
import sqlalchemy as sa

from clarion.audiences import audience, audience_sql
from clarion.errors import InputError, Problem


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_clean_file_is_summarised_and_normalised(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "id,email,phone,locale,time_zone\n"
        "a1,Ana@Example.COM,+44 7911 123456,de,Europe/Berlin\n"
        "a2,ben@example.com,,en,\n",
    )

    summary = audience.check_csv(path)
    rows = list(audience.read_csv(path))

    assert summary.rows == 2
    assert summary.variants == {("de", "Europe/Berlin"), ("en", None)}
    assert rows[0].phone == "+447911123456" and rows[0].email == "Ana@example.com"
    assert rows[1].phone is None and rows[1].line == 3


def test_every_bad_row_is_named_with_line_and_column(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "id,email,phone,locale,time_zone\n"
        "a1,not-an-address,,en,\n"
        ",b@example.com,,en,\n"
        "a3,c@example.com,12345,en,Mars/Olympus\n"
        "a1,d@example.com,,en,\n",
    )

    with pytest.raises(InputError) as caught:
        audience.check_csv(path)

    text = str(caught.value)
    assert "people.csv:2: email: 'not-an-address' is not an email address" in text
    assert "people.csv:3: id: missing" in text
    assert "people.csv:4: phone: '12345' is not a valid number" in text
    assert "people.csv:4: time_zone:" in text
    assert "people.csv:5: id: 'a1' repeats the recipient on line 2" in text


def test_a_wrong_header_is_refused_before_any_row(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"people.csv:1: header: unknown column 'emial'; columns are id"):
        audience.check_csv(_csv(tmp_path, "id,emial\na1,x@example.com\n"))
    with pytest.raises(InputError, match=r"people.csv:1: header: the 'id' column is required"):
        audience.check_csv(_csv(tmp_path, "email\nx@example.com\n"))


def test_a_file_changed_after_the_check_cannot_slip_a_bad_row_through(tmp_path: Path) -> None:
    path = _csv(tmp_path, "id,email\na1,a@example.com\n")
    audience.check_csv(path)
    path.write_text("id,email\na1,a@example.com\na2,not an address\n", encoding="utf-8")

    with pytest.raises(InputError, match=r"people\.csv:3: email"):
        list(audience.read_csv(path))


def test_the_same_bytes_are_checked_once_and_a_change_is_checked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[int | None] = []
    check_row = audience.check_row

    def counted(raw: dict[str, str | None], **kw: object) -> object:
        checked.append(cast(int, kw["line"]))
        return check_row(raw, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(audience, "check_row", counted)
    path = _csv(tmp_path, "id,email,locale\nm1,a@example.com,de\nm2,b@example.com,en\n")

    first = audience.check_csv(path)
    again = audience.check_csv(path)
    copy = tmp_path / "copy.csv"
    copy.write_bytes(path.read_bytes())
    assert audience.check_csv(copy) == again == first
    assert checked == [2, 3]  # the second and third checks read no row

    path.write_text("id,email,locale\nm1,a@example.com,de\nm2,not an address,en\n", encoding="utf-8")
    for _ in range(2):  # a file that fails is checked in full every time
        with pytest.raises(InputError, match=r"people\.csv:3: email"):
            audience.check_csv(path)
    assert checked == [2, 3, 2, 3, 2, 3]


def test_a_file_changed_while_it_is_checked_is_not_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _csv(tmp_path, "id,email\nw1,a@example.com\n")
    check = audience._check_csv

    def check_then_edit(checked: Path) -> audience.AudienceSummary:
        summary = check(checked)
        checked.write_text("id,email\nw1,a@example.com\nw2,b@example.com\n", encoding="utf-8")
        return summary

    monkeypatch.setattr(audience, "_check_csv", check_then_edit)
    assert audience.check_csv(path).rows == 1
    path.write_text("id,email\nw1,a@example.com\n", encoding="utf-8")  # the bytes checked, once more
    monkeypatch.setattr(audience, "_check_csv", check)
    assert audience.check_csv(path).rows == 1
    path.write_text("id,email\nw1,a@example.com\nw2,b@example.com\n", encoding="utf-8")
    assert audience.check_csv(path).rows == 2


def test_rows_in_normal_form_keep_their_time_zone_and_a_bad_zone_is_still_caught(tmp_path: Path) -> None:
    path = _csv(tmp_path, "id,email,time_zone\na1,a@example.com,Asia/Tokyo\n")
    assert [row.time_zone for row in audience.read_csv(path)] == ["Asia/Tokyo"]
    path.write_text("id,email,time_zone\na1,a@example.com,Asia/Tokyo\na2,b@example.com,Mars/Olympus\n")

    with pytest.raises(InputError, match=r"people\.csv:3: time_zone"):
        list(audience.read_csv(path))


def test_sql_sources_stream_and_name_failures(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("create table customers (external_id text, email text, phone text, locale text)")
        c.exec_driver_sql("insert into customers values ('x1', 'x@example.com', '+14155552671', 'en')")
    engine.dispose()

    summary = audience_sql.check_sql(url, "select external_id, email, phone, locale from customers")
    rows = list(audience_sql.read_sql(url, "select external_id, email, phone, locale from customers"))

    assert summary.rows == 1 and rows[0].external_id == "x1" and rows[0].phone == "+14155552671"
    with pytest.raises(InputError, match="audience query: sql: the query failed: no such table"):
        audience_sql.check_sql(url, "select * from nowhere")


def test_a_missing_audience_file_is_named_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        audience.check_csv(tmp_path / "audiences" / "nobody.csv")

    assert str(caught.value).endswith("nobody.csv: recipients file not found")


def test_every_shipped_playbook_csv_source_exists_and_is_valid() -> None:
    from clarion.playbook import load_playbook
    from tests.helpers import ROOT

    for path in sorted((ROOT / "playbooks").glob("*.yaml")):
        for spec in load_playbook(path).audiences.values():
            if spec.source is not None and spec.source.csv is not None:
                assert audience.check_csv(path.parent / spec.source.csv).rows > 0, path.name


# ── hardening: what a recipients file may hold, and what may be read as one ─────────────────────


def _problems(call: Callable[[], object]) -> list[Problem]:
    with pytest.raises(InputError) as caught:
        call()
    return list(caught.value.problems)


def _every_reader(path: Path) -> dict[str, Callable[[], object]]:
    """The three ways a recipients file is read: the check, the import (second pass), the SQL seed."""
    return {
        "check_csv": lambda: audience.check_csv(path),
        "read_csv": lambda: list(audience.read_csv(path)),
        "copy_csv_to_table": lambda: audience.copy_csv_to_table(sa.create_engine("sqlite://"), path, "t"),
    }


@pytest.mark.parametrize("tag", ["xx-NOPE", "../../etc", "de_DE", "en-", "tlh", "e n", "x" * 30])
def test_malformed_locales_are_refused_with_their_line(tmp_path: Path, tag: str) -> None:
    path = _csv(tmp_path, f'id,email,locale\na1,a@example.com,en\na2,b@example.com,"{tag}"\n')

    for name, read in _every_reader(path).items():
        problems = _problems(read)
        assert [(p.line, p.field) for p in problems] == [(3, "locale")], name

    assert "is not a language tag babel knows" in problems[0].message


def test_known_locales_the_playbook_does_not_ship_are_kept(tmp_path: Path) -> None:
    path = _csv(tmp_path, "id,email,locale\na1,a@example.com,fr\na2,b@example.com,pt-BR\n")

    assert audience.check_csv(path).variants == {("fr", None), ("pt-BR", None)}
    assert [row.locale for row in audience.read_csv(path)] == ["fr", "pt-BR"]


def test_malformed_locales_from_a_query_are_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("create table customers (id text, locale text)")
        c.exec_driver_sql("insert into customers values ('x1', 'en'), ('x2', '../../etc')")
    engine.dispose()

    problems = _problems(lambda: audience_sql.check_sql(url, "select id, locale from customers"))

    assert [(p.field, p.message.split(":")[0]) for p in problems] == [("locale", "row 2")]


@pytest.mark.parametrize(
    "zone", ["Europe", "America", "Mars/Olympus", "../../etc/passwd", "Europe/", "zone.tab"]
)
def test_time_zones_that_are_not_zones_are_refused_with_their_line(tmp_path: Path, zone: str) -> None:
    path = _csv(tmp_path, f"id,email,time_zone\na1,a@example.com,UTC\na2,b@example.com,{zone}\n")

    for name, read in _every_reader(path).items():
        problems = _problems(read)
        assert [(p.line, p.field) for p in problems] == [(3, "time_zone")], name
        assert problems[0].message == f"'{zone}' is not an IANA time zone (Europe/Berlin, UTC…)"


def test_a_file_of_bad_rows_shows_the_first_problems_and_counts_the_rest(tmp_path: Path) -> None:
    path = _csv(
        tmp_path, "id,email\n" + "".join(f"a{i},nobody{i}\n" for i in range(120)) + "a0,a@example.com\n"
    )

    with pytest.raises(InputError) as refused:
        audience.check_csv(path)

    assert [p.line for p in refused.value.problems][:50] == list(range(2, 2 + audience.MAX_PROBLEMS))
    assert str(refused.value).endswith("… and 71 more problems")  # 70 addresses, 1 repeated id


UNSAFE_VALUES = {
    "id": "c\x1b[2J1",
    "email": "a\x1b]0;owned\x07@example.com",
    "phone": "+447911\x00123456",
    "locale": "en\u202e",
    "time_zone": "Europe/\x9bBerlin",
}


@pytest.mark.parametrize("column", sorted(UNSAFE_VALUES))
def test_control_characters_are_refused_in_every_field(tmp_path: Path, column: str) -> None:
    row = {"id": "c1", "email": "a@example.com", "phone": "+447911123456", "locale": "en", "time_zone": "UTC"}
    row[column] = UNSAFE_VALUES[column]
    path = _csv(tmp_path, "id,email,phone,locale,time_zone\n" + ",".join(row.values()) + "\n")

    for name, read in _every_reader(path).items():
        problems = _problems(read)
        assert [(p.line, p.field) for p in problems] == [(2, column)], name
        assert problems[0].message.startswith("holds a "), name
        assert all(c not in str(problems[0]) for c in "\x00\x07\x1b\x9b\u202e"), name


@pytest.mark.parametrize(
    ("value", "message"),
    [("c\t1", "holds a tab at character 2"), ("c\n1", "holds a line break at character 2")],
)
def test_ids_and_addresses_are_one_line(tmp_path: Path, value: str, message: str) -> None:
    path = _csv(tmp_path, f'id,email\n"{value}",a@example.com\n')

    problems = _problems(lambda: audience.check_csv(path))

    assert [(p.field, p.message.split(":")[0]) for p in problems] == [("id", message)]


@pytest.mark.parametrize(
    ("column", "value", "bound"),
    [
        ("id", "c" * 201, 200),
        ("email", "a" * 243 + "@example.com", 254),
        ("phone", "+44 7911 123456" + " 0" * 10, 32),
        ("locale", "en-" + "a" * 40, 35),
        ("time_zone", "Europe/" + "B" * 60, 64),
    ],
)
def test_overlong_fields_are_refused_with_their_line(
    tmp_path: Path, column: str, value: str, bound: int
) -> None:
    row = {"id": "c1", "email": "", "phone": "", "locale": "", "time_zone": ""}
    row[column] = value
    path = _csv(tmp_path, "id,email,phone,locale,time_zone\nc0,,,,\n" + ",".join(row.values()) + "\n")

    for name, read in _every_reader(path).items():
        problems = _problems(read)
        assert [(p.line, p.field) for p in problems] == [(3, column)], name
        assert problems[0].message == f"{len(value)} characters, more than the {bound} allowed"


def test_fields_at_their_bound_are_accepted(tmp_path: Path) -> None:
    path = _csv(tmp_path, f"id,email\n{'c' * 200},{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 57}.com\n")

    assert audience.check_csv(path).rows == 1


@pytest.mark.parametrize(
    ("header", "column", "positions"),
    [
        ("id,email,email", "email", "2 ('email') and 3 ('email')"),
        ("id,email,external_id", "id", "1 ('id') and 3 ('external_id')"),
        ("external_id,locale, locale ,id", "id", "1 ('external_id') and 4 ('id')"),
    ],
)
def test_repeated_header_columns_are_refused(
    tmp_path: Path, header: str, column: str, positions: str
) -> None:
    path = _csv(tmp_path, f"{header}\n" + ",".join(["a"] * (header.count(",") + 1)) + "\n")

    for name, read in _every_reader(path).items():
        problems = _problems(read)
        assert f"column {column!r} is named 2 times, in columns {positions}" in [
            p.message.split(": name it once")[0] for p in problems
        ], name
        assert {(p.line, p.field) for p in problems} == {(1, "header")}, name


def test_a_query_returning_a_column_twice_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("create table customers (external_id text, email text)")
        c.exec_driver_sql("insert into customers values ('x1', 'x@example.com')")
    engine.dispose()

    problems = _problems(
        lambda: audience_sql.check_sql(url, "select external_id, email, external_id as id from customers")
    )

    assert [p.field for p in problems] == ["id"] and "returns 'id' 2 times" in problems[0].message


def test_a_file_that_is_not_an_audience_file_is_not_echoed(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text(
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n", encoding="utf-8"
    )
    secret = tmp_path / "secret.txt"
    secret.write_text("api-key-" + "s3cr3t" * 20 + "\n", encoding="utf-8")

    for path in (passwd, secret):
        problems = _problems(functools.partial(audience.check_csv, path))
        text = "\n".join(str(p) for p in problems)
        assert [(p.line, p.field) for p in problems] == [(1, "header")]
        assert "names none of the columns id, email, phone, locale, time_zone" in text
        assert "/bin/bash" not in text and "daemon" not in text and "s3cr3ts3cr3ts3cr3t" not in text
        assert len(problems[0].message) < 160


def _writing(data: bytes) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        path.write_bytes(data)
        return path

    return make


def _late_latin1(path: Path) -> Path:
    rows = "".join(f"c{i},user{i}@example.com\n" for i in range(2, 2001))  # lines 2..2000, ~50 KB
    path.write_bytes(b"id,email\n" + rows.encode() + "c0,jos\xe9@example.com\n".encode("latin-1"))
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _loop(path: Path) -> Path:
    path.symlink_to(path)
    return path


def _dev_zero(path: Path) -> Path:
    return Path("/dev/zero")


def _missing(path: Path) -> Path:
    return path


UNREADABLE: dict[str, tuple[Callable[[Path], Path], int | None, str]] = {
    "latin-1": (
        _writing("id,email\na1,a@example.com\na2,jos\xe9@example.com\n".encode("latin-1")),
        3,
        "not UTF-8 text (byte 0xe9): save the file as UTF-8",
    ),
    "latin-1 after the first 8 KiB": (_late_latin1, 2001, "not UTF-8 text (byte 0xe9)"),
    "UTF-16": (_writing("id,email\na1,a@example.com\n".encode("utf-16")), 1, "UTF-16 text: save it as UTF-8"),
    "UTF-32": (_writing("id,email\na1,a@example.com\n".encode("utf-32")), 1, "UTF-32 text: save it as UTF-8"),
    "a field over the csv module's limit": (
        _writing(('id,email\na1,"' + ("y" * 60_000 + "\n") * 3 + '"\n').encode()),
        4,  # where the field passes the limit
        "cannot be read as CSV: a field is longer than 131,072 characters",
    ),
    "a line over the bound": (
        _writing(("id,email\na1,a@example.com\na2," + "z" * 200_000 + "\n").encode()),
        3,
        "the line is longer than 65,536 characters",
    ),
    "a NUL byte in a field": (
        _writing(b"id,email\na1,a\x00b@example.com\n"),
        2,
        "email: holds a control character U+0000 (NUL) at character 2",
    ),
    "a quote never closed": (
        _writing(b'id,email\na1,"a@example.com\na2,b@example.com\n'),
        3,  # the rest of the file is one field
        "email: holds a line break at character 14",
    ),
    "/dev/zero": (_dev_zero, None, "is a character device, not a recipients file"),
    "a FIFO": (_fifo, None, "is a named pipe (FIFO)"),
    "a folder": (_folder, None, "is a folder"),
    "a missing file": (_missing, None, "recipients file not found"),
    "a symlink loop": (_loop, None, "a symlink loop"),
    "an empty file": (_writing(b""), 1, "empty file: expected a header row"),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_unreadable_audience_files_are_one_clear_problem(tmp_path: Path, case: str) -> None:
    make, line, message = UNREADABLE[case]
    path = make(tmp_path / "people.csv")

    for name, read in _every_reader(path).items():
        problems = _problems(read)
        assert len(problems) == 1, (name, problems)
        assert problems[0].line == line, name
        assert message in str(problems[0]), (name, str(problems[0]))
