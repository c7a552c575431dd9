"""Audience sources: every problem of a recipients file named at once, rows normalised, SQL streamed."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from clarion import audience
from clarion.errors import InputError


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
    with pytest.raises(InputError, match=r"people.csv:1: header: .*unknown: 'emial'"):
        audience.check_csv(_csv(tmp_path, "id,emial\na1,x@example.com\n"))


def test_a_file_changed_after_the_check_cannot_slip_a_bad_row_through(tmp_path: Path) -> None:
    path = _csv(tmp_path, "id,email\na1,a@example.com\n")
    audience.check_csv(path)
    path.write_text("id,email\na1,a@example.com\na2,not an address\n", encoding="utf-8")

    with pytest.raises(InputError, match=r"people\.csv:3: email"):
        list(audience.read_csv(path))


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

    summary = audience.check_sql(url, "select external_id, email, phone, locale from customers")
    rows = list(audience.read_sql(url, "select external_id, email, phone, locale from customers"))

    assert summary.rows == 1 and rows[0].external_id == "x1" and rows[0].phone == "+14155552671"
    with pytest.raises(InputError, match="audience query: sql: the query failed: no such table"):
        audience.check_sql(url, "select * from nowhere")


def test_a_missing_audience_file_is_named_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        audience.check_csv(tmp_path / "audiences" / "nobody.csv")

    assert "nobody.csv" in str(caught.value)
    assert "cannot read the audience file: No such file or directory" in str(caught.value)


def test_every_shipped_playbook_csv_source_exists_and_is_valid() -> None:
    from clarion.playbook import load_playbook
    from tests.helpers import ROOT

    for path in sorted((ROOT / "playbooks").glob("*.yaml")):
        for spec in load_playbook(path).audiences.values():
            if spec.source is not None and spec.source.csv is not None:
                assert audience.check_csv(path.parent / spec.source.csv).rows > 0, path.name
