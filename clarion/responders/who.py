"""Whom each moment of an incident concerns, and on which of their channels: pure rules.

* an approval request: the approvers of each role still to answer;
* an approval escalation: the role's backup (its approvers again when it has none);
* a cadence reminder: the commander; a lapse: the commander, the approvers and their backups;
* a deadline at risk: the commander and every approver; missed: their backups too, by SMS as well.

Each person is told on every internal channel they have and by email; SMS is kept for what is
urgent (a missed regulatory deadline), so a phone buzzes for what cannot wait.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from clarion.channel_table import Reach, spec_of
from clarion.kinds import Channel
from clarion.playbook import Playbook
from clarion.responders.people import Responder


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(name for name in names if name))


def approvers(playbook: Playbook, roles: Sequence[str]) -> list[str]:
    return _unique(a for step in playbook.approvals if step.role in roles for a in step.approvers)


def backups(playbook: Playbook, roles: Sequence[str]) -> list[str]:
    """The backup of each role, or its approvers when it names none."""
    found: list[str] = []
    for step in playbook.approvals:
        if step.role in roles:
            found += [step.backup] if step.backup else step.approvers
    return _unique(found)


def everyone(playbook: Playbook, commander: str | None, *, escalate: bool) -> list[str]:
    """The commander and every approver; on escalation the backups too."""
    roles = [step.role for step in playbook.approvals]
    named = [commander or "", *approvers(playbook, roles)]
    if escalate:
        named += [step.backup or "" for step in playbook.approvals]
    return _unique(named)


def channels_for(person: Responder, *, urgent: bool) -> list[Channel]:
    """Where ``person`` is told: their internal channels and email; SMS too when ``urgent``."""
    chosen = [c for c in person.reach if spec_of(c).reach is Reach.INTERNAL]
    if Channel.EMAIL in person.reach:
        chosen.append(Channel.EMAIL)
    if urgent and Channel.SMS in person.reach:
        chosen.append(Channel.SMS)
    return chosen
