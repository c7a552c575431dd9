"""Whom a commitment's notices reach: its owner on their channels of the people file, or by email.

An owner is a responder of the playbook's people file (told on their own channels, in their
language) or an email address that the file does not list, told by email in the playbook's first
locale. Those escalated to when it is overdue are responders of the file (the commander by default).
"""

from __future__ import annotations

from clarion.audiences.email_address import EmailNotValidError, normalized_email
from clarion.kinds import Channel
from clarion.responders.people import People, Responder


def with_owner(people: People | None, owner: str, *, locale: str) -> People | None:
    """``people`` with ``owner`` added as an email-only responder when the file does not list them
    (None when there is no file and the owner is no email address either)."""
    if people is not None and owner in people:
        return people
    try:
        address = normalized_email(owner)
    except EmailNotValidError:
        return people
    listed = list(people.by_id.values()) if people is not None else []
    source = people.source if people is not None else "the commitment's owner"
    owner_only = Responder(id=owner, name=owner, locale=locale, reach={Channel.EMAIL: address})
    return People([*listed, owner_only], source)


def escalation(to: list[str], commander: str | None) -> list[str]:
    """Whom an overdue commitment is escalated to besides its owner."""
    return list(to) or ([commander] if commander else [])
