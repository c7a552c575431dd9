"""Facts: what we know about an incident at the moment of one update.

A facts file (YAML) or the declare form fills this model; an Update is made from it. The story is
told per locale in four parts; a part that is not known yet is left empty and the templates say so
honestly. Facts are checked against their playbook before anything is rendered.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from clarion import strict
from clarion.commitments.promises import Promises, locale_problems, repeated
from clarion.errors import FactsError, Problem, display_path
from clarion.files.safetext import CheckedText, with_text_patterns
from clarion.files.yamlfile import read_yaml, validate_with_lines
from clarion.kinds import IncidentStatus, TimeZoneName
from clarion.playbook import Part, Playbook, PlaybookKind
from clarion.statuspage.components import IMPACTED, ComponentStatus, catalogue_at, unknown_components

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Every time in facts lies in [EARLIEST, LATEST): a year typed wrong is refused, not computed with."""
MAX_PROMISE = timedelta(days=31)
"""The furthest ``next_update_by`` may lie after ``as_of``."""
MAX_HISTORY = timedelta(days=5 * 365)
"""The longest ``started_at`` and ``aware_at`` may lie before ``as_of`` (five years)."""
MAX_WINDOW = timedelta(days=14)
"""The longest maintenance window."""
MAX_COUNT = 10**12
"""The largest count of people or records (a trillion): more is a typo, and would not fit the store."""


def _in_our_age(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError(
            f"{value.isoformat()} is not between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC): "
            "check the year"
        )
    return value


FactsTime = Annotated[AwareDatetime, AfterValidator(_in_our_age)]
"""A time with its offset, between 2000-01-01 and 2100-01-01 UTC."""


class Strict(strict.Strict):
    """:class:`clarion.strict.Strict`, whose JSON schema (the Prefect UI's declare form) also carries
    the patterns that refuse control characters in text."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=with_text_patterns)


LongText = Annotated[str, Field(max_length=20_000)]
"""A story part's full text (an email's part is a few hundred characters)."""
ShortText = Annotated[str, Field(max_length=1_000)]
"""A short form (SMS, social, banner) and other one-paragraph facts."""
Name = Annotated[str, Field(min_length=1, max_length=200)]
"""A name, a category, a component: one line."""
Names = Annotated[list[Name], Field(max_length=200)]


def _impacted(value: ComponentStatus) -> ComponentStatus:
    if value not in IMPACTED:
        raise ValueError(
            f"an affected component is one of {', '.join(IMPACTED)}; leave it out if operational"
        )
    return value


ImpactedStatus = Annotated[ComponentStatus, AfterValidator(_impacted)]


def _text_shorthand(value: Any) -> Any:
    """``fix: "We restored…"`` is short for ``fix: {text: "We restored…"}``."""
    return {"text": value} if isinstance(value, str) else value


class PartText(Strict):
    """One part of the story: the full ``text`` and a ``short`` form for SMS, social and banner."""

    text: LongText | None = None
    short: ShortText | None = None

    @property
    def known(self) -> bool:
        return bool(self.text or self.short)

    @property
    def brief(self) -> str | None:
        """The short form, or the full text when no short form was written."""
        return self.short or self.text


PartField = Annotated[PartText, BeforeValidator(_text_shorthand)]


class Story(Strict):
    """The story in one locale. ``title`` replaces the incident title in this locale when given."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    apology: PartField
    cause: PartField = PartText()
    fix: PartField = PartText()
    prevention: PartField = PartText()

    @model_validator(mode="after")
    def _apology_never_empty(self) -> Story:
        if not (self.apology.text and self.apology.text.strip()):
            raise ValueError("apology.text must say what happened and that we are sorry")
        return self

    def part(self, part: Part) -> PartText:
        text: PartText = getattr(self, part.value)
        return text


class Contact(Strict):
    """A human contact path: every rendition carries at least one of these."""

    phone: Annotated[str, Field(max_length=50)] | None = None
    email: EmailStr | None = None
    url: HttpUrl | None = None
    hours: Name | None = None

    @model_validator(mode="after")
    def _some_path(self) -> Contact:
        if not (self.phone or self.email or self.url):
            raise ValueError("give at least one of phone, email or url so people can reach a human")
        return self

    @property
    def primary(self) -> str:
        """The path short channels show: phone first, then email, then the web form."""
        return self.phone or self.email or str(self.url)


