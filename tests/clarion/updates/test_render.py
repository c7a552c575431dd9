from __future__ import annotations

import html
import shutil
from pathlib import Path

import pytest

from clarion.errors import TemplateError
from clarion.facts import Contact, Facts, load_facts
from clarion.kinds import Channel
from clarion.playbook import Part, PartOverride, Playbook, load_playbook
from clarion.settings import get_settings
from clarion.updates import template_env
from clarion.updates.compose import compose, promised_next_update
from clarion.updates.rendition import Rendition
from tests.helpers import EXAMPLES, PLAYBOOKS, load_raw, write_yaml

SANDBOX_ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ incident.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ self._TemplateReference__context }}",
    "{{ lipsum.__globals__['os'].system('id') }}",
    "{% set x = parts.apology.update({'text': 'hacked'}) %}{{ x }}",
]


@pytest.fixture
def breach() -> Playbook:
    return load_playbook(PLAYBOOKS / "data-breach.yaml")


@pytest.fixture
def facts(breach: Playbook) -> Facts:
    return load_facts(EXAMPLES / "data-breach.yaml", breach)


def with_override(playbook: Playbook, locale: str, part: str, **forms: str) -> Playbook:
    parts = {k: {p: o.model_dump() for p, o in v.items()} for k, v in playbook.parts.items()}
    parts.setdefault(locale, {})[part] = forms
    return Playbook.model_validate({**playbook.model_dump(), "parts": parts})


def unchecked_override(playbook: Playbook, locale: str, part: str, **forms: str) -> Playbook:
    """An override that skipped the playbook check (lint refuses these): the sandbox must still hold."""
    parts = {k: dict(v) for k, v in playbook.parts.items()}
    override = PartOverride.model_construct(long=forms.get("long"), short=forms.get("short"))
    parts.setdefault(locale, {})[Part(part)] = override
    return playbook.model_copy(update={"parts": parts})


def by_channel(renditions: list[Rendition], locale: str = "en") -> dict[Channel, Rendition]:
    return {r.channel: r for r in renditions if r.locale == locale}


def test_every_channel_and_locale_is_rendered(breach: Playbook, facts: Facts) -> None:
    renditions = compose(breach, facts, get_settings())
    assert {(r.channel, r.locale) for r in renditions} == {
        (c, loc) for c in breach.channels for loc in breach.locales
    }


@pytest.mark.parametrize("payload", SANDBOX_ESCAPES)
def test_playbook_override_cannot_reach_python_internals(
    breach: Playbook, facts: Facts, payload: str
) -> None:
    evil = unchecked_override(breach, "en", "fix", long=payload, short=payload)
    with pytest.raises(TemplateError) as caught:
        compose(evil, facts, get_settings(), locales=["en"])
    assert "playbook-data-breach/" in str(caught.value)


@pytest.mark.parametrize("payload", SANDBOX_ESCAPES[:3])
def test_a_template_file_cannot_reach_python_internals(
    own_templates: Path, breach: Playbook, facts: Facts, payload: str
) -> None:
    sms = own_templates / "sms" / "en" / "body.txt.j2"
    sms.write_text(sms.read_text() + payload + "\n")
    with pytest.raises(TemplateError) as caught:
        compose(breach, facts, get_settings(), locales=["en"])
    assert "sms/en/body.txt.j2" in str(caught.value)


