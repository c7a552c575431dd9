"""What the incident page says of its prevention commitments: "What we promised".

Each commitment shows its promise in the reader's language (else English, else any), the day it is
due, and its state in words: planned, in progress, built (with the day and what was built), dropped
(with the public reason), or overdue once its day has passed while it is open. The owner is a person
inside and is never shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from clarion.kinds import CommitmentState
from clarion.statuspage.record import PublicCommitment
from clarion.statuspage.wording import Stamp, Wording


@dataclass(frozen=True)
class CommitmentView:
    key: str
    text: str
    due: Stamp
    state: str
    """planned, in_progress, shipped, dropped or overdue (its words are ``promised.<state>``)."""
    note: str | None
    changed: Stamp | None


def _in(texts: dict[str, str], locale: str) -> str:
    for candidate in (locale, "en", *texts):
        if texts.get(candidate):
            return texts[candidate]
    return ""


def commitment_views(
    commitments: tuple[PublicCommitment, ...], now: datetime, words: Wording
) -> tuple[CommitmentView, ...]:
    views = []
    for c in commitments:
        open_ = c.state in (CommitmentState.PLANNED, CommitmentState.IN_PROGRESS)
        past = now >= datetime.combine(c.due_on + timedelta(days=1), time(0), tzinfo=UTC)
        views.append(
            CommitmentView(
                key=c.key,
                text=_in(dict(c.texts), words.locale),
                due=words.day(c.due_on),
                state="overdue" if open_ and past else c.state.value,
                note=c.note,
                changed=words.day(c.changed_at.date()) if c.changed_at else None,
            )
        )
    return tuple(views)
