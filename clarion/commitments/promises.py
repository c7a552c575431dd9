"""A commitment as the facts name it: ``commitments:`` beside the story.

::

    commitments:
      - id: C1
        owner: platform-lead@acme.example     # a responder of the people file, or an email address
        due: 2026-12-20
        text:
          en: Every change to storage permissions gets a second reviewer.
          de: Jede Änderung an Speicherrechten bekommt eine zweite Prüfung.

The prevention part of the story says in prose what we will change; commitments make it trackable:
each is stored per incident the first time an update names it (:mod:`clarion.commitments.record`),
shown on the status page with its state, and its owner is reminded before the day it is due. The
text is public and must be given in every locale the playbook ships in (checked with the story).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from clarion.audiences.email_address import EmailNotValidError, normalized_email

MAX_COMMITMENTS = 50
KEY_PATTERN = r"^C[1-9][0-9]{0,2}$"
_RESPONDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")

PromiseText = Annotated[str, Field(min_length=1, max_length=500)]


def owner_problem(owner: str) -> str | None:
    """Why ``owner`` names nobody clarion could remind (None when it is fine): an email address, or
    the id of a responder in the people file (checked against the file where the file is known)."""
    if not owner or len(owner) > 254 or not _RESPONDER.fullmatch(owner):
        return f"{owner!r} is not an email address or a responder id of the people file"
    if "@" in owner:
        try:
            normalized_email(owner)
        except EmailNotValidError as exc:
            return f"{owner!r} is not an email address: {exc}"
    return None


class Promise(BaseModel):
    """One commitment in the facts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=KEY_PATTERN, description='Its id within the incident: "C1", "C2"…')
    owner: str = Field(description="Who delivers it: a responder id of the people file, or an email address.")
    due: dt.date = Field(description="The day it is due (YYYY-MM-DD).")
    text: dict[str, PromiseText] = Field(min_length=1, description="The public promise, per locale.")

    @field_validator("owner")
    @classmethod
    def _reachable(cls, value: str) -> str:
        if (problem := owner_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("due", mode="before")
    @classmethod
    def _a_day(cls, value: object) -> object:
        if isinstance(value, dt.datetime):
            raise ValueError("give the day it is due (YYYY-MM-DD), not a time")
        return value


Promises = Annotated[list[Promise], Field(max_length=MAX_COMMITMENTS)]


def repeated(promises: list[Promise]) -> list[tuple[int, str]]:
    """(index, id) of every commitment whose id an earlier one already has."""
    seen: set[str] = set()
    found = []
    for index, promise in enumerate(promises):
        if promise.id in seen:
            found.append((index, promise.id))
        seen.add(promise.id)
    return found


def locale_problems(promises: list[Promise], locales: list[str]) -> list[tuple[tuple[str | int, ...], str]]:
    """(location, message) for every commitment whose public text misses a locale of the playbook,
    or carries one the playbook does not ship in."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    for index, promise in enumerate(promises):
        missing = [locale for locale in locales if locale not in promise.text]
        if missing:
            found.append(
                (("commitments", index, "text"), f"no text in {', '.join(missing)} for {promise.id}")
            )
        for extra in sorted(set(promise.text) - set(locales)):
            found.append(
                (
                    ("commitments", str(index), "text", extra),
                    f"locale {extra!r} is not in the playbook's locales",
                )
            )
    return found
