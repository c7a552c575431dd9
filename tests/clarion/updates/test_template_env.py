"""The bounded Jinja environment: limits that hold for any template, and nothing else changed."""

from __future__ import annotations

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from clarion.updates.template_env import MAX_LOOP_ITERATIONS, SYNTAX, BoundedEnvironment, LimitReached

ORDINARY = """\
{% macro listed(items) -%}
{% for item in items %}{{ item }}{% if not loop.last %}, {% endif %}{% endfor %}
{%- endmacro %}
{{ listed(components) }} · {{ listed(range(3)) }} · {{ "%s of %d" % (name, 3) }}
· {{ "{} {}".format(name, 2) }}
{{ name ~ "!" }} {{ "-" * 10 }} {{ 2 ** 10 }} {{ [1, 2] + [3] }} {{ components|join(", ")|upper }}
{{ "%05.1f"|format(3.14159) }} {{ name|center(12) }}|{{ "a\\nb"|indent(2) }}|{{ name|replace("o", "0") }}
{% for c in components if c != "web" %}{{ loop.index }}={{ c }}{% else %}none{% endfor %}
"""


def test_limits_leave_ordinary_templates_unchanged() -> None:
    data = {"components": ["api", "web", "db"], "name": "outage"}
    plain = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, **SYNTAX)
    bounded = BoundedEnvironment(undefined=jinja2.StrictUndefined)
    expected = plain.from_string(ORDINARY).render(data)
    assert "api, web, db · 0, 1, 2 · outage of 3\n· outage 2" in expected
    assert bounded.from_string(ORDINARY).render(data) == expected


def test_render_limits_count_loops_per_render_not_per_loop_or_forever() -> None:
    env = BoundedEnvironment()
    half = MAX_LOOP_ITERATIONS // 2 + 1
    one_loop = env.from_string("{% for i in range(n) %}{% endfor %}done")
    assert one_loop.render(n=half) == "done"
    assert one_loop.render(n=half) == "done"  # a new render, a new budget
    two_loops = env.from_string("{% for i in range(n) %}{% endfor %}{% for i in range(n) %}{% endfor %}")
    with pytest.raises(LimitReached, match="more than 10,000 loop iterations"):
        two_loops.render(n=half)


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'A' * n }}",
        "{{ n * 'A' }}",
        "{{ 'x'|center(n) }}",
        "{{ 'x'.rjust(n) }}",
        "{{ '%*s' % (n, 'x') }}",
        "{% for c in 'A' * 300 %}{% for d in 'A' * 300 %}{% endfor %}{% endfor %}",
        "{% for c in range(n) %}{% endfor %}",
    ],
)
def test_render_limits_hold_for_every_template_of_the_environment(source: str) -> None:
    with pytest.raises(LimitReached):
        BoundedEnvironment().from_string(source).render(n=10**9)