def test_title_with_script_is_escaped_in_every_html_rendition(tmp_path: Path, breach: Playbook) -> None:
    data = load_raw(EXAMPLES / "data-breach.yaml")
    evil = "<script>alert('x')</script> & <b>bold</b>"
    data["title"] = evil
    data["story"]["de"]["title"] = evil
    data["story"]["en"]["cause"] = {"text": "An <img src=x onerror=alert(1)> tag."}
    # an override in the playbook must be escaped the same way as the channel templates
    playbook = with_override(breach, "en", "prevention", long="{{ incident.title }}")
    facts = load_facts(write_yaml(tmp_path / "f.yaml", data), playbook)
    html_fields = [
        (r, r.fields["html"]) for r in compose(playbook, facts, get_settings()) if "html" in r.fields
    ]
    assert {r.channel for r, _ in html_fields} == {Channel.EMAIL, Channel.STATUSPAGE}
    for rendition, text in html_fields:
        bad = [
            line for line in text.splitlines() if "<script>" in line or "<img" in line or "<b>bold" in line
        ]
        assert not bad, (rendition.channel, rendition.locale, bad)
    showing_title = {(r.channel, r.locale) for r, text in html_fields if "&lt;script&gt;alert(" in text}
    # email shows the title in both locales; the status page entry shows it through the en override
    assert showing_title == {(Channel.EMAIL, "en"), (Channel.EMAIL, "de"), (Channel.STATUSPAGE, "en")}
    # and the reader still sees the title as written
    assert evil in html.unescape(by_channel([r for r, _ in html_fields])[Channel.EMAIL].fields["html"])


def test_plain_text_is_not_escaped(breach: Playbook, facts: Facts) -> None:
    data = facts.model_copy(update={"title": "Q&A <portal> down"})
    email = by_channel(compose(breach, data, get_settings(), locales=["en"]))[Channel.EMAIL]
    assert "Q&A <portal> down" in email.fields["subject"]
    assert "Q&A <portal> down" in email.fields["body"]


def test_subject_is_always_one_line(breach: Playbook, facts: Facts) -> None:
    data = facts.model_copy(update={"title": "Line one\r\nBcc: victim@example.com"})
    subject = by_channel(compose(breach, data, get_settings(), locales=["en"]))[Channel.EMAIL].fields[
        "subject"
    ]
    assert "\n" not in subject and "\r" not in subject


def test_unknown_parts_are_told_honestly_not_left_out(tmp_path: Path, breach: Playbook) -> None:
    data = load_raw(EXAMPLES / "data-breach.yaml")
    for locale in ("en", "de"):
        data["story"][locale] = {"apology": data["story"][locale]["apology"]}
    facts = load_facts(write_yaml(tmp_path / "f.yaml", data), breach)
    renditions = by_channel(compose(breach, facts, get_settings()))
    assert "We do not know the cause yet" in renditions[Channel.EMAIL].fields["body"]
    assert "We do not know the cause yet" in renditions[Channel.STATUSPAGE].fields["html"]
    assert "We are working on a fix now" in renditions[Channel.EMAIL].fields["body"]
    assert "what we will change so it does not happen again" in renditions[Channel.EMAIL].fields["body"]
    assert "We are still investigating the cause." in renditions[Channel.SMS].fields["body"]
    assert "We are still investigating the cause." in renditions[Channel.MASTODON].fields["body"]
    german = by_channel(compose(breach, facts, get_settings()), "de")
    assert "Die Ursache kennen wir noch nicht" in german[Channel.EMAIL].fields["body"]


def test_override_long_and_short_forms_go_to_their_channels(breach: Playbook, facts: Facts) -> None:
    renditions = by_channel(compose(breach, facts, get_settings(), locales=["en"]))
    assert "breach hotline +49 30 1234 5678" in renditions[Channel.EMAIL].fields["body"]
    assert "Reset your password: https://acme.example/reset" in renditions[Channel.SMS].fields["body"]
    assert "breach hotline" not in renditions[Channel.SMS].fields["body"]
    # super() keeps the facts' own fix text in front of the override
    assert renditions[Channel.EMAIL].fields["body"].index("We closed access") < renditions[
        Channel.EMAIL
    ].fields["body"].index("reset your password")


def test_next_update_is_shown_in_the_recipients_zone_and_locale(breach: Playbook, facts: Facts) -> None:
    tokyo = facts.model_copy(
        update={"recipient": facts.recipient.model_copy(update={"time_zone": "Asia/Tokyo"})}
    )
    renditions = compose(breach, tokyo, get_settings())
    english, german = by_channel(renditions), by_channel(renditions, "de")
    assert promised_next_update(breach, facts).isoformat() == "2026-11-23T10:00:00+00:00"  # sev1 → hourly
    assert "Mon 23 Nov, 19:00" in english[Channel.SMS].fields["body"]  # 10:00 UTC in Tokyo
    assert "Mo., 23. Nov., 19:00" in german[Channel.EMAIL].fields["body"]
    # broadcast channels use the playbook's public zone (Europe/Berlin), whoever the recipient is
    assert "Mon 23 Nov, 11:00" in english[Channel.MASTODON].fields["body"]


