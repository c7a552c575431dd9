"""The acknowledgement: the first word at declaration, before any approval.

A playbook with an ``acknowledgement`` lets the incident say at once what nobody needs to approve:
we are aware of a problem ("{title}", affecting these components), we are investigating, the next
update comes by a time it names. Its words are the locale's (``templates/_locale/*.yaml``,
``acknowledgement``), the same for every incident, so approving the playbook approved them; the
title and the components are the only facts it carries from the declaration. Nothing of the story,
the breach facts or the commitments goes out with it: those wait for the first update and its
approvals.

It goes only where the playbook's ``acknowledgement.channels`` say (the status page and the banner
at least; broadcast posts when listed; never a personal message, which would read the audiences
and reach people one by one before anyone approved), and it meets no regulatory stage: a
notification the law asks for is the first update's.

:func:`short_form_facts` is what the short declare form declares: the title, severity and components
it asks for, the organisation, contact and links the playbook's ``short_form`` gives, and the
acknowledgement's own words as the story (the first full update brings the real one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clarion.errors import PlaybookError, Problem
from clarion.facts import Facts
from clarion.incidents.lifecycle import first_facts
from clarion.kinds import IncidentStatus, UpdateKind
from clarion.models import Incident
from clarion.playbook import Playbook
from clarion.settings import Settings
from clarion.updates.publish import Staged, check_draft, stage_update
from clarion.updates.render import Renderer

Wording = Mapping[str, Mapping[str, str]]
"""Per locale, the locale file's ``acknowledgement``: ``text``, ``short`` and ``affecting``."""


def wording(playbook: Playbook, settings: Settings) -> Wording:
    """The acknowledgement's words in each of the playbook's locales."""
    renderer = Renderer(playbook, settings.templates_dir, sms_max_segments=settings.sms_max_segments)
    return {locale: renderer.locale_text(locale).acknowledgement for locale in playbook.locales}


def of_incident(incident: Incident, playbook: Playbook, settings: Settings, *, as_of: datetime) -> Facts:
    """The acknowledgement of ``incident``, from the facts it was declared with."""
    declared = first_facts(incident, as_of=as_of)
    return acknowledgement_facts(declared, playbook, wording(playbook, settings), as_of=as_of)


def check(facts: Facts, playbook: Playbook, settings: Settings) -> None:
    """Render the acknowledgement of a declaration with ``facts`` on every channel it goes to, and
    raise what does not fit (a long title in a banner), before anything is stored or said."""
    ack = acknowledgement_facts(facts, playbook, wording(playbook, settings), as_of=facts.as_of)
    check_draft(playbook=playbook.acknowledging(), facts=ack, settings=settings, sources={})


def publish(
    *, engine: sa.Engine, incident: Incident, playbook: Playbook, settings: Settings, as_of: datetime
) -> Staged:
    """Store the acknowledgement as published and write its outbox rows (the banner's; the status page
    reads the store): for ``clarion declare``, which says it before the declare flow has started."""
    facts = of_incident(incident, playbook, settings, as_of=as_of)
    return stage_update(
        engine=engine,
        playbook=playbook,
        facts=facts,
        settings=settings,
        sources={},
        kind=UpdateKind.ACKNOWLEDGEMENT,
        source="acknowledgement",
    )


def acknowledgement_facts(facts: Facts, playbook: Playbook, words: Wording, *, as_of: datetime) -> Facts:
    """The acknowledgement of an incident declared with ``facts``, published ``as_of``."""
    policy = playbook.acknowledgement
    if policy is None:
        raise PlaybookError([Problem(playbook.name, None, "acknowledgement", "the playbook names none")])
    data: dict[str, Any] = json.loads(facts.model_dump_json(exclude_none=True))
    for declared in ("breach", "commitments", "maintenance", "next_update_by"):
        data.pop(declared, None)
    impact = facts.impact
    data["impact"] = {"components": impact.components, "component_status": impact.component_status}
    data["as_of"] = as_of.isoformat()
    data["next_update_by"] = (as_of + policy.next_update_in).isoformat()
    data["story"] = {
        locale: _story(facts, locale, _words(words, locale, playbook)) for locale in playbook.locales
    }
    return Facts.model_validate(data)


def _words(words: Wording, locale: str, playbook: Playbook) -> Mapping[str, str]:
    found = words.get(locale) or {}
    missing = [key for key in ("text", "short", "affecting") if not found.get(key)]
    if missing:
        message = f"templates/_locale/{locale}.yaml has no acknowledgement.{', '.join(missing)}"
        raise PlaybookError([Problem(playbook.name, None, "acknowledgement", message)])
    return found


def _story(facts: Facts, locale: str, words: Mapping[str, str]) -> dict[str, Any]:
    told = facts.story.get(locale)
    title = (told.title if told is not None else None) or facts.title
    components = ", ".join(facts.impact.components)
    affecting = words["affecting"].format(components=components) if components else ""
    story: dict[str, Any] = {
        "apology": {
            "text": words["text"].format(title=title, affecting=affecting),
            "short": words["short"].format(title=title, affecting=affecting),
        }
    }
    if told is not None and told.title:
        story["title"] = told.title
    return story


def short_form_facts(
    playbook: Playbook,
    words: Wording,
    *,
    reference: str,
    title: str,
    severity: str,
    components: Sequence[str],
    as_of: datetime,
    status_page_url: str,
) -> Facts:
    """The facts the short declare form declares (see the module's docstring)."""
    policy = playbook.acknowledgement
    if policy is None or policy.short_form is None:
        message = "the short declare form needs acknowledgement.short_form (organisation, contact)"
        raise PlaybookError([Problem(playbook.name, None, "acknowledgement.short_form", message)])
    form = policy.short_form
    base = Facts.model_validate(
        {
            "organisation": form.organisation,
            "reference": reference,
            "title": title,
            "severity": severity,
            "status": IncidentStatus.INVESTIGATING.value,
            "as_of": as_of.isoformat(),
            "status_page_url": status_page_url,
            "contact": form.contact,
            "links": form.links,
            "impact": {"components": list(components)},
            "story": {playbook.default_locale: {"apology": {"text": title}}},
        }
    )
    return acknowledgement_facts(base, playbook, words, as_of=as_of)
