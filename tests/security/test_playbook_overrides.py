"""Playbook part overrides: what Jinja's parser finds in them decides (``clarion/updates/overrides.py``), so
structural tags however spelt (``{%+ import %}``, ``{% include %}``), calls (``range(100000)``),
arithmetic (``'A' * 200000000``) and everything else off the short list are refused when the playbook
loads; and a valid override renders within bounds whatever the facts hold.
"""

from __future__ import annotations

import pytest

from tests.security.cases import FRESH_FACTS, Build, assert_clear, case, replaced, text_file
from tests.security.conftest import World
from tests.security.playbook_cases import FILE, PLAYBOOK, SHORT, edit, override, stage_refused

OVERRIDES = [
    override(
        "import-with-plus", "{%+ import '_macros/en.j2' as pm %}{{ super() }}", r"'\{% import %\}' is not"
    ),
    override("import-with-minus", "{%- import '_macros/en.j2' as pm -%}{{ super() }}", r"import"),
    override("from-import", "{% from '_macros/en.j2' import x %}", r"from … import"),
    override("include", "{% include 'email/base.html.j2' %}", r"'\{% include %\}' is not allowed"),
    override("extends", "{% extends 'email/base.html.j2' %}", r"extends"),
    override("range-100000", "{{ range(100000) }}", r"calls other than super\(\) are not allowed"),
    override("a-times-200-million", "{{ 'A' * 200000000 }}", r"the '\*' operator is not allowed"),
    override("power-tower", "{{ 10 ** 10 ** 10 }}", r"the '\*\*' operator is not allowed"),
    override(
        "nested-range-loops",
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        r"(calls other than super|loop)",
    ),
    override(
        "loop-inside-a-loop",
        "{% for a in impact.components %}{% for b in impact.regions %}x{% endfor %}{% endfor %}",
        r"a loop inside a loop is not allowed",
    ),
    override("lipsum", "{{ lipsum(1000) }}", r"calls other than super"),
    override("self", "{{ self }}", r"'self' is not something a part override can use"),
    override("dunder-class", "{{ contact.email.__class__ }}", r"names starting with '_' are not allowed"),
    override("cycler", "{{ cycler }}", r"'cycler' is not something"),
    override("namespace", "{{ namespace(a=1) }}", r"calls other than super"),
    override("macro", "{% macro m() %}x{% endmacro %}", r"macro"),
    override("set", "{% set x = 1 %}{{ x }}", r"'\{% set %\}' is not allowed"),
    override("raw-block", "{% raw %}{{ x }}{% endraw %}", r"'\{% raw %\}' is not allowed"),
    override("filter-block", "{% filter upper %}x{% endfilter %}", r"'\{% filter %\}' is not allowed"),
    override(
        "center-999999999", "{{ links.password_reset|center(999999999) }}", r"the 'center' filter is not"
    ),
    override("format-padding", "{{ '%999999999s'|format(1) }}", r"the 'format' filter is not allowed"),
    override("safe-filter", "{{ contact.email|safe }}", r"the 'safe' filter is not allowed"),
    override("method-call", "{{ contact.email.upper() }}", r"calls other than super"),
    override("unknown-name", "{{ password }}", r"'password' is not something a part override can use"),
    override("unknown-member", "{{ incident.secret }}", r"incident\.secret is not in the template's data"),
    override("super-with-an-argument", "{{ super(1) }}", r"calls other than super"),
    override("slice", "{{ impact.components[0:1000000] }}", r"slices are not allowed"),
    override("syntax-error", "{{ super() }", r"template syntax"),
    override("unclosed-comment", "{# a comment", r"template syntax"),
    edit(
        "link-not-required",
        SHORT,
        "      short: '{{ links.other_page }}'",
        "parts",
        r"en\.fix\.short reads links\.other_page, which is not in required_links",
        needle="parts:",
    ),
    override("too-long", "x" * 5000, r"at most 4,000 characters"),
]


@pytest.mark.parametrize(("build", "says"), OVERRIDES)
def test_override_tags_and_expressions_are_refused_by_the_parser(
    world: World, build: Build, says: tuple[str, ...]
) -> None:
    stage_refused(world, build, says, sources=("-r", f"affected-customers={world.work / 'audience.csv'}"))


# ── what a valid override does with hostile facts: bounded by the facts, then at render time ─────

MANY_COMPONENTS = replaced(
    FRESH_FACTS, "components: [customer-export]", "components: [&c x, " + ", ".join(["*c"] * 20_000) + "]"
)
LONG_SUMMARY = replaced(
    FRESH_FACTS,
    "summary: Names, email addresses and phone numbers of about 8 200 customers.",
    "summary: " + "x" * 1_000,  # the longest summary the facts take
)
RENDERS = [
    case(  # 20 000 components are refused before any template runs: a list holds at most 200
        "loop-over-20000-components",
        "{% for c in impact.components %}{{ c }}{% endfor %}",
        MANY_COMPONENTS,
        r"impact\.components: List should have at most 200 items",
    ),
    case(  # within the facts' bounds, 265 joins of the longest summary pass the output limit
        "summary-joined-265-times",
        "{{ " + "~".join(["impact.summary"] * 265) + " }}",
        LONG_SUMMARY,
        r"over 256 Ki characters",
    ),
]


@pytest.mark.parametrize(("snippet", "facts_text", "pattern"), RENDERS)
def test_valid_overrides_render_within_bounds_whatever_the_facts(
    world: World, snippet: str, facts_text: str, pattern: str
) -> None:
    world.seed()
    playbook = text_file(FILE, replaced(PLAYBOOK, SHORT, "      short: >-\n        " + snippet))(world.work)
    facts = text_file("facts.yaml", facts_text)(world.work)
    before = world.snapshot()

    outcome = world.run("preview", str(playbook), "-f", str(facts))

    assert_clear(outcome, 2, (pattern,))
    assert world.snapshot().changes_from(before) == []
