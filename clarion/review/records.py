"""What the post-incident report holds: frozen dataclasses, one per figure, and the report whole.

:mod:`clarion.review.figures` computes them from the store (its docstring says what each means);
every other form (Markdown, JSON, the page, the PDF, the trend) reads only these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

OUTCOMES = ("met", "late", "waived", "missed", "open")
"""What became of a regulatory stage, in the order the report counts them."""


@dataclass(frozen=True)
class ChannelFirst:
    channel: str
    at: datetime
    after: timedelta
    """From awareness."""
    served: bool
    """Shown, not sent: counted from the first update's publication."""


@dataclass(frozen=True)
class FirstWord:
    first_at: datetime | None
    """The first message a provider accepted; None while none was."""
    after: timedelta | None
    channels: list[ChannelFirst]


@dataclass(frozen=True)
class Promise:
    update: int
    """The number of the update that made it."""
    due_at: datetime
    kept: bool
    next_at: datetime | None
    """When the next update came (None: not yet)."""
    late_by: timedelta | None
    """None when kept."""


@dataclass(frozen=True)
class Promises:
    due: int
    kept: int
    worst_late_by: timedelta | None
    """The lateness of the worst broken promise; None when every due promise was kept."""
    promises: list[Promise]

    @property
    def share(self) -> float | None:
        return self.kept / self.due if self.due else None


@dataclass(frozen=True)
class ChannelReach:
    channel: str
    audience: int
    """Distinct recipients messages on this channel were addressed to (none on broadcast channels)."""
    reached: int
    accepted: int
    delivered: int
    bounced: int
    failed: int
    suppressed: int
    pending: int
    counted: int = 0
    """People counted once, here: the channel that reached them (of a person reached on two, the one
    with a message delivered, rather than only accepted; on a tie, the fallback's)."""


@dataclass(frozen=True)
class Reached:
    audience: int
    reached: int
    channels: list[ChannelReach]
    by_fallback: int = 0
    """Of those reached, how many a must-reach fallback reached (counted for the fallback's channel)."""

    @property
    def share(self) -> float | None:
        return self.reached / self.audience if self.audience else None


@dataclass(frozen=True)
class RoleApprovals:
    role: str
    count: int
    median: timedelta
    longest: timedelta


@dataclass(frozen=True)
class StageOutcome:
    regime: str
    stage: str
    recipient: str
    due_at: datetime
    met_at: datetime | None
    outcome: str
    """One of :data:`OUTCOMES`."""
    margin: timedelta | None
    """Due minus met (negative when late); due minus now when not met; None when waived."""


@dataclass(frozen=True)
class SurveyFigures:
    invited: int
    answered: int
    informed_mean: float | None
    trust_mean: float | None
    positive: int
    negative: int
    ratio: float | None


@dataclass(frozen=True)
class Commitments:
    total: int
    shipped_on_time: int
    shipped_late: int
    dropped: int
    open: int
    """Planned or in progress, the overdue ones included."""
    overdue: int
    """Open and past the end of the day they were due (UTC)."""


@dataclass(frozen=True)
class Review:
    reference: str
    title: str
    playbook: str
    severity: str
    status: str
    aware_at: datetime
    declared_at: datetime
    resolved_at: datetime | None
    as_of: datetime
    updates: int
    """Updates published."""
    first_word: FirstWord
    promises: Promises
    reach: Reached
    approvals: list[RoleApprovals]
    stages: list[StageOutcome]
    survey: SurveyFigures | None
    commitments: Commitments

    def stage_counts(self) -> dict[str, int]:
        """Stages per outcome, every outcome present."""
        return {o: sum(1 for s in self.stages if s.outcome == o) for o in OUTCOMES}
