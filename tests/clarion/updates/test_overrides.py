"""A playbook's part overrides: what Jinja's parser lets through, and how they render."""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from clarion.channel_table import Form, spec_of
from clarion.errors import PlaybookError
from clarion.facts import Facts, load_facts
from clarion.kinds import BUILT_IN_CHANNELS, Channel
from clarion.playbook import Part, Playbook, lint, load_playbook
from clarion.settings import get_settings
from clarion.updates.compose import compose, promised_next_update
from clarion.updates.overrides import CONTEXT, LINKS, MAX_OVERRIDE_CHARS, TEXTS, VALUE, Shape, check_override
from clarion.updates.render import Renderer
from clarion.updates.rendition import Carried
from tests.clarion.updates.test_render import SANDBOX_ESCAPES
from tests.helpers import EXAMPLES, PLAYBOOKS, load_raw, write_yaml

BREACH = PLAYBOOKS / "data-breach.yaml"
RESET = "{{ super() }} Reset your password at {{ links.password_reset }}."

# (override, what the refusal names). Each spelling of a tag Jinja accepts is refused alike.
REFUSED = [
    ("{%+ import '_macros/en.j2' as pm %}{{ pm.cause(parts.cause, 'long') }}", "'{% import %}'"),
    ("{% import macros as m %}{{ m.cause(parts.cause, form) }}", "'{% import %}'"),
    ("{%- import '_macros/en.j2' as pm -%}", "'{% import %}'"),
    ("{%+import '_macros/en.j2' as pm+%}", "'{% import %}'"),
    ("{%- include 'sms/en/body.txt.j2' %}", "'{% include %}'"),
    ("{%+ include 'sms/en/body.txt.j2' -%}", "'{% include %}'"),
    ("{% from '_macros/en.j2' import cause %}{{ cause(parts.cause, form) }}", "'{% from … import %}'"),
    ("{% extends 'email/en/body.txt.j2' %}", "'{% extends %}'"),
    ("{% macro x() %}hi{% endmacro %}", "'{% macro %}'"),
    ("{% call super() %}x{% endcall %}", "'{% call %}'"),
    ("{% block cause %}x{% endblock %}", "'{% block %}'"),
    ("{% set x = parts.fix.text %}{{ x }}", "'{% set %}'"),
    ("{% set x %}{{ parts.fix.text }}{% endset %}", "'{% set %}'"),
    ("{% with x = 1 %}{{ x }}{% endwith %}", "'{% with %}'"),
    ("{% filter upper %}{{ parts.fix.text }}{% endfilter %}", "'{% filter %}'"),
    ("{% autoescape false %}{{ parts.fix.text }}{% endautoescape %}", "'{% autoescape %}'"),
    ("{% raw %}<script>alert(1)</script>{% endraw %}", "'{% raw %}'"),
    ("{%+ raw -%}<b>{% endraw %}", "'{% raw %}'"),
    ("{{ range(10) }}", "calls other than super() are not allowed"),
    ("{% for i in range(100000) %}x{% endfor %}", "calls other than super() are not allowed"),
    ("{{ self.apology() }}", "calls other than super() are not allowed"),
    ("{{ super(1) }}", "calls other than super() are not allowed"),
    ("{{ lipsum(5) }}", "calls other than super() are not allowed"),
    ("{{ namespace(x=1) }}", "calls other than super() are not allowed"),
    ("{{ parts.fix.text.upper() }}", "calls other than super() are not allowed"),
    ("{{ self }}", "'self' is not something a part override can use"),
    ("{{ cycler }}", "'cycler' is not something a part override can use"),
    ("{{ macros }}", "'macros' is not something a part override can use"),
    ("{{ 'A' * 9 }}", "the '*' operator is not allowed"),
    ("{{ 'A' * 200000000 }}", "the '*' operator is not allowed"),
    ("{{ 2 ** 10 }}", "the '**' operator is not allowed"),
    ("{{ '%s' % incident.title }}", "the '%' operator is not allowed"),
    ("{{ incident.title + '!' }}", "the '+' operator is not allowed"),
    ("{{ ''.__class__ }}", "names starting with '_' are not allowed"),
    ("{{ incident['__class__'] }}", "names starting with '_' are not allowed"),
    ("{{ parts.fix.text|safe }}", "the 'safe' filter is not allowed"),
    ("{{ 'x'|center(999999999) }}", "the 'center' filter is not allowed"),
    ("{{ parts|map('upper') }}", "the 'map' filter is not allowed"),
    ("{{ incident.title is callable }}", "the 'callable' test is not allowed"),
    ("{{ incident.title[0:3] }}", "slices are not allowed"),
    ("{{ {'a': 1} }}", "dict literals are not allowed"),
    (
        "{% for c in impact.components %}{% for r in impact.regions %}{{ c }}{% endfor %}{% endfor %}",
        "a loop inside a loop is not allowed",
    ),
    ("{% for c in incident.title %}{{ c }}{% endfor %}", "can only go over a list of the data"),
    ("{% endblock %}{% block cause %}x", "template syntax"),
    ("{{ parts.fix.text", "template syntax"),
    ("{% do parts.update({}) %}", "template syntax"),
    ("A" * (MAX_OVERRIDE_CHARS + 1), f"at most {MAX_OVERRIDE_CHARS:,} characters"),
]


