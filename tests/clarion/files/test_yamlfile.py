from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from clarion.errors import FactsError
from clarion.files.yamlfile import format_loc, read_yaml
from clarion.files.yamlloader import SAFE_LOADER, Loader, compose
from tests.helpers import ROOT

keys = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)
leaves = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text(alphabet="xyz ", max_size=10), st.booleans()
)
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


# ── issue 12: what a person's YAML file may make the reader do ────────────────────────────────────


def _problems(path: Path) -> list[str]:
    with pytest.raises(FactsError) as caught:
        read_yaml(path, FactsError)
    return [str(problem) for problem in caught.value.problems]


def _symlink_loop(tmp_path: Path) -> Path:
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(tmp_path / "loop2.yaml")
    (tmp_path / "loop2.yaml").symlink_to(loop)
    return loop


def _fifo(tmp_path: Path) -> Path:
    fifo = tmp_path / "facts.yaml"
    os.mkfifo(fifo)  # nobody writes to it: reading it would block forever
    return fifo


def _written(name: str, content: bytes) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return make


UNREADABLE: list[tuple[str, Callable[[Path], Path], str]] = [
    ("missing", lambda tmp: tmp / "nope.yaml", "{path}: file not found"),
    ("folder", lambda tmp: tmp, "{path}: is a folder, not a file clarion can read"),
    ("fifo", _fifo, "{path}: is a named pipe (FIFO), not a file clarion can read"),
    ("dev-zero", lambda tmp: Path("/dev/zero"), "{path}: is a character device, not a file clarion can read"),
    ("symlink-loop", _symlink_loop, "{path}: cannot read the file: a symlink loop"),
    ("read-fails", lambda tmp: Path("/proc/self/mem"), "{path}: cannot read the file: Input/output error"),
    (
        "too-large",
        _written("big.yaml", b"a: 1\n" + b"#" * (1 << 20)),
        "{path}: the file is larger than 1 MiB",
    ),
    (
        "latin-1",
        _written("latin.yaml", "title: ok\nsummary: caf\xe9\n".encode("latin-1")),
        "{path}:2: not UTF-8 text (byte 0xe9): save the file as UTF-8",
    ),
    (
        "utf-16",
        _written("wide.yaml", "title: ok\n".encode("utf-16")),
        "{path}:1: the file is UTF-16 text: save it as UTF-8",
    ),
]


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in UNREADABLE], ids=[c[0] for c in UNREADABLE])
def test_unreadable_paths_are_one_clear_problem(
    tmp_path: Path, make: Callable[[Path], Path], expected: str
) -> None:
    path = make(tmp_path)
    assert _problems(path) == [expected.format(path=path)]


def test_a_file_the_process_may_not_read_is_one_clear_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chmod 000 stops nobody running as root (as CI does): the system's answer is what is faked."""
    path = tmp_path / "secret.yaml"
    path.write_text("a: 1\n")
    monkeypatch.setattr(os, "access", lambda *_args, **_kwargs: False)

    assert _problems(path) == [f"{path}: cannot read the file: permission denied"]


