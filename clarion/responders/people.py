"""The people file: each responder's id, name, language and an address per channel.

::

    people:
      - id: legal-on-call@example.com     # as approvals and --commander name them
        name: Legal on call
        reach:
          email: legal-on-call@example.com
          teams: legal-room                # a name the Teams settings map to a webhook

Every address is checked by its channel's own rule (``ChannelSpec.check_address``) and stored
normalised; a channel that reaches customers in bulk (a broadcast or a served one) is refused. Errors
name the file, line and field, like a playbook's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from babel import Locale, UnknownLocaleError
from pydantic import BeforeValidator, Field, field_validator, model_validator

from clarion.channel_table import Reach, spec_of
from clarion.errors import PlaybookError, Problem, display_path
from clarion.files.yamlfile import format_loc, read_yaml, validate_with_lines
from clarion.kinds import Channel
from clarion.playbook import Playbook
from clarion.strict import Strict

ResponderId = Annotated[str, Field(min_length=1, max_length=254, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")]


def _text(value: object) -> object:
    """A number YAML read as an integer (an unquoted phone number) is checked as the text it was."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Responder(Strict):
    id: ResponderId
    name: str = Field(min_length=1, max_length=200)
    locale: str = Field(default="en", description="The language their notices are written in.")
    reach: dict[Channel, Annotated[str, BeforeValidator(_text)]] = Field(
        min_length=1, description="An address per channel."
    )

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        try:
            Locale.parse(value, sep="-")
        except (ValueError, UnknownLocaleError) as exc:
            raise ValueError(f"{value!r} is not a known locale") from exc
        return value


class PeopleFile(Strict):
    people: list[Responder] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> PeopleFile:
        seen: set[str] = set()
        for person in self.people:
            if person.id in seen:
                raise ValueError(f"{person.id!r} is listed twice")
            seen.add(person.id)
        return self


class People:
    """The responders of one file, by id."""

    def __init__(self, people: list[Responder], source: str) -> None:
        self.by_id = {person.id: person for person in people}
        self.source = source

    def get(self, responder_id: str) -> Responder | None:
        return self.by_id.get(responder_id)

    def __contains__(self, responder_id: object) -> bool:
        return responder_id in self.by_id


def load_people(path: Path) -> People:
    """Read and check a people file; PlaybookError naming file, line and field."""
    data, lines = read_yaml(path, PlaybookError)
    source = display_path(path)
    parsed = validate_with_lines(PeopleFile, data or {}, lines, source, PlaybookError)
    problems: list[Problem] = []
    people = []
    for i, person in enumerate(parsed.people):
        reach: dict[Channel, str] = {}
        for channel, address in person.reach.items():
            loc = ("people", i, "reach", channel.value)
            try:
                reach[channel] = checked_address(channel, address)
            except ValueError as exc:
                problems.append(Problem(source, lines.line_for(loc), format_loc(loc), str(exc)))
        people.append(person.model_copy(update={"reach": reach}))
    if problems:
        raise PlaybookError(problems)
    return People(people, source)


def checked_address(channel: Channel, address: str) -> str:
    """``address`` as ``channel`` stores it; ValueError when the channel does not reach one person
    or the address is not one of its own."""
    spec = spec_of(channel)
    if spec.reach not in (Reach.PERSONAL, Reach.INTERNAL) or spec.check_address is None:
        raise ValueError(f"{channel.value} does not reach one person: use email, sms or an internal channel")
    return spec.check_address(address)


def people_of(playbook: Playbook, playbook_path: Path) -> People | None:
    """The people file ``playbook`` names (None when it names none), checked against it: every
    approver, backup and commitment escalation must be in it, or they would never be told.
    PlaybookError otherwise, naming the playbook's line."""
    if playbook.responders is None:
        return None
    _, lines = read_yaml(playbook_path, PlaybookError)
    where = display_path(playbook_path)
    folder = playbook_path.parent.resolve()
    path = (folder / playbook.responders).resolve()
    if not path.is_relative_to(folder):
        line = lines.line_for(("responders",))
        raise PlaybookError(
            [Problem(where, line, "responders", "the people file must be beside the playbook")]
        )
    people = load_people(path)
    named: list[tuple[tuple[str | int, ...], str]] = []
    for i, step in enumerate(playbook.approvals):
        named += [(("approvals", i, "approvers", j), who) for j, who in enumerate(step.approvers)]
        if step.backup is not None:
            named.append((("approvals", i, "backup"), step.backup))
    named += [
        (("commitments", "escalate_to", j), who) for j, who in enumerate(playbook.commitments.escalate_to)
    ]
    missing = [
        Problem(where, lines.line_for(loc), format_loc(loc), f"{who!r} is not in {people.source}")
        for loc, who in named
        if who not in people
    ]
    if missing:
        raise PlaybookError(missing)
    return people
