"""Playbooks: what clarion does for one kind of incident, as validated YAML.

A playbook names its severities and their cadence tiers (with step-down by status), the audiences
and their channels, the locales it ships in, who must approve, which regulatory regimes start,
the holding-statement and survey policies, and overrides of the four story parts. Unknown keys are
errors (``extra="forbid"``) so a misspelt key never silently falls back to a default.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from babel import Locale, UnknownLocaleError
from pydantic import (
    AfterValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from clarion.audiences.email_address import EmailNotValidError, normalized_email
from clarion.channel_table import Reach, channel_table
from clarion.durations import (
    AcknowledgementPromise,
    ApprovalTimeout,
    CommitmentLead,
    FallbackAfter,
    HoldingGrace,
    MaintenanceLead,
    SurveyDelay,
    SurveyExpiry,
    SurveyReminder,
    SurveyRetention,
    VerifyFor,
)
from clarion.errors import PlaybookError, Problem, display_path
from clarion.files.yamlfile import read_yaml, validate_with_lines
from clarion.kinds import FALLBACK_CHANNELS, CadenceTier, Channel, IncidentStatus, TimeZoneName, UpdateKind
from clarion.outbox.quiet_hours import QuietHours
from clarion.statuspage.components import IMPACTED, ComponentStatus
from clarion.strict import Slug, Strict
from clarion.updates.overrides import check_override, unmet_needs


class Part(StrEnum):
    """The four parts of every update, in the order they are told."""

    APOLOGY = "apology"
    CAUSE = "cause"
    FIX = "fix"
    PREVENTION = "prevention"


class PlaybookKind(StrEnum):
    DATA_BREACH = "data-breach"
    OUTAGE = "outage"
    DEGRADED_PERFORMANCE = "degraded-performance"
    SCHEDULED_MAINTENANCE = "scheduled-maintenance"
    SECURITY_VULNERABILITY = "security-vulnerability"
    OTHER = "other"


class SeverityPolicy(Strict):
    description: str
    cadence: CadenceTier = Field(description="urgent = hourly, important = daily, routine = weekly")
    step_down: dict[IncidentStatus, CadenceTier] = Field(
        default_factory=dict, description="A slower tier once the incident reaches this status."
    )
    component_status: ComponentStatus | None = Field(
        default=None,
        description="What the status page shows for the components an incident of this severity "
        "touches, unless the facts say otherwise (default: under_maintenance for scheduled "
        "maintenance, else partial_outage).",
    )

    @field_validator("component_status")
    @classmethod
    def _impacted(cls, value: ComponentStatus | None) -> ComponentStatus | None:
        if value is ComponentStatus.OPERATIONAL:
            raise ValueError(f"a touched component is one of {', '.join(IMPACTED)}")
        return value

    def tier_for(self, status: IncidentStatus) -> CadenceTier:
        """The tier for ``status``: the step-down of the latest status reached at or before it."""
        order = list(IncidentStatus)
        tier = self.cadence
        for reached in order[: order.index(status) + 1]:
            tier = self.step_down.get(reached, tier)
        return tier


def component_status_for(playbook: Playbook, severity: str) -> ComponentStatus:
    """What the components an incident of ``severity`` touches show, unless its facts say otherwise."""
    policy = playbook.severities.get(severity)
    if policy is not None and policy.component_status is not None:
        return policy.component_status
    if playbook.kind is PlaybookKind.SCHEDULED_MAINTENANCE:
        return ComponentStatus.UNDER_MAINTENANCE
    return ComponentStatus.PARTIAL_OUTAGE


class SubscribersSource(Strict):
    """The status page's confirmed subscribers: each update goes to those whose chosen components
    it touches (all of them when they chose every component or the update names none)."""

    channels: list[Channel] = Field(
        default_factory=lambda: [Channel.EMAIL, Channel.SMS],
        min_length=1,
        description="Subscribers of these channels (those the audience also sends on).",
    )

    @field_validator("channels")
    @classmethod
    def _subscribable(cls, value: list[Channel]) -> list[Channel]:
        other = sorted(c.value for c in value if c not in (Channel.EMAIL, Channel.SMS))
        if other:
            raise ValueError(f"people subscribe by email or sms, not {', '.join(other)}")
        return value


class AudienceSource(Strict):
    csv: str | None = Field(default=None, description="CSV file of recipients, relative to the playbook.")
    sql: str | None = Field(default=None, description="SQL query returning recipients.")
    subscribers: SubscribersSource | None = Field(
        default=None, description="The status page's confirmed subscribers (`{}`: on every channel)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> AudienceSource:
        if sum(kind is not None for kind in (self.csv, self.sql, self.subscribers)) != 1:
            raise ValueError("give exactly one of csv, sql or subscribers")
        return self


DEFAULT_FALLBACK_AFTER = timedelta(hours=2)


class Audience(Strict):
    description: str
    channels: list[Channel] = Field(min_length=1)
    source: AudienceSource | None = None
    mandatory: str | None = Field(
        default=None,
        description="Why these messages are legally required or life-safety (bypasses unsubscribe).",
    )
    must_reach: bool = Field(
        default=False,
        description="A person whose email bounces, is dropped or is still not delivered fallback_after "
        "after acceptance gets the same update by SMS, once (and the other way round).",
    )
    fallback_after: FallbackAfter | None = Field(
        default=None, description="How long an accepted message may stay undelivered (must_reach; 2h)."
    )

    @field_validator("channels")
    @classmethod
    def _personal_only(cls, value: list[Channel]) -> list[Channel]:
        table = channel_table()
        inside = sorted(c.value for c in value if table[c].reach is Reach.INTERNAL)
        if inside:
            raise ValueError(
                f"{', '.join(inside)} reach the people inside, never customers: not an audience's"
            )
        public = sorted(c.value for c in value if not table[c].for_audiences)
        if public:
            raise ValueError(
                f"{', '.join(public)} reach the public, not an audience: list under public_channels"
            )
        return value

    @model_validator(mode="after")
    def _fallback_needs_email_or_sms(self) -> Audience:
        if self.fallback_after is not None and not self.must_reach:
            raise ValueError("fallback_after is for a must_reach audience: add must_reach: true")
        if self.must_reach and not self.fallbacks:
            raise ValueError("must_reach falls back between email and sms: the audience sends neither")
        if self.must_reach and self.fallback_after is None:
            object.__setattr__(self, "fallback_after", DEFAULT_FALLBACK_AFTER)
        return self

    @property
    def fallbacks(self) -> dict[Channel, Channel]:
        """Where a must-reach message that did not arrive goes next: email → sms, sms → email."""
        if not self.must_reach:
            return {}
        return {c: FALLBACK_CHANNELS[c] for c in self.channels if c in FALLBACK_CHANNELS}

    @property
    def rendered_channels(self) -> list[Channel]:
        """Its channels and those its fallbacks send on: every one needs a rendition."""
        return [*self.channels, *(c for c in self.fallbacks.values() if c not in self.channels)]


class ApprovalStep(Strict):
    role: Slug
    approvers: list[str] = Field(min_length=1)
    backup: str | None = Field(default=None, description="Escalate to this person before the timeout.")
    timeout: ApprovalTimeout
    required_for: list[UpdateKind] = Field(
        default_factory=lambda: [
            UpdateKind.INITIAL,
            UpdateKind.UPDATE,
            UpdateKind.RESOLUTION,
            UpdateKind.CORRECTION,
        ]
    )


class ShortForm(Strict):
    """What the short declare form fills in: it asks only for the title, what happened and where."""

    organisation: Annotated[str, Field(min_length=1, max_length=200)]
    contact: dict[str, str] = Field(
        description="How people reach a human (phone, email, url, hours), as in a facts file."
    )
    links: dict[str, str] = Field(default_factory=dict, description="Links the part overrides use.")

    @field_validator("contact")
    @classmethod
    def _a_real_contact(cls, value: dict[str, str]) -> dict[str, str]:
        from clarion.facts import Contact  # the facts module reads playbooks: import on use

        Contact.model_validate(value)
        return value


class AcknowledgementPolicy(Strict):
    """The first word at declaration: pre-approved wording ("we are aware of a problem with …, we are
    investigating; next update by …") on broadcast and served channels, before any approval."""

    channels: list[Channel] = Field(
        default_factory=lambda: [Channel.STATUSPAGE, Channel.BANNER],
        min_length=1,
        description="Where it goes: the status page, the banner, public posts; never personal messages.",
    )
    next_update_in: AcknowledgementPromise = Field(
        default=timedelta(minutes=30), description="The next update it promises, from the declaration."
    )
    short_form: ShortForm | None = Field(
        default=None, description="What the short declare form fills in; without it, only the full form."
    )

    @field_validator("channels")
    @classmethod
    def _never_personal(cls, value: list[Channel]) -> list[Channel]:
        table = channel_table()
        personal = sorted(c.value for c in value if table[c].reach in (Reach.PERSONAL, Reach.INTERNAL))
        if personal:
            raise ValueError(
                f"{', '.join(personal)}: an acknowledgement goes out before any approval, so only to "
                "broadcast and served channels (statuspage, banner, mastodon, bluesky)"
            )
        if len(set(value)) != len(value):
            raise ValueError("channels are listed twice")
        return value


class HoldingPolicy(Strict):
    enabled: bool
    grace: HoldingGrace = timedelta(0)
    max_consecutive: int = Field(default=3, ge=1, le=100)


SURVEY_CHANNELS = (Channel.EMAIL, Channel.SMS)


class SupportContact(Strict):
    """Where a request to be contacted is sent: a support team's address or number (one at least)."""

    email: str | None = Field(default=None, max_length=254)
    sms: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164.")

    @model_validator(mode="after")
    def _one_at_least(self) -> SupportContact:
        if self.email is None and self.sms is None:
            raise ValueError("give an email address, an SMS number (E.164), or both")
        if self.email is not None:
            try:
                object.__setattr__(self, "email", normalized_email(self.email))
            except EmailNotValidError as exc:
                raise ValueError(f"email: {exc}") from None
        return self


class SurveyPolicy(Strict):
    """After resolution: whom we ask how it went, on which channels, and what we keep of the answers."""

    enabled: bool
    delay: SurveyDelay = timedelta(days=3)
    expires_after: SurveyExpiry = timedelta(days=14)
    channels: list[Channel] = Field(
        default_factory=lambda: [Channel.EMAIL],
        min_length=1,
        description="In order of preference: each person is asked once, on the first that reaches them.",
    )
    nps: bool = False
    free_text: bool = True
    reminder_after: SurveyReminder | None = Field(
        default=None, description="One reminder this long after the invitation to those who did not answer."
    )
    retention: SurveyRetention = Field(
        default=timedelta(days=180), description="How long free text is kept before it is purged."
    )
    min_answers_to_publish: int = Field(
        default=10,
        ge=5,
        le=10_000,
        description="The status page shows an incident's answers only from this many (no one identifiable).",
    )
    support: SupportContact | None = Field(
        default=None,
        description="Who is told when an answer asks for a person (default: the incident's contact email).",
    )

    @field_validator("channels")
    @classmethod
    def _personal(cls, value: list[Channel]) -> list[Channel]:
        wrong = [c.value for c in value if c not in SURVEY_CHANNELS]
        if wrong:
            raise ValueError(f"a survey is sent by email or SMS, not {', '.join(wrong)}")
        if len(set(value)) != len(value):
            raise ValueError("a channel is listed twice")
        return value

    @model_validator(mode="after")
    def _reminder_before_expiry(self) -> SurveyPolicy:
        if self.reminder_after is not None and self.reminder_after >= self.expires_after:
            raise ValueError("reminder_after must be shorter than expires_after: the link would be dead")
        return self


class MaintenancePolicy(Strict):
    """What a maintenance tells, and when: scheduled runs publish each step as an update."""

    reminders: list[MaintenanceLead] = Field(
        default_factory=lambda: [timedelta(days=1)],
        max_length=5,
        description="Notices this long before the window starts (none: leave the list empty).",
    )
    announce_start: bool = Field(default=True, description="Tell everyone when the work starts.")
    verify_for: VerifyFor = Field(
        default=timedelta(0),
        description="After the window ends, say we are verifying for this long, then completed "
        "(0: completed at the end).",
    )


def _plain_snippet(value: str | None) -> str | None:
    """An override is text with a few expressions, as Jinja's own parser reads it.

    Nothing that loads or defines other templates, no calls but ``super()``, no arithmetic, and
    only names the templates' data has: ``clarion/updates/overrides.py`` holds the list.
    """
    if value is not None:
        check_override(value)
    return value


Snippet = Annotated[str | None, AfterValidator(_plain_snippet)]


class PartOverride(Strict):
    """Replaces a part's block: ``long`` in email and status page, ``short`` in SMS, social, banner."""

    long: Snippet = None
    short: Snippet = None


class CommitmentPolicy(Strict):
    """Prevention commitments: when owners are reminded, who hears when one is overdue, and whether
    a shipped one is told to the audience ("you asked, we built it")."""

    remind_before: CommitmentLead = Field(
        default=timedelta(days=3), description="How long before the end of its due day the owner is reminded."
    )
    escalate_to: list[Annotated[str, Field(min_length=1, max_length=254)]] = Field(
        default_factory=list,
        description="Responders told of an overdue commitment, besides its owner (default: the commander).",
    )
    follow_up: bool = Field(default=True, description="Tell the affected audience when one ships.")


class Playbook(Strict):
    name: Slug
    kind: PlaybookKind
    title: str
    description: str
    locales: list[str] = Field(min_length=1, description="The first is the default locale.")
    public_time_zone: TimeZoneName | None = None
    severities: dict[Slug, SeverityPolicy] = Field(min_length=1)
    audiences: dict[Slug, Audience] = Field(min_length=1)
    public_channels: list[Channel] = Field(default_factory=lambda: [Channel.STATUSPAGE])
    approvals: list[ApprovalStep] = Field(default_factory=list)
    regimes: list[Slug] = Field(default_factory=list, description="Regulatory clocks the incident starts.")
    breach_facts: bool = Field(default=False, description="Updates must carry the regulator-facing facts.")
    required_links: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]] = Field(
        default_factory=list, description="Links the facts must give because the part overrides use them."
    )
    holding_statement: HoldingPolicy
    acknowledgement: AcknowledgementPolicy | None = Field(
        default=None, description="The pre-approved first word at declaration (none when left out)."
    )
    responders: str | None = Field(
        default=None,
        max_length=200,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_./-]*\.ya?ml$",
        description="The people file, relative to the playbook: who inside is told, and where.",
    )
    survey: SurveyPolicy
    maintenance: MaintenancePolicy | None = Field(
        default=None, description="Steps of a scheduled maintenance (its kind only; defaults apply)."
    )
    sms_max_segments: int | None = Field(default=None, ge=1, le=10)
    quiet_hours: QuietHours | None = Field(
        default=None,
        description="Emails and SMS of routine and important updates wait for the recipient's local "
        'morning (`{from: "21:00", until: "08:00"}`); urgent and mandatory ones go at once.',
    )
    commitments: CommitmentPolicy = CommitmentPolicy()
    parts: dict[str, dict[Part, PartOverride]] = Field(default_factory=dict)

    @field_validator("regimes")
    @classmethod
    def _known_regimes(cls, value: list[str]) -> list[str]:
        from clarion.regimes import regimes  # its schema uses this module's Duration

        known = regimes()
        unknown = [rid for rid in value if rid not in known]
        if unknown:
            raise ValueError(
                f"unknown regime {', '.join(map(repr, unknown))}; shipped: {', '.join(sorted(known))}"
            )
        return value

    @model_validator(mode="after")
    def _escalation_needs_people(self) -> Playbook:
        if self.commitments.escalate_to and self.responders is None:
            raise ValueError("commitments.escalate_to names responders: the playbook needs a people file")
        return self

    @model_validator(mode="after")
    def _acknowledged_where_the_playbook_speaks(self) -> Playbook:
        if self.acknowledgement is None:
            return self
        used = {*self.public_channels, *(c for a in self.audiences.values() for c in a.channels)}
        stray = sorted(c.value for c in self.acknowledgement.channels if c not in used)
        if stray:
            raise ValueError(
                f"acknowledgement.channels: {', '.join(stray)} is not a channel of this playbook's "
                "audiences or public_channels"
            )
        return self

    def acknowledging(self) -> Playbook:
        """This playbook as an acknowledgement sees it: its audiences and public channels cut down to
        the acknowledgement's channels (an audience left with none is left out), with no part overrides."""
        assert self.acknowledgement is not None
        allowed = set(self.acknowledgement.channels)
        kept = {name: [c for c in a.channels if c in allowed] for name, a in self.audiences.items()}
        audiences = {
            name: self.audiences[name].model_copy(update={"channels": channels})
            for name, channels in kept.items()
            if channels
        }
        public = [c for c in self.public_channels if c in allowed]
        # the part overrides extend the story's parts (a breach's fix tells people to reset their
        # password): an acknowledgement tells no part but its own words
        return self.model_copy(
            update={"audiences": audiences, "public_channels": public, "parts": {}, "required_links": []}
        )

    @model_validator(mode="after")
    def _maintenance_policy_for_maintenance(self) -> Playbook:
        if self.maintenance is not None and self.kind is not PlaybookKind.SCHEDULED_MAINTENANCE:
            raise ValueError("maintenance steps are for kind scheduled-maintenance only")
        return self

    @property
    def maintenance_policy(self) -> MaintenancePolicy | None:
        """The steps of a maintenance playbook (its own, or the defaults); None for other kinds."""
        if self.kind is not PlaybookKind.SCHEDULED_MAINTENANCE:
            return None
        return self.maintenance or MaintenancePolicy()

    @field_validator("locales")
    @classmethod
    def _known_locales(cls, value: list[str]) -> list[str]:
        for tag in value:
            try:
                Locale.parse(tag, sep="-")
            except (ValueError, UnknownLocaleError) as exc:
                raise ValueError(f"{tag!r} is not a known locale") from exc
        if len(set(value)) != len(value):
            raise ValueError("locales are listed twice")
        return value

    @field_validator("public_channels")
    @classmethod
    def _public_only(cls, value: list[Channel]) -> list[Channel]:
        table = channel_table()
        inside = sorted(c.value for c in value if table[c].reach is Reach.INTERNAL)
        if inside:
            raise ValueError(f"{', '.join(inside)} reach the people inside, never the public")
        personal = sorted(c.value for c in value if not table[c].for_public)
        if personal:
            raise ValueError(f"{', '.join(personal)} are sent to audiences, not the public")
        return value

    @field_validator("parts")
    @classmethod
    def _parts_in_known_locales(
        cls, value: dict[str, dict[Part, PartOverride]], info: ValidationInfo
    ) -> dict[str, dict[Part, PartOverride]]:
        locales = info.data.get("locales") or []
        stray = sorted(set(value) - set(locales))
        if stray:
            raise ValueError(f"overrides for {', '.join(stray)}, which is not in locales")
        return value

    @field_validator("parts")
    @classmethod
    def _overrides_read_what_facts_give(
        cls, value: dict[str, dict[Part, PartOverride]], info: ValidationInfo
    ) -> dict[str, dict[Part, PartOverride]]:
        if "required_links" not in info.data:
            return value  # reported on its own
        overrides = {
            f"{locale}.{part.value}.{form}": text
            for locale, parts in value.items()
            for part, override in parts.items()
            for form, text in (("long", override.long), ("short", override.short))
            if text is not None
        }
        problems = unmet_needs(overrides, info.data["required_links"], bool(info.data.get("breach_facts")))
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @property
    def default_locale(self) -> str:
        return self.locales[0]

    @property
    def channels(self) -> list[Channel]:
        """Every channel the playbook uses, in the channel table's order."""
        used = {c for a in self.audiences.values() for c in a.rendered_channels} | set(self.public_channels)
        return [c for c in Channel if c in used]