STREAM_ERRORS = [
    (
        "nul",
        "title: ok\nsummary: a\x00b\n",
        "2: control character U+0000 (NUL) at column 11: a YAML file may not hold it",
    ),
    (
        "esc",
        "title: ok\n\nsummary: \x1b[2Jgone\n",
        "3: control character U+001B (ESC) at column 10: a YAML file may not hold it",
    ),
    (
        "osc-title",
        "title: \x1b]0;owned\x07\n",
        "1: control character U+001B (ESC) at column 8: a YAML file may not hold it",
    ),
    (
        "non-character",
        "title: ok\nsummary: a\ufffeb\n",
        "2: character U+FFFE at column 11: a YAML file may not hold it",
    ),
    (
        "bad-indentation",
        "title: ok\n  summary: x\n",
        "2: YAML syntax: mapping values are not allowed in this context",
    ),
    (
        "unclosed",
        "title: ok\nlist: [a, b\n",
        "3: YAML syntax: did not find expected ',' or ']' (while parsing a flow sequence at line 2)",
    ),
    (
        "tab-indent",
        "title:\n\tsummary: x\n",
        "2: YAML syntax: found character that cannot start any token",
    ),
    (
        "two-documents",
        "title: ok\n---\ntitle: again\n",
        "2: a second document starts here: a file holds one document",
    ),
    ("undefined-alias", "title: ok\nsummary: *nowhere\n", "2: YAML syntax: found undefined alias 'nowhere'"),
    (
        "huge-number",
        "title: ok\ncount: " + "9" * 5000 + "\n",
        "2: YAML: the number is too long",
    ),
    ("base-60-number", "count: " + ":".join(["59"] * 300_000) + "\n", "1: YAML: the number is too long"),
    ("number-past-64-bits", "title: ok\ncount: 0x8000000000000000\n", "2: YAML: the number is too large"),
    (
        "unhashable-key",
        "title: ok\n? [a, b]\n: c\n",
        "2: YAML: found unhashable key (while constructing a mapping at line 1)",
    ),
    (
        "bad-merge",
        "title: ok\nz:\n  <<: 5\n",
        "3: YAML: expected a mapping or list of mappings for merging, but found scalar",
    ),
    ("invalid-escape", 'title: "\\uD800"\n', "1: YAML syntax: found invalid Unicode character escape code"),
    (
        "binary",
        "title: !!binary G1sySg==\n",
        "1: the tag !!binary is not allowed: write plain text, numbers, lists and mappings",
    ),
    (
        "set",
        "title: ok\ntags: !!set {a, b}\n",
        "2: the tag !!set is not allowed: write plain text, numbers, lists and mappings",
    ),
    (
        "python",
        "title: !!python/name:os.system x\n",
        "1: the tag !!python/name:os.system is not allowed: write plain text, numbers, lists and mappings",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in STREAM_ERRORS], ids=[c[0] for c in STREAM_ERRORS]
)
def test_yaml_stream_errors_name_the_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "facts.yaml"
    path.write_text(text, encoding="utf-8")
    assert _problems(path) == [f"{path}:{expected}"]


def _laughs(levels: int, width: int) -> str:
    """The billion laughs: each level lists ``width`` aliases of the one before (3.9 KB at 9 × 9)."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * width)}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


def _nested_flow(depth: int) -> str:
    return "title: " + "[" * depth + "]" * depth + "\n"


def _nested_block(depth: int) -> str:
    return "".join("  " * level + f"k{level}:\n" for level in range(depth)) + "  " * depth + "leaf\n"


BOUNDED = [
    # (case, text, line, message)
    (
        "billion-laughs",
        _laughs(9, 9),
        6,
        "the document has more than 100000 values (an alias counts as often as it is used)",
    ),
    (
        "wide-anchor",
        "big: &big [" + ", ".join(["x"] * 5000) + "]\n" + "".join(f"c{n}: *big\n" for n in range(40)),
        20,  # 5002 values a line: line 20 passes 100000
        "the document has more than 100000 values (an alias counts as often as it is used)",
    ),
    ("deep-flow-list", _nested_flow(990), 1, "mappings and lists nest deeper than 64 levels"),
    ("deep-block-mapping", _nested_block(100), 65, "mappings and lists nest deeper than 64 levels"),
    (
        "deep-through-aliases",
        "a: &a " + "[" * 40 + "]" * 40 + "\nb: [[[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
        2,
        "the alias nests deeper than 64 levels",
    ),
    (
        "alias-loop",
        "title: ok\nloop: &me [a, *me]\n",
        2,
        "the alias *me is inside the collection it names (a loop)",
    ),
    ("mapping-loop", "me: &me {again: *me}\n", 1, "the alias *me is inside the collection it names (a loop)"),
]


@pytest.mark.parametrize(("text", "line", "message"), [c[1:] for c in BOUNDED], ids=[c[0] for c in BOUNDED])
def test_yaml_alias_bombs_and_deep_nesting_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, line: int, message: str
) -> None:
    constructed: list[yaml.Node] = []
    original = Loader.construct_object

    def counting(self: Loader, node: yaml.Node, deep: bool = False) -> Any:
        constructed.append(node)
        return original(self, node, deep)

    monkeypatch.setattr(Loader, "construct_object", counting)
    path = tmp_path / "facts.yaml"
    path.write_text(text, encoding="utf-8")

    assert _problems(path) == [f"{path}:{line}: {message}"]
    # refused while composing, at the node that passed the bound: no data was built, nothing
    # walked the expansion (so the work is bounded by the file's length, whatever its aliases say)
    assert constructed == []


@pytest.mark.parametrize("base", [yaml.SafeLoader, SAFE_LOADER], ids=["python", "default"])
def test_the_bounded_composer_needs_no_recursion(base: type[yaml.SafeLoader]) -> None:
    """Python's composer recurses (a 990-deep list is a RecursionError there); this one loops."""
    with pytest.raises(yaml.MarkedYAMLError) as caught:
        compose(base(_nested_flow(990)))
    assert "nest deeper than 64 levels" in str(caught.value.problem)
    assert compose(base(_nested_flow(63))) is not None  # the mapping around it is the 64th level