def test_strict_undefined_names_template_and_line(
    own_templates: Path, breach: Playbook, facts: Facts
) -> None:
    sms = own_templates / "sms" / "en" / "body.txt.j2"
    sms.write_text(sms.read_text() + "{{ links.pasword_reset }}\n")
    line = len(sms.read_text().splitlines())
    with pytest.raises(TemplateError) as caught:
        compose(breach, facts, get_settings(), locales=["en"])
    assert "pasword_reset" in str(caught.value)
    assert f"sms/en/body.txt.j2:{line}: " in str(caught.value)


def test_missing_locale_template_is_a_clear_error(
    own_templates: Path, breach: Playbook, facts: Facts
) -> None:
    shutil.rmtree(own_templates / "bluesky" / "de")
    with pytest.raises(TemplateError, match=r"bluesky/de/body.txt.j2: no bluesky template for locale 'de'"):
        compose(breach, facts, get_settings())


def test_sms_segments_follow_the_playbook_maximum(breach: Playbook, facts: Facts) -> None:
    tight = Playbook.model_validate({**breach.model_dump(), "sms_max_segments": 1})
    sms = by_channel(compose(tight, facts, get_settings(), locales=["en"]))[Channel.SMS]
    assert not sms.fits
    assert sms.binding is not None and sms.binding.limit == 1 and sms.binding.length >= 2


def test_every_contact_path_is_offered_and_escaped_in_html(breach: Playbook, facts: Facts) -> None:
    contact = Contact.model_validate(
        {**facts.contact.model_dump(), "url": "https://acme.example/help?a=1&b=2", "hours": "<24/7>"}
    )
    renditions = by_channel(compose(breach, facts.model_copy(update={"contact": contact}), get_settings()))
    body = renditions[Channel.EMAIL].fields["body"]
    ways = "call +49 30 1234 5678, write to privacy@acme.example or visit https://acme.example/help?a=1&b=2"
    assert f"{ways} (<24/7>)" in body
    page = renditions[Channel.STATUSPAGE].fields["html"]
    assert "visit https://acme.example/help?a=1&amp;b=2 (&lt;24/7&gt;)" in page
    german = by_channel(compose(breach, facts.model_copy(update={"contact": contact}), get_settings()), "de")
    assert (
        "rufen Sie +49 30 1234 5678 an, schreiben Sie an privacy@acme.example oder besuchen Sie"
        in (german[Channel.EMAIL].fields["body"])
    )