def load_playbook(path: Path) -> Playbook:
    """Read and validate one playbook file; raises PlaybookError with file, line and field."""
    data, lines = read_yaml(path, PlaybookError)
    playbook = validate_with_lines(Playbook, data or {}, lines, display_path(path), PlaybookError)
    if playbook.name != path.stem:
        raise PlaybookError(
            [
                Problem(
                    display_path(path),
                    lines.line_for(("name",)),
                    "name",
                    f"{playbook.name!r} must match the file name {path.stem!r}",
                )
            ]
        )
    return playbook


def resolve_playbook(name_or_path: str, playbooks_dir: Path) -> Path:
    """A playbook named on the command line: a path to a file, or a name inside ``playbooks_dir``."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} or candidate.exists():
        return candidate
    return playbooks_dir / f"{name_or_path}.yaml"


def playbook_files(paths: list[Path]) -> list[Path]:
    """Expand folders to the ``*.yaml`` files directly inside them, sorted."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.yaml")) if path.is_dir() else [path])
    return files


def lint(paths: list[Path]) -> list[tuple[Path, PlaybookError | None]]:
    """Validate every playbook file; one result per file, ``None`` when it is valid."""
    results: list[tuple[Path, PlaybookError | None]] = []
    for path in playbook_files(paths):
        try:
            load_playbook(path)
        except PlaybookError as exc:
            results.append((path, exc))
        else:
            results.append((path, None))
    return results
