from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from clarion.errors import FactsError
from clarion.yamlfile import format_loc, read_yaml

keys = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)
leaves = st.one_of(st.integers(), st.text(alphabet="xyz ", max_size=10), st.booleans())
documents = st.recursive(
    st.dictionaries(keys, leaves, min_size=1, max_size=4),
    lambda inner: st.dictionaries(
        keys, st.one_of(inner, st.lists(inner, min_size=1, max_size=3)), min_size=1, max_size=4
    ),
    max_leaves=20,
)


def paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out = []
    if isinstance(value, dict):
        for key, inner in value.items():
            out += [(*prefix, key), *paths(inner, (*prefix, key))]
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            out += [(*prefix, index), *paths(inner, (*prefix, index))]
    return out


@settings(max_examples=60, deadline=None)
@given(documents)
def test_every_key_maps_to_the_line_where_it_is_written(
    tmp_path_factory: Any, document: dict[str, Any]
) -> None:
    path = tmp_path_factory.mktemp("yaml") / "doc.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, default_flow_style=False))
    data, lines = read_yaml(path, FactsError)
    assert data == document
    text = path.read_text().splitlines()
    for loc in paths(document):
        line = lines.line_for(loc)
        assert line is not None
        if isinstance(loc[-1], str):
            assert text[line - 1].lstrip(" -").startswith(f"{loc[-1]}:"), (loc, line, text[line - 1])


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(FactsError) as caught:
        read_yaml(missing, FactsError)
    assert str(caught.value) == f"{missing}: file not found"


def test_locations_read_like_python() -> None:
    assert format_loc(("approvals", 0, "role")) == "approvals[0].role"
    assert format_loc(()) == ""