class Impact(Strict):
    summary: ShortText | None = None
    components: Names = Field(
        default_factory=list, description="Ids of the status page's components this touches."
    )
    component_status: dict[Name, ImpactedStatus] = Field(
        default_factory=dict,
        description="A listed component's state when it differs from the playbook's for the severity.",
    )
    regions: Names = Field(default_factory=list)
    affected_count: int | None = Field(default=None, ge=0, le=MAX_COUNT)

    @model_validator(mode="after")
    def _states_of_listed_components(self) -> Impact:
        stray = sorted(set(self.component_status) - set(self.components))
        if stray:
            raise ValueError(f"component_status names {', '.join(stray)}, not listed in components")
        return self


class Window(Strict):
    """A maintenance window: when the planned work starts and when it should end."""

    starts_at: FactsTime
    ends_at: FactsTime

    @model_validator(mode="after")
    def _ends_after_start(self) -> Window:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > MAX_WINDOW:
            raise ValueError(f"a window is at most {MAX_WINDOW.days} days: announce longer work in parts")
        return self


class Breach(Strict):
    """Regulator-facing facts (GDPR Art. 33(3)); the same facts feed the customer messages."""

    nature: LongText
    subject_categories: Names | None = Field(
        default=None, description="Categories of people concerned (customers, employees, children…)."
    )
    data_categories: Names = Field(min_length=1)
    approx_people: int = Field(ge=0, le=MAX_COUNT)
    approx_records: int = Field(ge=0, le=MAX_COUNT)
    dpo_contact: ShortText
    likely_consequences: LongText
    measures_taken: LongText
    measures_proposed: LongText | None = None


class SampleRecipient(Strict):
    """Who the personal channels (email, SMS) are previewed for: times show in their zone."""

    time_zone: TimeZoneName | None = None


class Facts(CheckedText, Strict):
    """What we know at one update. Text anywhere in it (keys too) may not carry control characters
    (:class:`~clarion.files.safetext.CheckedText`), whichever way it comes: a file, the form, a request."""

    organisation: Name
    reference: str = Field(pattern=r"^INC-\d{4,}$")
    title: str = Field(min_length=1, max_length=200)
    severity: Annotated[str, Field(max_length=50)]
    status: IncidentStatus
    started_at: FactsTime | None = None
    aware_at: FactsTime | None = None
    as_of: FactsTime = Field(description="When this update is published (drives the next-update time).")
    next_update_by: FactsTime | None = Field(
        default=None, description="Promise of the next update; defaults to as_of plus the cadence interval."
    )
    status_page_url: HttpUrl
    contact: Contact
    links: dict[str, HttpUrl] = Field(default_factory=dict)
    impact: Impact = Impact()
    story: dict[str, Story] = Field(min_length=1, description="The four parts, per locale.")
    breach: Breach | None = None
    maintenance: Window | None = Field(
        default=None, description="The window of planned work (scheduled-maintenance playbooks need it)."
    )
    commitments: Promises = Field(
        default_factory=list,
        description="What we promise to change, trackable: id, owner, due day, public text per locale.",
    )
    recipient: SampleRecipient = SampleRecipient()

    @model_validator(mode="after")
    def _times_in_order(self) -> Facts:
        as_of: datetime | None = self.as_of  # a declaration form may leave it to the moment of publishing
        if as_of is None:
            return self
        errors = [
            _time_error(field, value, message)
            for field, value, message in _misordered(
                self.started_at, self.aware_at, as_of, self.next_update_by
            )
        ]
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    @model_validator(mode="after")
    def _commitments_once(self) -> Facts:
        errors = [
            InitErrorDetails(
                type=PydanticCustomError("repeated", "commitment {key} is listed twice", {"key": key}),
                loc=("commitments", index, "id"),
                input=key,
            )
            for index, key in repeated(self.commitments)
        ]
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    @property
    def link(self) -> str:
        return str(self.status_page_url)


