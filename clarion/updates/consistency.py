"""The consistency check: every rendition of one update tells the same key facts.

Two things are proved before anything is sent:

1. every rendition carries the same reference, status, next-update instant and status-page link
   (renditions made from different versions of the facts cannot be mixed into one send), and
2. every rendition's text actually shows them (and a human contact path), in its own locale and
   time zone: a template that drops the link or hard-codes a time is caught here.

HTML is checked as the reader sees it (entities decoded); subjects are not required to carry them.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from clarion.errors import InconsistentUpdate, LimitExceeded, RenderError
from clarion.story.told import untold
from clarion.updates.rendition import Rendition

CHECKED_FIELDS = ("body", "html")


def label(rendition: Rendition) -> str:
    return f"{rendition.channel.value}/{rendition.locale}"


def findings(renditions: Sequence[Rendition]) -> list[str]:
    """What is inconsistent, one sentence each; empty when the renditions agree."""
    out: list[str] = []
    if not renditions:
        return out
    first = renditions[0]
    expected = first.carried.as_json()
    for rendition in renditions[1:]:
        for key, value in rendition.carried.as_json().items():
            if value != expected[key]:
                theirs = f"{label(first)} carries {expected[key]!r}"
                out.append(f"{label(rendition)} carries {key} {value!r} but {theirs}")
    for rendition in renditions:
        out.extend(missing_markers(rendition))
        out.extend(missing_parts(rendition))
    return out


def missing_parts(rendition: Rendition) -> list[str]:
    """The parts of the story a rendition's text does not carry (``sms/en: prevention missing``)."""
    out = []
    for name, blocks in rendition.told.items():
        where = label(rendition) if name == "body" else f"{label(rendition)} {name}"
        pointed = {p.value for p in rendition.pointed}
        link = rendition.carried.link
        out.extend(untold(where, blocks, pointed=pointed, expected=rendition.expected, link=link))
    return out


def missing_markers(rendition: Rendition) -> list[str]:
    """The key facts a rendition's text does not show."""
    out = []
    for name in CHECKED_FIELDS:
        text = rendition.fields.get(name)
        if text is None:
            continue
        seen = html.unescape(text) if name == "html" else text
        for what, marker in rendition.markers.items():
            if marker not in seen:
                out.append(f"{label(rendition)} {name}: does not show the {what} {marker!r}")
    return out


def consistent(rendition: Rendition, all_findings: Sequence[str]) -> bool:
    prefixes = (label(rendition) + " ", label(rendition) + ":")
    return not any(f.startswith(prefixes) for f in all_findings)


def over_limit(renditions: Sequence[Rendition]) -> list[LimitExceeded]:
    return [
        LimitExceeded(
            channel=r.channel.value,
            locale=r.locale,
            measure=m.measure,
            length=m.length,
            limit=m.limit if m.limit is not None else 0,
        )
        for r in renditions
        for m in r.measurements
        if not m.fits
    ]


class PreflightFailed(RenderError):
    """Renditions that must not be sent: over a limit or inconsistent. Lists every problem."""

    def __init__(self, errors: Sequence[RenderError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


def preflight(renditions: Sequence[Rendition]) -> None:
    """Raise PreflightFailed unless every rendition fits and all of them agree."""
    errors: list[RenderError] = list(over_limit(renditions))
    problems = findings(renditions)
    if problems:
        errors.append(InconsistentUpdate(problems))
    if errors:
        raise PreflightFailed(errors)