def _same(mine: yaml.Node, theirs: yaml.Node) -> bool:
    if type(mine) is not type(theirs) or (mine.tag, mine.start_mark.line, mine.start_mark.column) != (
        theirs.tag,
        theirs.start_mark.line,
        theirs.start_mark.column,
    ):
        return False
    if isinstance(mine, yaml.ScalarNode) and isinstance(theirs, yaml.ScalarNode):
        return bool(mine.value == theirs.value and mine.style == theirs.style)
    if isinstance(mine, yaml.SequenceNode):
        pairs = list(zip(mine.value, theirs.value, strict=False))
    else:
        pairs = [
            (a, b)
            for (ka, va), (kb, vb) in zip(mine.value, theirs.value, strict=False)
            for a, b in ((ka, kb), (va, vb))
        ]
    return len(mine.value) == len(theirs.value) and all(_same(a, b) for a, b in pairs)


SHIPPED_YAML = sorted(
    [
        *ROOT.glob("playbooks/*.yaml"),
        *ROOT.glob("examples/**/*.yaml"),
        *ROOT.glob("clarion/regimes/data/**/*.yaml"),
    ]
)


@pytest.mark.parametrize("path", SHIPPED_YAML, ids=[p.name for p in SHIPPED_YAML])
def test_the_bounded_composer_builds_the_tree_pyyaml_builds(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    theirs = Loader(text).get_single_node()
    mine = compose(Loader(text))
    assert mine is not None and theirs is not None
    assert _same(mine, theirs)


def test_times_stay_text_for_pydantic_to_check(tmp_path: Path) -> None:
    path = tmp_path / "facts.yaml"
    path.write_text(
        "a: 2026-02-30\nb: 2026-02-01T10:00:00+25:00\nc: 0001-01-01\nd: !!timestamp 9999-12-31\n"
        "e: 2026-11-23T09:00:00Z\nf: =\n2026-01-01: key\n",
        encoding="utf-8",
    )
    data, _ = read_yaml(path, FactsError)
    assert data == {
        "a": "2026-02-30",
        "b": "2026-02-01T10:00:00+25:00",
        "c": "0001-01-01",
        "d": "9999-12-31",
        "e": "2026-11-23T09:00:00Z",
        "f": "=",
        "2026-01-01": "key",
    }


def test_control_characters_in_yaml_text_are_refused_with_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "facts.yaml"
    path.write_text(
        'title: "fine\\ttab"\n'
        "story:\n"
        "  en:\n"
        '    apology: "Sorry\\x1b[2J"\n'
        '    "ca\\x07use": "x\\x1b"\n'
        "impact:\n"
        "  regions:\n"
        "    - eu\n"
        '    - "us\\u202egro"\n'
        "summary: |\n"
        "  line one\n"
        "  line two\n",
        encoding="utf-8",
    )
    assert _problems(path) == [
        f"{path}:4: story.en.apology: control character U+001B (ESC) at character 6: write text without it",
        f"{path}:5: story.en.ca\\x07use: the key holds a control character U+0007 (BEL) at character 3: "
        "write text without it",
        f"{path}:5: story.en.ca\\x07use: control character U+001B (ESC) at character 2: "
        "write text without it",
        f"{path}:9: impact.regions[1]: bidirectional control U+202E (RIGHT-TO-LEFT OVERRIDE) at character 3: "
        "write text without it",
    ]