def _misordered(
    started_at: datetime | None, aware_at: datetime | None, as_of: datetime, next_update_by: datetime | None
) -> list[tuple[str, datetime, str]]:
    """(field, value, what is wrong) for every time out of order with ``as_of``."""
    found: list[tuple[str, datetime, str]] = []
    if next_update_by is not None and next_update_by <= as_of:
        found.append(("next_update_by", next_update_by, "next_update_by must be after as_of"))
    elif next_update_by is not None and next_update_by > as_of + MAX_PROMISE:
        message = f"next_update_by is more than {MAX_PROMISE.days} days after as_of: promise an update sooner"
        found.append(("next_update_by", next_update_by, message))
    for field, moment in (("started_at", started_at), ("aware_at", aware_at)):
        if moment is None:
            continue
        if moment > as_of:
            reason = "we cannot publish before we know" if field == "aware_at" else "it has not started yet"
            found.append((field, moment, f"{field} is after as_of: {reason}"))
        elif moment < as_of - MAX_HISTORY:
            found.append((field, moment, f"{field} is more than 5 years before as_of"))
    return found


def _time_error(field: str, value: datetime, message: str) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError("time_order", "{message}", {"message": message}),
        loc=(field,),
        input=value.isoformat(),
    )


def load_facts(path: Path, playbook: Playbook, components_file: Path | None = None) -> Facts:
    """Read a facts file and check it against its playbook (and the status page's components file,
    when given); every problem names file, line, field."""
    data, lines = read_yaml(path, FactsError)
    source = display_path(path)
    facts = validate_with_lines(Facts, data or {}, lines, source, FactsError)
    problems = [
        Problem(source, lines.line_for(loc), ".".join(map(str, loc)), msg)
        for loc, msg in fit_problems(facts, playbook, components_file)
    ]
    if problems:
        raise FactsError(problems)
    return facts


def fit_problems(
    facts: Facts, playbook: Playbook, components_file: Path | None = None
) -> list[tuple[tuple[str | int, ...], str]]:
    """What keeps valid facts from fitting ``playbook`` (and the status page's components, when a
    components file is given), as (location, message) pairs."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if facts.severity not in playbook.severities:
        known = ", ".join(playbook.severities)
        problems.append(
            (("severity",), f"{facts.severity!r} is not one of {known} (playbook {playbook.name})")
        )
    missing = [loc for loc in playbook.locales if loc not in facts.story]
    if missing:
        problems.append(
            (("story",), f"no story in {', '.join(missing)}, which playbook {playbook.name} ships in")
        )
    for extra in sorted(set(facts.story) - set(playbook.locales)):
        problems.append((("story", extra), f"locale {extra!r} is not in playbook {playbook.name}'s locales"))
    for name in playbook.required_links:
        if name not in facts.links:
            problems.append(
                (("links",), f"playbook {playbook.name} needs links.{name} (its templates use it)")
            )
    if playbook.breach_facts and facts.breach is None:
        problems.append((("breach",), f"playbook {playbook.name} needs the regulator-facing breach facts"))
    if playbook.kind == PlaybookKind.SCHEDULED_MAINTENANCE and facts.maintenance is None:
        problems.append(
            (
                ("maintenance",),
                f"playbook {playbook.name} needs the window: maintenance.starts_at and ends_at",
            )
        )
    problems += locale_problems(facts.commitments, playbook.locales)
    problems += _component_problems(facts, components_file)
    return problems


def _component_problems(facts: Facts, components_file: Path | None) -> list[tuple[tuple[str, ...], str]]:
    catalogue = catalogue_at(components_file)
    return [
        (("impact", "components"), f"[{index}]: {message}")
        for index, message in unknown_components(list(facts.impact.components), catalogue)
    ]


def check_components(facts: Facts, components_file: Path | None, source: str = "facts") -> None:
    """Raise :class:`FactsError` when the facts name a component the status page does not list."""
    problems = [
        Problem(source, None, ".".join(loc), m) for loc, m in _component_problems(facts, components_file)
    ]
    if problems:
        raise FactsError(problems)