def playbook_file(tmp_path: Path, long: str | None = None, **changes: Any) -> Path:
    data = load_raw(BREACH)
    if long is not None:
        data["parts"]["en"]["fix"]["long"] = long
    data.update(changes)
    return write_yaml(tmp_path / "data-breach.yaml", data)


def problem_of(path: Path) -> str:
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    return str(caught.value)


def long_line(path: Path) -> int:
    """The line of ``parts.en.fix.long`` in a dumped playbook."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index("parts:")
    return next(
        n for n, line in enumerate(lines[start:], start=start + 1) if line.strip().startswith("long:")
    )


@pytest.mark.parametrize(("snippet", "named"), REFUSED)
def test_override_tags_are_checked_by_jinjas_parser(tmp_path: Path, snippet: str, named: str) -> None:
    path = playbook_file(tmp_path, snippet)
    (result,) = lint([path])
    assert isinstance(result[1], PlaybookError)
    message = str(result[1])
    assert f"{path}:{long_line(path)}: parts.en.fix.long: " in message
    assert named in message


@pytest.mark.parametrize("payload", SANDBOX_ESCAPES)
def test_override_sandbox_escapes_are_refused_at_lint(tmp_path: Path, payload: str) -> None:
    assert "parts.en.fix.long: " in problem_of(playbook_file(tmp_path, payload))


@pytest.mark.parametrize(
    ("snippet", "named"),
    [
        ("{{ contact.phon }}", "contact.phon is not in the template's data (did you mean contact.phone?)"),
        (
            "{{ linkss.password_reset }}",
            "'linkss' is not something a part override can use (did you mean 'links'?)",
        ),
        ("{{ parts.fixx.text }}", "parts.fixx is not in the template's data (did you mean parts.fix?)"),
        ("{{ incident.titel }}", "did you mean incident.title?"),
        ("{{ incident.title.length }}", "incident.title is a value, with nothing to read inside it"),
        ("{{ impact.components.first }}", "impact.components is a list"),
        ("{% for c in impact.components %}{% endfor %}{{ loop.index }}", "'loop' is not something"),
    ],
)
def test_override_names_are_checked_against_the_template_data(
    tmp_path: Path, snippet: str, named: str
) -> None:
    message = problem_of(playbook_file(tmp_path, snippet))
    assert "parts.en.fix.long: " in message and named in message


def test_override_links_must_be_listed_in_required_links(tmp_path: Path) -> None:
    typo = "{{ super() }} Reset it at {{ links.pasword_reset }}."
    message = problem_of(playbook_file(tmp_path, typo))
    assert "parts: en.fix.long reads links.pasword_reset, which is not in required_links" in message
    assert "did you mean links.password_reset?" in message
    listed = playbook_file(tmp_path, typo, required_links=["password_reset", "pasword_reset"])
    assert load_playbook(listed).required_links == ["password_reset", "pasword_reset"]
    guarded = "{% if links.help is defined %}See {{ links.help }}.{% endif %} {{ links.faq|default(link) }}"
    assert load_playbook(playbook_file(tmp_path, guarded)).parts["en"][Part.FIX].long == guarded


def test_override_breach_facts_need_breach_facts(tmp_path: Path) -> None:
    message = problem_of(playbook_file(tmp_path, "{{ breach.nature }}", breach_facts=False))
    assert "en.fix.long reads breach, which facts give only when breach_facts is true" in message
    assert load_playbook(playbook_file(tmp_path, "{{ breach.nature }}")).breach_facts


def test_override_data_names_match_what_the_renderer_gives() -> None:
    """``CONTEXT`` is what lint checks names against; it must be what templates really see."""
    playbook = load_playbook(BREACH)
    facts = load_facts(EXAMPLES / "data-breach.yaml", playbook)
    renderer = Renderer(playbook, get_settings().templates_dir, sms_max_segments=3)
    text = renderer.locale_text("en")
    carried = Carried(facts.reference, facts.status, promised_next_update(playbook, facts), facts.link)
    given = renderer._context(facts, carried, Channel.EMAIL, "en", "UTC", text, ())
    assert set(given) == set(CONTEXT)

    def same_shape(value: Any, shape: Shape, where: str) -> None:
        if isinstance(shape, Mapping):
            assert isinstance(value, dict) and set(value) == set(shape), where
            for key, inner in shape.items():
                same_shape(value[key], inner, f"{where}.{key}")
        elif shape == LINKS:
            assert isinstance(value, dict), where
        elif shape == TEXTS:
            assert isinstance(value, list | None), where
        else:
            assert shape == VALUE and not isinstance(value, dict | list), where

    for name, shape in CONTEXT.items():
        same_shape(given[name], shape, name)


def with_override(playbook: Playbook, part: str = "fix", **forms: str) -> Playbook:
    parts = {k: {p: o.model_dump() for p, o in v.items()} for k, v in playbook.parts.items()}
    parts["en"][Part(part)] = forms
    return Playbook.model_validate({**playbook.model_dump(), "parts": parts})


@pytest.fixture
def breach() -> Playbook:
    return load_playbook(BREACH)


@pytest.fixture
def facts(breach: Playbook) -> Facts:
    return load_facts(EXAMPLES / "data-breach.yaml", breach)


def test_allowed_override_renders_in_every_shipped_channel(breach: Playbook, facts: Facts) -> None:
    playbook = with_override(breach, "apology", long=RESET, short=RESET)  # every channel tells the apology
    renditions = compose(playbook, facts, get_settings(), locales=["en"])
    assert {r.channel.value for r in renditions} == set(BUILT_IN_CHANNELS)
    for rendition in renditions:
        own = (
            facts.story["en"].apology.text
            if spec_of(rendition.channel).form is Form.LONG
            else facts.story["en"].apology.short
        )
        assert own is not None
        for name, text in rendition.fields.items():
            if name == "subject":
                continue
            plain = html.unescape(text)
            assert f"{own} Reset your password at https://acme.example/reset." in plain, (
                rendition.channel,
                name,
            )


def test_override_loop_over_data_renders(breach: Playbook, facts: Facts) -> None:
    listing = (
        "Affected: {% for c in impact.components %}{{ c }}{% if not loop.last %}, {% endif %}{% endfor %}."
    )
    data = facts.model_copy(update={"impact": facts.impact.model_copy(update={"components": ["api", "web"]})})
    email = {
        r.channel: r
        for r in compose(with_override(breach, long=listing), data, get_settings(), locales=["en"])
    }
    assert "Affected: api, web." in email[Channel.EMAIL].fields["body"]


def test_facts_script_in_an_override_is_escaped_in_html(tmp_path: Path, breach: Playbook) -> None:
    data = load_raw(EXAMPLES / "data-breach.yaml")
    script = "<script>alert('x')</script>"
    data["story"]["en"]["cause"] = {"text": f"Cause {script}", "short": f"Short {script}"}
    data["story"]["en"]["fix"] = {"text": f"Fix {script}"}
    data["contact"]["hours"] = script
    override = "{{ super() }} {{ parts.cause.text }} {{ parts.cause.brief }} ({{ contact.hours }})"
    playbook = with_override(breach, long=override, short=override)
    facts = load_facts(write_yaml(tmp_path / "f.yaml", data), playbook)
    renditions = compose(playbook, facts, get_settings(), locales=["en"])
    pages = [(r.channel, r.fields["html"]) for r in renditions if "html" in r.fields]
    assert {channel for channel, _ in pages} == {Channel.EMAIL, Channel.STATUSPAGE}
    for channel, page in pages:
        assert "<script>" not in page, channel
        assert page.count("&lt;script&gt;") >= 4, channel  # fix (super), cause, brief, hours
    body = next(r.fields["body"] for r in renditions if r.channel is Channel.EMAIL)
    assert f"Fix {script} Cause {script}" in body  # plain text is not escaped


def test_override_literal_text_is_text_in_html(breach: Playbook, facts: Facts) -> None:
    override = "{{ super() }} <b>Q&A</b> at {{ link }}"
    renditions = compose(with_override(breach, long=override), facts, get_settings(), locales=["en"])
    email = next(r for r in renditions if r.channel is Channel.EMAIL)
    assert (
        "&lt;b&gt;Q&amp;A&lt;/b&gt; at https://status.acme.example/incidents/INC-0042" in email.fields["html"]
    )
    assert "<b>Q&A</b> at" in email.fields["body"]
    assert "<b>Q&A</b>" in html.unescape(email.fields["html"])


def test_check_override_says_what_the_facts_must_give() -> None:
    uses = check_override(RESET + " {{ breach.nature }} {{ links['advisory'] }}")
    assert uses.links == {"password_reset", "advisory"} and uses.breach
    assert (
        check_override(
            "{% if links.x is defined and links.y is defined %}{{ links.x }}{{ links.y }}{% endif %}"
        ).links
        == set()
    )
    assert check_override("{% if links.x is defined or 1 %}{{ links.x }}{% endif %}").links == {"x"}
