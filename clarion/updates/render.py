"""Rendering: one Update (facts + story) → one Rendition per channel × locale.

Templates live in ``templates/<channel>/<locale>/`` and run in Jinja's immutable sandbox with
``StrictUndefined``; HTML templates (``*.html.j2``) are autoescaped. Each body template tells the
story in four blocks (apology, cause, fix, prevention); a playbook overrides a block per locale with
a ``long`` form (email, status page) or a ``short`` one (SMS, social, banner). Templates see plain
data only (strings, numbers, lists and dicts), never Python objects.

Nothing is cut to fit: every rendition is measured against its channel's limits and a rendition
over a limit is reported, never shortened. Rendering itself is bounded too (time, output size, loop
iterations: ``clarion/updates/template_env.py``); a template that goes over a bound is a ``TemplateError``.
A playbook's overrides are checked before they get here (``clarion/updates/overrides.py``), and their
literal text is text: in an HTML template it is escaped like any value.

What each story block showed is read back out of the text (:mod:`clarion.story.marks`), so the
consistency proof can name a missing part. A short channel whose whole story is over its limit
leaves prevention, then cause, then fix to a pointer to the status page (:data:`POINTING`); a channel
that threads (Mastodon, Bluesky) also tells those parts in replies. The templates' environment is
:mod:`clarion.updates.environment`; what comes out, :mod:`clarion.updates.rendition`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import yaml
from babel.dates import format_datetime
from jinja2.exceptions import SecurityError

from clarion.channel_table import channel_table, spec_of
from clarion.errors import TemplateError, display_path
from clarion.facts import Facts
from clarion.files.text import visible
from clarion.kinds import Channel, IncidentStatus
from clarion.playbook import Part, Playbook
from clarion.story.marks import MarksMisused, split
from clarion.story.told import as_read
from clarion.updates.environment import MACROS, autoescaped, make_environment
from clarion.updates.limits import measure
from clarion.updates.rendition import Carried, Rendition
from clarion.updates.template_env import LimitReached

POINTING: tuple[tuple[Part, ...], ...] = (
    (Part.PREVENTION,),
    (Part.PREVENTION, Part.CAUSE),
    (Part.PREVENTION, Part.CAUSE, Part.FIX),
)
"""The parts a short channel leaves to its pointer, tried in turn while the story does not fit."""


def channel_fields(channel: Channel) -> Mapping[str, str]:
    """The template file of each field of ``channel``. ``subject`` is one line; ``html`` is autoescaped."""
    return spec_of(channel).fields


@dataclass(frozen=True)
class LocaleText:
    """Per-locale strings the renderer itself needs (status labels, date format)."""

    datetime_format: str
    status: Mapping[IncidentStatus, str]
    holding: Mapping[str, str] = field(default_factory=dict)
    """``text`` and ``short`` of the holding statement's apology part (``{title}`` is filled in)."""
    acknowledgement: Mapping[str, str] = field(default_factory=dict)
    """``text``, ``short`` (``{title}``, ``{affecting}``) and ``affecting`` (``{components}``)."""
    maintenance: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Per maintenance step, ``text`` and ``short`` of its apology (``{title}``, ``{starts}``, ``{ends}``)."""
    built: Mapping[str, Any] = field(default_factory=dict)
    """"You asked, we built it": ``apology`` and ``prevention`` (``text``, ``short``) and ``asked``."""

    def when(self, instant: datetime, time_zone: str, locale: str) -> str:
        return str(format_datetime(instant, self.datetime_format, tzinfo=ZoneInfo(time_zone), locale=locale))


class Renderer:
    """Renders updates for one playbook. Compiled templates are cached per channel, locale, field."""

    def __init__(self, playbook: Playbook, templates_dir: Path, *, sms_max_segments: int) -> None:
        self.playbook = playbook
        self.templates_dir = templates_dir
        self._generated = self._overrides(playbook)
        self.env = make_environment(templates_dir, self._generated, story=True)
        self.sms_max_segments = min(sms_max_segments, playbook.sms_max_segments or sms_max_segments)
        self._templates: dict[tuple[Channel, str, str], jinja2.Template] = {}
        self._locales: dict[str, LocaleText] = {}
        self._pointer_labels: dict[str, Mapping[Part, str]] = {}

    def locale_text(self, locale: str) -> LocaleText:
        if locale not in self._locales:
            path = self.templates_dir / "_locale" / f"{locale}.yaml"
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
                self._locales[locale] = LocaleText(
                    datetime_format=data["datetime_format"],
                    status={s: data["status"][s.value] for s in IncidentStatus},
                    holding={k: str(data["holding"][k]) for k in ("text", "short")},
                    acknowledgement={k: str(v) for k, v in (data.get("acknowledgement") or {}).items()},
                    maintenance={
                        str(step): {k: str(words[k]) for k in ("text", "short")}
                        for step, words in (data.get("maintenance") or {}).items()
                    },
                    built=_built(data.get("built")),
                )
            except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
                raise TemplateError.at(display_path(path), None, f"locale strings unusable: {exc!r}") from exc
        return self._locales[locale]

    def render(
        self, facts: Facts, *, next_update_by: datetime, channel: Channel, locale: str, time_zone: str
    ) -> Rendition:
        """Render every field of ``channel`` in ``locale``, with times shown in ``time_zone``.

        When the whole story does not fit and the templates have a pointer block, the rendition is
        made again with prevention, then cause, then fix left to the pointer (:data:`POINTING`); the
        first that fits is kept, else the last one tried, which is reported over its limit. On a
        channel that threads, the parts left to the pointer follow as replies when each fits a post.
        """
        whole = rendition = self._render(facts, next_update_by, channel, locale, time_zone, ())
        for pointed in POINTING:
            if rendition.fits or not rendition.can_point:
                break
            rendition = self._render(facts, next_update_by, channel, locale, time_zone, pointed)
        if rendition.pointed and rendition.fits and spec_of(channel).thread > len(rendition.pointed):
            return self._threaded(rendition, whole)
        return rendition

    def _threaded(self, head: Rendition, whole: Rendition) -> Rendition:
        """``head`` with a reply for each part it points to, in the story's order, each telling the
        part as ``whole`` did and numbered (``(2/3) Why: …``); ``head`` alone when a reply would not
        fit one post, or ``whole`` did not tell the part (the consistency proof then says so)."""
        told = whole.told.get("body", {})
        parts = [part for part in Part if part in head.pointed]
        if not all(told.get(part.value) for part in parts):
            return head
        labels = self._labels(head.locale)
        if not labels:
            return head
        total = len(parts) + 1
        replies = tuple(
            f"({number}/{total}) {labels[part]} {told[part.value]}" for number, part in enumerate(parts, 2)
        )
        spec = spec_of(head.channel)
        measured = [
            dataclasses.replace(m, field=f"reply {number}")
            for number, reply in enumerate(replies, 2)
            for m in measure(head.channel, {"body": reply}, limits=spec.limits, sms_max_segments=1)
        ]
        if not all(m.fits for m in measured):
            return head
        return dataclasses.replace(head, thread=replies, measurements=(*head.measurements, *measured))

    def _labels(self, locale: str) -> Mapping[Part, str]:
        """What the locale's pointer says for each part alone ("Why:", "What we change:"); empty
        when the locale's macros have no ``pointers``."""
        if locale not in self._pointer_labels:
            macros = self.env.get_template(f"{MACROS}/{locale}.j2").module
            pointers = getattr(macros, "pointers", None)
            self._pointer_labels[locale] = {
                part: " ".join(str(pointers({p.value: {"pointer": p is part} for p in Part})).split())
                for part in Part
                if part is not Part.APOLOGY and pointers is not None
            }
        return self._pointer_labels[locale]

    def _render(
        self,
        facts: Facts,
        next_update_by: datetime,
        channel: Channel,
        locale: str,
        time_zone: str,
        pointed: tuple[Part, ...],
    ) -> Rendition:
        text = self.locale_text(locale)
        carried = Carried(facts.reference, facts.status, next_update_by, facts.link)
        context = self._context(facts, carried, channel, locale, time_zone, text, pointed)
        fields: dict[str, str] = {}
        told: dict[str, Mapping[str, str]] = {}
        for name in channel_fields(channel):
            fields[name], blocks = self._render_field(channel, locale, name, context)
            if name != "subject":
                told[name] = blocks
        markers = {
            "reference": carried.reference,
            "status": text.status[carried.status],
            "next update time": context["next_update"],
            "status-page link": carried.link,
            "human contact": facts.contact.primary,
        }
        return Rendition(
            channel=channel,
            locale=locale,
            time_zone=time_zone,
            fields=fields,
            carried=carried,
            markers=markers,
            measurements=tuple(
                measure(
                    channel, fields, limits=spec_of(channel).limits, sms_max_segments=self.sms_max_segments
                )
            ),
            told=told,
            pointed=pointed,
            expected=self._expected(facts, channel, locale),
        )

    def _expected(self, facts: Facts, channel: Channel, locale: str) -> dict[str, tuple[str, ...]]:
        """Per part the facts tell, its text and short form; a part a playbook override rewrites for
        this channel's form is left out (the override decides its words)."""
        form = spec_of(channel).form.value
        overrides = self.playbook.parts.get(locale, {})
        story = facts.story[locale]
        expected = {}
        for part in Part:
            told = story.part(part)
            override = overrides.get(part)
            if told.known and (override is None or getattr(override, form) is None):
                expected[part.value] = tuple(t for t in (told.text, told.short) if t)
        return expected

    def _context(
        self,
        facts: Facts,
        carried: Carried,
        channel: Channel,
        locale: str,
        time_zone: str,
        text: LocaleText,
        pointed: tuple[Part, ...],
    ) -> dict[str, Any]:
        story = facts.story[locale]
        dumped = facts.model_dump(mode="json")
        return {
            "organisation": facts.organisation,
            "channel": channel.value,
            "locale": locale,
            "form": spec_of(channel).form.value,
            "incident": {
                "reference": facts.reference,
                "title": story.title or facts.title,
                "severity": facts.severity,
                "status": facts.status.value,
                "status_label": text.status[facts.status],
            },
            "parts": {
                part.value: {
                    **story.part(part).model_dump(),
                    "known": story.part(part).known,
                    "brief": story.part(part).brief,
                    "pointer": part in pointed,
                }
                for part in Part
            },
            "pointed": [part.value for part in pointed],
            "next_update": text.when(carried.next_update_by, time_zone, locale),
            "started": text.when(facts.started_at, time_zone, locale) if facts.started_at else None,
            "link": carried.link,
            "contact": {**dumped["contact"], "primary": facts.contact.primary},
            "links": dumped["links"],
            "impact": {k: v for k, v in dumped["impact"].items() if k != "component_status"},
            "breach": dumped["breach"],
        }

    @staticmethod
    def _overrides(playbook: Playbook) -> dict[str, str]:
        """Child templates that replace story blocks, one per channel × locale × field overridden.

        An overridden part left to the pointer (:data:`POINTING`) shows nothing, like any other."""
        generated = {}
        for locale, overrides in playbook.parts.items():
            for channel, spec in channel_table().items():
                form, files = spec.form.value, spec.fields
                blocks = {p: getattr(o, form) for p, o in overrides.items() if getattr(o, form) is not None}
                if not blocks:
                    continue
                for file in files.values():
                    parent = f"{channel.value}/{locale}/{file}"
                    generated[f"playbook-{playbook.name}/{parent}"] = f'{{% extends "{parent}" %}}' + "".join(
                        _override_block(part, body) for part, body in blocks.items()
                    )
        return generated

    def _template(self, channel: Channel, locale: str, field_name: str) -> jinja2.Template:
        key = (channel, locale, field_name)
        if key not in self._templates:
            name = f"{channel.value}/{locale}/{channel_fields(channel)[field_name]}"
            overridden = f"playbook-{self.playbook.name}/{name}"
            try:
                parent = self.env.get_template(name)
                self._templates[key] = (
                    self.env.get_template(overridden) if overridden in self._generated else parent
                )
            except jinja2.TemplateNotFound as exc:
                raise TemplateError.at(
                    f"templates/{exc.name}", None, f"no {channel.value} template for locale {locale!r}"
                ) from exc
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError.at(exc.name or name, exc.lineno, f"syntax: {exc.message}") from exc
        return self._templates[key]

    def _render_field(
        self, channel: Channel, locale: str, field_name: str, context: dict[str, Any]
    ) -> tuple[str, Mapping[str, str]]:
        """The field's text and, per story block, the text it showed as read."""
        template = self._template(channel, locale, field_name)
        macros = f"{MACROS}/{locale}.html.j2" if field_name == "html" else f"{MACROS}/{locale}.j2"
        try:
            raw = template.render({**context, "macros": macros})
        except LimitReached as exc:
            raise TemplateError.at(template.name or "?", _line(exc), f"refused: {exc.message}") from exc
        except SecurityError as exc:
            raise TemplateError.at(
                template.name or "?", _line(exc), f"refused by the sandbox: {exc}"
            ) from exc
        except jinja2.UndefinedError as exc:
            raise TemplateError.at(template.name or "?", _line(exc), f"undefined: {exc.message}") from exc
        except jinja2.TemplateError as exc:
            raise TemplateError.at(template.name or "?", _line(exc), str(exc)) from exc
        except RecursionError as exc:
            raise TemplateError.at(template.name or "?", _line(exc), "refused: nested too deeply") from exc
        except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
            message = f"{type(exc).__name__}: {visible(str(exc), limit=200)}"
            raise TemplateError.at(template.name or "?", _line(exc), message) from exc
        try:
            raw, blocks = split(raw)
        except MarksMisused as exc:
            raise TemplateError.at(template.name or "?", None, str(exc)) from exc
        markup = autoescaped(template.name)
        read = {name: as_read(text, markup=markup) for name, text in blocks.items()}
        if field_name == "subject":
            return " ".join(raw.split()), read  # one line: no header injection, no stray newlines
        if field_name == "html":
            return raw.strip() + "\n", read
        if spec_of(channel).one_line:
            return " ".join(raw.split()), read
        return _tidy(raw), read


def _override_block(part: Part, body: str) -> str:
    """A playbook's block for ``part``; it shows nothing when the part is left to the pointer."""
    name = part.value
    return f"{{% block {name} %}}{{% if not parts.{name}.pointer %}}{body}{{% endif %}}{{% endblock %}}"


def _line(exc: BaseException) -> int | None:
    """The template line of a render-time error, read from Jinja's rewritten traceback."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(".j2") or tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


_SPACES = re.compile(r"[ \t]+")
_BLANKS = re.compile(r"\n{3,}")


def _tidy(text: str) -> str:
    """Plain text: single spaces, no trailing spaces, at most one blank line in a row."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def _built(data: Any) -> dict[str, Any]:
    """The locale's "you asked, we built it" wording, checked for its keys (empty when it has none)."""
    if data is None:
        return {}
    return {
        "apology": {k: str(data["apology"][k]) for k in ("text", "short")},
        "prevention": {k: str(data["prevention"][k]) for k in ("text", "short")},
        "asked": str(data["asked"]),
    }
