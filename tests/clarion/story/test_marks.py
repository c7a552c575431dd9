"""Marking the story's blocks in the parse tree, and reading them back out of the rendered text."""

from __future__ import annotations

import jinja2
import pytest

from clarion.story.marks import POINTERS, MarksMisused, mark_blocks, split
from clarion.updates.template_env import BoundedEnvironment


class _Marking(BoundedEnvironment):
    def _parse(self, source: str, name: str | None, filename: str | None) -> jinja2.nodes.Template:
        return mark_blocks(super()._parse(source, name, filename))


def _render(templates: dict[str, str], name: str, **context: object) -> str:
    env = _Marking(loader=jinja2.DictLoader(templates), undefined=jinja2.StrictUndefined)
    return env.get_template(name).render(**context)


def test_each_block_reads_back_as_it_was_shown() -> None:
    raw = _render(
        {"t": "A{% block apology %}sorry{% endblock %} B{% block fix %}fixed {{ n }}{% endblock %} C"},
        "t",
        n=3,
    )
    clean, blocks = split(raw)
    assert clean == "Asorry Bfixed 3 C"
    assert blocks == {"apology": "sorry", "fix": "fixed 3"}


def test_a_block_the_template_does_not_show_is_absent() -> None:
    raw = _render({"t": "{% if false %}{% block cause %}why{% endblock %}{% endif %}x"}, "t")
    assert split(raw) == ("x", {})


def test_a_child_template_fills_the_parents_marked_place() -> None:
    templates = {
        "parent": "[{% block prevention %}parent{% endblock %}]{% block pointers %}: link{% endblock %}",
        "child": '{% extends "parent" %}{% block prevention %}child {{ super() }}{% endblock %}',
    }
    clean, blocks = split(_render(templates, "child"))
    assert clean == "[child parent]: link"
    assert blocks == {"prevention": "child parent", POINTERS: ": link"}


def test_other_blocks_and_nested_story_blocks() -> None:
    raw = _render(
        {
            "t": "{% block header %}H{% endblock %}"
            "{% block fix %}F{% block cause %}C{% endblock %}{% endblock %}"
        },
        "t",
    )
    clean, blocks = split(raw)
    assert clean == "HFC"
    assert blocks == {"fix": "FC", "cause": "C"}


def test_a_block_in_a_loop_counts_every_showing() -> None:
    raw = _render({"t": "{% for i in [1, 2] %}{% block fix scoped %}f{{ i }}{% endblock %}{% endfor %}"}, "t")
    assert split(raw) == ("f1f2", {"fix": "f1 f2"})


@pytest.mark.parametrize("text", ["\ufdd0", "x\ufdd1", "\ufdd9 y"])
def test_a_reserved_character_no_block_put_there_is_refused(text: str) -> None:
    raw = _render({"t": "{% block apology %}a{% endblock %}{{ t }}"}, "t", t=text)
    with pytest.raises(MarksMisused, match="reserved character"):
        split(raw)
