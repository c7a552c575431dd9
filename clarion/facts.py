"""Facts: what we know about an incident at the moment of one update.

A facts file (YAML) or the declare form fills this model; an Update is made from it. The story is
told per locale in four parts; a part that is not known yet is left empty and the templates say so
honestly. Facts are checked against their playbook before anything is rendered.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    model_validator,
)

from clarion.errors import FactsError, Problem, display_path
from clarion.kinds import IncidentStatus, TimeZoneName
from clarion.playbook import Part, Playbook
from clarion.yamlfile import read_yaml, validate_with_lines


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _text_shorthand(value: Any) -> Any:
    """``fix: "We restored…"`` is short for ``fix: {text: "We restored…"}``."""
    return {"text": value} if isinstance(value, str) else value


class PartText(Strict):
    """One part of the story: the full ``text`` and a ``short`` form for SMS, social and banner."""

    text: str | None = None
    short: str | None = None

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

    phone: str | None = None
    email: EmailStr | None = None
    url: HttpUrl | None = None
    hours: str | None = None

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
    summary: str | None = None
    components: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    affected_count: int | None = Field(default=None, ge=0)


class Breach(Strict):
    """Regulator-facing facts (GDPR Art. 33(3)); the same facts feed the customer messages."""

    nature: str
    subject_categories: list[str] | None = Field(
        default=None, description="Categories of people concerned (customers, employees, children…)."
    )
    data_categories: list[str] = Field(min_length=1)
    approx_people: int = Field(ge=0)
    approx_records: int = Field(ge=0)
    dpo_contact: str
    likely_consequences: str
    measures_taken: str
    measures_proposed: str | None = None


class SampleRecipient(Strict):
    """Who the personal channels (email, SMS) are previewed for: times show in their zone."""

    time_zone: TimeZoneName | None = None


class Facts(Strict):
    organisation: str
    reference: str = Field(pattern=r"^INC-\d{4,}$")
    title: str = Field(min_length=1, max_length=200)
    severity: str
    status: IncidentStatus
    started_at: AwareDatetime | None = None
    aware_at: AwareDatetime | None = None
    as_of: AwareDatetime = Field(description="When this update is published (drives the next-update time).")
    next_update_by: AwareDatetime | None = Field(
        default=None, description="Promise of the next update; defaults to as_of plus the cadence interval."
    )
    status_page_url: HttpUrl
    contact: Contact
    links: dict[str, HttpUrl] = Field(default_factory=dict)
    impact: Impact = Impact()
    story: dict[str, Story] = Field(min_length=1, description="The four parts, per locale.")
    breach: Breach | None = None
    recipient: SampleRecipient = SampleRecipient()

    @model_validator(mode="after")
    def _times_in_order(self) -> Facts:
        as_of: datetime | None = self.as_of  # a declaration form may leave it to the moment of publishing
        if as_of is None:
            return self
        if self.next_update_by is not None and self.next_update_by <= as_of:
            raise ValueError("next_update_by must be after as_of")
        if self.aware_at is not None and self.aware_at > as_of:
            raise ValueError("aware_at is after as_of: we cannot publish before we know")
        return self

    @property
    def link(self) -> str:
        return str(self.status_page_url)


def load_facts(path: Path, playbook: Playbook) -> Facts:
    """Read a facts file and check it against its playbook; every problem names file, line, field."""
    data, lines = read_yaml(path, FactsError)
    source = display_path(path)
    facts = validate_with_lines(Facts, data or {}, lines, source, FactsError)
    problems = [
        Problem(source, lines.line_for(loc), ".".join(loc), msg) for loc, msg in fit_problems(facts, playbook)
    ]
    if problems:
        raise FactsError(problems)
    return facts


def fit_problems(facts: Facts, playbook: Playbook) -> list[tuple[tuple[str, ...], str]]:
    """What keeps valid facts from fitting ``playbook``, as (location, message) pairs."""
    problems: list[tuple[tuple[str, ...], str]] = []
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
    return problems
