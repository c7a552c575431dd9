"""The whole story on every channel: the four parts, or a pointer for a part that does not fit, and
a named failure in preview and publish when a rendition leaves one out."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from clarion.audiences.sources import Source
from clarion.channel_table import public_channels
from clarion.errors import TemplateError
from clarion.facts import Facts, load_facts
from clarion.kinds import Channel
from clarion.playbook import Part, Playbook, load_playbook
from clarion.settings import Settings, get_settings
from clarion.updates.compose import compose
from clarion.updates.consistency import PreflightFailed, findings
from clarion.updates.publish import check_draft
from clarion.updates.render import Renderer
from clarion.updates.rendition import Rendition
from faces.cli import app
from tests.helpers import EXAMPLES, PLAYBOOKS, load_raw, shipped_playbooks, write_yaml

AUDIENCE_CSV = EXAMPLES.parent / "audiences" / "affected-customers.csv"
PARTS = [p.value for p in Part]


def _renditions(name: str) -> list[Rendition]:
    playbook = load_playbook(PLAYBOOKS / f"{name}.yaml")
    return compose(playbook, load_facts(EXAMPLES / f"{name}.yaml", playbook), get_settings())


@pytest.mark.parametrize("name", shipped_playbooks())
def test_every_shipped_rendition_tells_all_four_parts(name: str) -> None:
    renditions = _renditions(name)
    assert findings(renditions) == []
    for rendition in renditions:
        for field, blocks in rendition.told.items():
            pointed = {p.value for p in rendition.pointed}
            for part in PARTS:
                assert blocks.get(part) or part in pointed, f"{rendition.channel}/{rendition.locale} {field}"


def test_the_short_channels_now_tell_what_they_dropped(breach: Playbook, facts: Facts) -> None:
    """SMS had no prevention, Bluesky no cause or prevention, the banner only the apology."""
    told = {(r.channel, r.locale): r for r in compose(breach, facts, get_settings())}
    sms = told[Channel.SMS, "en"]
    assert "prevention" not in {p.value for p in sms.pointed}
    assert "We will share what we change to prevent a repeat." in sms.fields["body"]
    for channel in (Channel.BLUESKY, Channel.BANNER):
        rendition = told[channel, "en"]
        body = rendition.fields["body"]
        for part in PARTS:
            assert rendition.told["body"].get(part) or (
                Part(part) in rendition.pointed and rendition.carried.link in body
            )


def _story(facts: Facts, **shorts: str) -> Facts:
    """``facts`` with the English short forms of the parts named."""
    story = facts.story["en"]
    parts = {part: story.part(Part(part)).model_copy(update={"short": text}) for part, text in shorts.items()}
    return facts.model_copy(update={"story": {**facts.story, "en": story.model_copy(update=parts)}})


def _long_story(facts: Facts, words: int) -> Facts:
    """``facts`` told briefly, but for a cause and a prevention of ``words`` words each."""
    long = " ".join(["outage"] * words)
    return _story(
        facts, apology="Sorry.", fix="Fixed.", cause=f"Cause: {long}.", prevention=f"Prevention: {long}."
    )


def _render(playbook: Playbook, facts: Facts, channel: Channel) -> Rendition:
    settings = get_settings()
    renderer = Renderer(playbook, settings.templates_dir, sms_max_segments=settings.sms_max_segments)
    next_update = facts.as_of.replace(hour=23)
    return renderer.render(facts, next_update_by=next_update, channel=channel, locale="en", time_zone="UTC")


def test_a_story_too_long_for_a_post_leaves_parts_to_the_pointer(breach: Playbook, facts: Facts) -> None:
    long = _long_story(facts, 12)
    rendition = _render(breach, long, Channel.BLUESKY)
    assert rendition.fits
    assert rendition.pointed == (Part.PREVENTION, Part.CAUSE)
    body = rendition.fields["body"]
    assert f"Why and what we change: {facts.link}" in body
    assert "outage outage" not in body  # the long parts are on the status page, not here
    assert findings([rendition]) == []
    assert _render(breach, _long_story(facts, 1), Channel.BLUESKY).pointed == ()  # a short story fits whole


def test_pointers_are_tried_in_order_and_the_rest_is_reported(breach: Playbook, facts: Facts) -> None:
    long = _long_story(facts, 8)
    assert _render(breach, long, Channel.BLUESKY).pointed == (Part.PREVENTION,)
    hopeless = _story(long, apology="Sorry. " * 60)
    rendition = _render(breach, hopeless, Channel.BLUESKY)
    assert rendition.pointed == (Part.PREVENTION, Part.CAUSE, Part.FIX)
    assert not rendition.fits  # every pointer tried, still over: reported, never cut
    assert findings([rendition]) == []  # ... and still the whole story, by pointers


def test_long_channels_never_point(breach: Playbook, facts: Facts) -> None:
    long = _long_story(facts, 400)
    for channel in public_channels():
        if channel in (Channel.EMAIL, Channel.STATUSPAGE):
            rendition = _render(breach, long, channel)
            assert rendition.pointed == ()
            assert not rendition.can_point


def _drop(templates: Path, channel: str, block: str) -> None:
    for locale in ("en", "de"):
        path = templates / channel / locale / "body.txt.j2"
        text = path.read_text(encoding="utf-8")
        start = text.index("{% block " + block + " %}")
        end = text.index("{% endblock %}", start) + len("{% endblock %}")
        path.write_text(text[:start] + text[end:], encoding="utf-8")


def test_a_template_that_drops_a_part_is_named(own_templates: Path, breach: Playbook, facts: Facts) -> None:
    _drop(own_templates, "sms", "prevention")
    problems = findings(compose(breach, facts, get_settings()))
    assert problems == ["sms/en: prevention missing", "sms/de: prevention missing"]


def test_a_block_that_tells_other_words_than_the_facts_is_named(
    own_templates: Path, breach: Playbook, facts: Facts
) -> None:
    path = own_templates / "mastodon" / "en" / "body.txt.j2"
    path.write_text(
        path.read_text(encoding="utf-8").replace("{{ m.cause(parts.cause, form) }}", "Cause: under review."),
        encoding="utf-8",
    )
    problems = findings(compose(breach, facts, get_settings()))
    assert problems == ["mastodon/en: cause does not show the cause the facts tell (its text or short form)"]


def test_a_pointer_without_the_link_does_not_count(
    own_templates: Path, breach: Playbook, facts: Facts
) -> None:
    path = own_templates / "bluesky" / "en" / "body.txt.j2"
    path.write_text(
        path.read_text(encoding="utf-8").replace("{{ m.pointers(parts) }}", "{{ m.pointers(parts) }} ask us"),
        encoding="utf-8",
    )
    rendition = _render(breach, _long_story(facts, 12), Channel.BLUESKY)
    assert rendition.pointed  # the link still follows ("ask us https://…"): it counts
    assert findings([rendition]) == []
    path.write_text(
        path.read_text(encoding="utf-8").replace(" {{ link }}{% endblock %}", "{% endblock %} {{ link }}"),
        encoding="utf-8",
    )
    rendition = _render(breach, _long_story(facts, 12), Channel.BLUESKY)
    assert [p for p in findings([rendition]) if "pointer" in p] == [
        f"bluesky/en: {part} missing (left to the pointer, but no pointer to {facts.link} is shown)"
        for part in ("cause", "prevention")
    ]


def test_a_template_that_writes_a_reserved_character_is_refused(
    own_templates: Path, breach: Playbook, facts: Facts
) -> None:
    path = own_templates / "sms" / "en" / "body.txt.j2"
    path.write_text(path.read_text(encoding="utf-8") + "\ufdd0", encoding="utf-8")
    with pytest.raises(TemplateError, match="reserved character"):
        compose(breach, facts, get_settings())


def test_publish_fails_naming_the_channel_locale_and_part(
    own_templates: Path, breach: Playbook, facts: Facts
) -> None:
    _drop(own_templates, "banner", "apology")  # never left to a pointer
    settings = Settings(
        home=own_templates.parent / "home", templates_dir=own_templates, playbooks_dir=PLAYBOOKS
    )
    with pytest.raises(PreflightFailed) as caught:
        check_draft(
            playbook=breach,
            facts=facts,
            settings=settings,
            sources={"affected-customers": Source(csv=AUDIENCE_CSV)},
        )
    assert "banner/en: apology missing" in str(caught.value)
    assert "banner/de: apology missing" in str(caught.value)


def test_preview_fails_naming_the_channel_locale_and_part(own_templates: Path) -> None:
    _drop(own_templates, "sms", "prevention")
    result = CliRunner().invoke(
        app, ["preview", "data-breach", "--facts", str(EXAMPLES / "data-breach.yaml"), "--locale", "en"]
    )
    assert result.exit_code == 2, result.output
    assert "inconsistent: sms/en: prevention missing" in result.output
    assert "NOT ready" in result.output


def test_preview_shows_which_parts_a_rendition_points_to(tmp_path: Path) -> None:
    data = load_raw(EXAMPLES / "data-breach.yaml")
    data["story"]["en"]["cause"]["short"] = "Cause: " + "a long explanation, " * 10 + "end."
    facts = write_yaml(tmp_path / "long.yaml", data)
    result = CliRunner().invoke(app, ["preview", "data-breach", "--facts", str(facts), "--locale", "en"])
    assert result.exit_code == 0, result.output
    assert "left to the pointer" in result.output
    assert "Why and what we change: https://status.acme.example/incidents/INC-0042" in result.output


def test_on_a_threading_channel_the_parts_left_out_follow_as_replies(breach: Playbook, facts: Facts) -> None:
    rendition = _render(breach, _long_story(facts, 12), Channel.BLUESKY)
    long = " ".join(["outage"] * 12)
    assert rendition.thread == (f"(2/3) Why: Cause: {long}.", f"(3/3) What we change: Prevention: {long}.")
    assert [m.field for m in rendition.measurements if m.field.startswith("reply")] == [
        "reply 2",
        "reply 2",
        "reply 3",
        "reply 3",
    ]  # graphemes and bytes, each post
    assert rendition.fits and findings([rendition]) == []


def test_a_reply_too_long_for_a_post_leaves_the_part_to_the_pointer_alone(
    breach: Playbook, facts: Facts
) -> None:
    rendition = _render(breach, _long_story(facts, 60), Channel.BLUESKY)
    assert rendition.pointed and rendition.thread == ()
    assert rendition.fits  # the first post, pointing to the status page, is all there is


@pytest.mark.parametrize("channel", [Channel.SMS, Channel.BANNER])
def test_channels_that_do_not_thread_only_point(breach: Playbook, facts: Facts, channel: Channel) -> None:
    rendition = _render(breach, _long_story(facts, 30), channel)
    assert rendition.pointed and rendition.thread == ()
