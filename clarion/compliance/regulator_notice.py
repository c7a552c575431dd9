"""A regulator notice drafted from the incident's facts: every field the law asks for, or a flag.

The same facts that feed the customer messages feed the notice. Each field a stage's ``content``
names is looked up in the facts (dotted paths; a field with several paths takes every one present,
so "measures taken or proposed" is filled by either). A required field with no value is listed as
missing in the draft rather than left out, and a notice that is (or would be) late asks for the
reasons for the delay when the law requires them. The draft is Markdown for a person to check and
paste into the regulator's form; clarion does not file it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from clarion.facts import Facts
from clarion.incidents.reports import inert
from clarion.models import Deadline
from clarion.regimes import NoticeField, Regime, Stage

MISSING = "MISSING"


@dataclass(frozen=True, slots=True)
class NoticeLine:
    field: NoticeField
    value: str | None


@dataclass(frozen=True, slots=True)
class Notice:
    regime: Regime
    stage: Stage
    reference: str
    lines: tuple[NoticeLine, ...]
    due_at: datetime | None
    late: bool
    """Submitting at the draft's time would be after the deadline."""

    @property
    def missing(self) -> list[NoticeField]:
        """Required fields the facts do not fill."""
        return [line.field for line in self.lines if line.field.required and line.value is None]

    @property
    def needs_delay_reason(self) -> bool:
        return self.late and self.stage.late_reasons


def lookup(facts: BaseModel, path: str) -> Any:
    """The value at dotted ``path`` in ``facts`` (models and mappings), or None."""
    value: Any = facts
    for part in path.split("."):
        if value is None:
            return None
        value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
    return value


def _text(value: Any) -> str | None:
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _join(parts: list[str]) -> str:
    """Sentences follow each other; fragments are separated by semicolons."""
    joined = parts[0]
    for part in parts[1:]:
        joined += (" " if joined.rstrip().endswith((".", "!", "?")) else "; ") + part
    return joined


def fill(fields: Sequence[NoticeField], facts: Facts) -> tuple[NoticeLine, ...]:
    lines = []
    for field in fields:
        parts = [text for path in field.facts if (text := _text(lookup(facts, path))) is not None]
        lines.append(NoticeLine(field, _join(parts) if parts else None))
    return tuple(lines)


def draft_notice(
    *, regime: Regime, stage: Stage, facts: Facts, row: Deadline | None, now: datetime
) -> Notice:
    """The notice of ``stage`` from ``facts``, as it would be submitted at ``now``."""
    late = row is not None and now > row.due_at and not row.submissions
    return Notice(
        regime=regime,
        stage=stage,
        reference=facts.reference,
        lines=fill(stage.content, facts),
        due_at=row.due_at if row is not None else None,
        late=late,
    )


def render_markdown(notice: Notice, *, now: datetime, zone: ZoneInfo) -> str:
    """The draft as Markdown: heading, citation, deadline, each field, then what is missing."""
    regime, stage = notice.regime, notice.stage
    out = [
        f"# {inert(stage.name)}: {notice.reference}",
        "",
        f"- **Regime:** {inert(regime.name)} ({inert(regime.citation)})",
        f"- **Recipient:** {inert(stage.recipient)}",
        f"- **Source:** {regime.source_url}",
    ]
    if notice.due_at is not None:
        local = notice.due_at.astimezone(zone)
        out.append(
            f"- **Due:** {notice.due_at:%Y-%m-%d %H:%M} UTC ({local:%Y-%m-%d %H:%M %Z})"
            + (" **(late)**" if notice.late else "")
        )
    out.append(f"- **Drafted:** {now:%Y-%m-%d %H:%M} UTC from the incident's latest facts")
    out.append("")
    for line in notice.lines:
        flag = (
            "" if line.value is not None else (f" **{MISSING}**" if line.field.required else " _(not given)_")
        )
        out.append(f"## {inert(line.field.label)}{flag}")
        out.append("")
        if line.value is not None:
            out.append(inert(line.value))
        elif line.field.hint:
            out.append(f"_To fill in: {inert(line.field.hint)}_")
        else:
            out.append("_To fill in._")
        out.append("")
    if notice.needs_delay_reason:
        out += [
            f"## Reasons for the delay **{MISSING}**",
            "",
            "_This notice is past its deadline; the law asks for the reasons for the delay._",
            "",
        ]
    if notice.missing:
        out.append(f"**Missing required fields:** {', '.join(f.key for f in notice.missing)}")
        out.append("")
    return "\n".join(out)
