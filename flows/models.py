"""The typed parameters of clarion's flows: what the Prefect UI renders as forms.

Plain pydantic, no Prefect import, so the CLI and tests can build and check parameters cheaply.
Playbook names and severities are offered as enums (drop-downs in the UI, checked by the server
before a run is created): the names are read from the playbooks folder, so a playbook added there
shows up after a restart of ``clarion serve``. Whether a severity belongs to the chosen playbook is
checked by the flow, with the playbook's own message.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import ConfigDict, Field, WithJsonSchema

from clarion.errors import PlaybookError
from clarion.facts import Facts, FactsTime, PartField, PartText
from clarion.files.safetext import CheckedText, with_text_patterns
from clarion.kinds import IncidentStatus
from clarion.playbook import load_playbook, playbook_files
from clarion.regimes import jurisdictions
from clarion.settings import get_settings

REFERENCE_PATTERN = r"^INC-\d{4,}$"


@lru_cache(maxsize=1)
def _catalogue(folder: Path) -> tuple[list[str], list[str]]:
    """(playbook names, every severity any of them names), read once per process."""
    names: list[str] = []
    severities: list[str] = []
    for path in playbook_files([folder]):
        try:
            playbook = load_playbook(path)
        except PlaybookError:
            continue  # `clarion playbooks lint` reports it; the form offers the valid ones
        names.append(playbook.name)
        severities.extend(s for s in playbook.severities if s not in severities)
    return names, severities


def playbook_names() -> list[str]:
    return _catalogue(get_settings().playbooks_dir)[0]


def severity_names() -> list[str]:
    return _catalogue(get_settings().playbooks_dir)[1]


def _enum_of(values: list[str], description: str) -> dict[str, Any]:
    return {"type": "string", "enum": values, "description": description} if values else {"type": "string"}


PlaybookName = Annotated[
    str,
    WithJsonSchema(_enum_of(playbook_names(), "The playbook to run (a file in the playbooks folder).")),
]
SeverityName = Annotated[
    str,
    WithJsonSchema(_enum_of(severity_names(), "Severity as the playbook names it: sets the cadence tier.")),
]
Jurisdiction = Annotated[
    str,
    WithJsonSchema(
        _enum_of(
            jurisdictions(),
            "Where the incident's people or regulators are: adds that jurisdiction's regimes for the "
            "playbook's kind (EU, GB, US, US-CA, BR, SG, …).",
        )
    ),
]
Reference = Annotated[str, Field(pattern=REFERENCE_PATTERN, description='The incident, e.g. "INC-0042".')]


class UpdateKindChoice(StrEnum):
    UPDATE = "update"
    CORRECTION = "correction"


class IncidentFacts(Facts):
    """What we know when declaring: the facts file's fields, as a form.

    ``reference`` is allocated (the next ``INC-nnnn``) and ``as_of`` is the moment of publishing
    when they are left out.
    """

    reference: str | None = Field(  # type: ignore[assignment]
        default=None, pattern=REFERENCE_PATTERN, description="Leave empty to allocate the next INC-nnnn."
    )
    severity: SeverityName
    as_of: FactsTime | None = Field(  # type: ignore[assignment]
        default=None, description="When this update is published; now when left empty."
    )

    def complete(self, *, reference: str, as_of: datetime) -> Facts:
        """The domain's facts, with the reference and publication time filled in."""
        data = self.model_dump(mode="json", exclude_none=True)
        data.update(reference=reference, as_of=data.get("as_of") or as_of.isoformat())
        return Facts.model_validate(data)


class StoryChange(CheckedText):
    """New text for some parts of the story in one locale; a part left out keeps its last text."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=with_text_patterns)

    title: str | None = Field(default=None, min_length=1, max_length=200)
    apology: PartField | None = None
    cause: PartField | None = None
    fix: PartField | None = None
    prevention: PartField | None = None


class Declaration(CheckedText):
    """Parameters of ``declare-incident``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=with_text_patterns)

    playbook: PlaybookName
    facts: IncidentFacts = Field(description="Everything the first update says, as in a facts file.")
    commander: str | None = Field(default=None, description="Who leads the incident (gets the reminders).")
    jurisdictions: list[Jurisdiction] = Field(
        default_factory=list,
        description="Jurisdictions whose regulatory clocks start too, besides the playbook's regimes.",
    )


class ShortDeclaration(CheckedText):
    """Parameters of ``declare-incident-short``: the five things a commander knows in the first minute.

    It opens the incident and publishes the playbook's acknowledgement (no approval: its words are the
    playbook's); the first full update, with the story, follows with ``post an update``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=with_text_patterns)

    playbook: PlaybookName
    severity: SeverityName
    title: str = Field(min_length=1, max_length=200, description="The public title, shown at once.")
    what_happened: str = Field(
        min_length=1,
        max_length=2000,
        description="For the people inside (the audit log and the run's log): not published.",
    )
    components: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, description="The status page's components it affects (their ids)."
    )
    commander: str | None = Field(default=None, description="Who leads the incident (gets the reminders).")


class UpdateRequest(CheckedText):
    """Parameters of ``post-update`` and ``resolve-incident``: what changed since the last update."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=with_text_patterns)

    reference: Reference
    status: IncidentStatus | None = Field(
        default=None, description="The new status; the last one when left empty."
    )
    severity: SeverityName | None = Field(
        default=None, description="A new severity; the last one when empty."
    )
    story: dict[str, StoryChange] = Field(
        default_factory=dict, description="Per locale, the parts of the story that changed."
    )
    changes: dict[str, Any] = Field(
        default_factory=dict,
        description="Other facts that changed (impact, links, contact, breach, next_update_by…), "
        "replacing their previous value.",
    )


class ApprovalAnswer(CheckedText):
    """An approver's answer. The defaults are the safe choice: a bare "Resume" approves nothing."""

    model_config = ConfigDict(json_schema_extra=with_text_patterns)

    role: str = Field(description="The approval role you answer for, as the playbook names it.")
    approver: str = Field(default="", description="Who you are (must be listed for the role or its backup).")
    approved: bool = Field(default=False, description="Tick to approve the drafts as shown.")
    reason: str = Field(default="", description="Why you reject, or what you changed.")
    story: dict[str, StoryChange] = Field(
        default_factory=dict,
        description="Edits to the story (per locale); an edit needs every role to approve again.",
    )


__all__ = [
    "ApprovalAnswer",
    "Declaration",
    "IncidentFacts",
    "PartText",
    "ShortDeclaration",
    "StoryChange",
    "UpdateKindChoice",
    "UpdateRequest",
]