def refusal(own_templates: Path, breach: Playbook, facts: Facts, payload: str) -> str:
    """Append ``payload`` to the English SMS template, render, and return the TemplateError."""
    sms = own_templates / "sms" / "en" / "body.txt.j2"
    sms.write_text(sms.read_text() + payload + "\n")
    with pytest.raises(TemplateError) as caught:
        compose(breach, facts, get_settings(), locales=["en"])
    message = str(caught.value)
    assert "sms/en/body.txt.j2" in message
    return message


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ("{{ 'A' * 200000000 }}", "'*' would be over 256 Ki characters"),
        ("{{ incident.title * 100000 }}", "'*' would be over 256 Ki characters"),
        ("{{ [incident.title] * 1000000 }}", "'*' would be over 256 Ki characters"),
        ("{{ 2 ** 100000 }}", "'**' would make a number over 4096 bits"),
        ("{{ '%999999999d' % 1 }}", "'%' formatting with a width of 999999999"),
        ("{{ '%*d' % (999999999, 1) }}", "'%' formatting with 999,999,999"),
        ("{{ '{:>999999999}'.format(1) }}", "str.format() with a width of 999999999"),
        ("{{ '%9999999999s'|format('x') }}", "'%' formatting with a width of 9999999999"),
        ("{{ 'x'|center(999999999) }}", "the center filter with 999,999,999"),
        ("{{ 'x'.ljust(999999999) }}", "str.ljust() with 999,999,999"),
        ("{{ ('line\\n' * 10)|indent('A' * 100000) }}", "indent would be over"),
        ("{{ ('A' * 200000)|replace('A', 'AA') }}", "replace would be over"),
        ("{{ ('A' * 1000).replace('A', 'A' * 1000) }}", "str.replace() would be over"),
        ("{{ range(10000)|join('A' * 100) }}", "join would be over"),
        ("{{ ('A' * 100).join(range(10000)|map('string')|list) }}", "str.join() would be over"),
        (
            "{% set ns = namespace(x='A') %}{% for i in range(40) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
            "text joined with ~ over 256 Ki characters",
        ),
        (
            "{% set ns = namespace(x=[1]) %}{% for i in range(40) %}{% set ns.x = ns.x + ns.x %}{% endfor %}",
            "'+' would be over 256 Ki characters",
        ),
    ],
)
def test_render_limits_refuse_values_over_the_size_cap(
    own_templates: Path, breach: Playbook, facts: Facts, payload: str, named: str
) -> None:
    assert f"refused: {named}" in refusal(own_templates, breach, facts, payload)


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "range of 100,000",
        ),
        (
            "{% for i in range(10000) %}{% for j in range(2) %}{% endfor %}{% endfor %}",
            "more than 10,000 loop",
        ),
        (
            "{% for a in incident.title %}{% for b in incident.title %}{% for c in incident.title %}"
            "{% endfor %}{% endfor %}{% endfor %}",
            "more than 10,000 loop iterations",
        ),
        ("{% for x in [1, 2] recursive %}{{ loop([x]) }}{% endfor %}", "recursive loops are not allowed"),
    ],
)
def test_render_limits_refuse_too_many_loop_iterations(
    own_templates: Path, breach: Playbook, facts: Facts, payload: str, named: str
) -> None:
    assert named in refusal(own_templates, breach, facts, payload)


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        (
            "{% for i in range(9000) %}{{ incident.reference }} is a long incident to tell {% endfor %}",
            "output over",
        ),
        (
            "{% macro big() %}{% for i in range(9000) %}{{ s }}{% endfor %}{% endmacro %}"
            "{% set s = 'A' * 1000 %}{{ big()|length }}",
            "printed more than 4096 Ki characters of text (macros included)",
        ),
    ],
)
def test_render_limits_refuse_output_over_the_size_cap(
    own_templates: Path, breach: Playbook, facts: Facts, payload: str, named: str
) -> None:
    assert f"refused: {named}" in refusal(own_templates, breach, facts, payload)


def test_render_limits_refuse_a_render_that_takes_too_long(
    breach: Playbook, facts: Facts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any budget that has run out stops the render at its next loop step or call, with the template named."""
    monkeypatch.setattr(template_env, "MAX_RENDER_SECONDS", -1.0)
    with pytest.raises(TemplateError, match=r"email/en/body.txt.j2:\d+: refused: took longer than -1 s"):
        compose(breach, facts, get_settings(), locales=["en"])


def test_render_limits_name_the_template_and_the_line(
    own_templates: Path, breach: Playbook, facts: Facts
) -> None:
    sms = own_templates / "sms" / "en" / "body.txt.j2"
    line = len(sms.read_text().splitlines()) + 1
    message = refusal(own_templates, breach, facts, "{{ 'A' * 200000000 }}")
    assert f"sms/en/body.txt.j2:{line}: refused: '*' would be over 256 Ki characters" in message


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
        ("{{ 'x'|int + 'y' }}", "TypeError:"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "refused: nested too deeply"),
    ],
)
def test_template_runtime_errors_are_template_errors(
    own_templates: Path, breach: Playbook, facts: Facts, payload: str, named: str
) -> None:
    assert named in refusal(own_templates, breach, facts, payload)
