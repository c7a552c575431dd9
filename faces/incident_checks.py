"""What ``clarion declare | update | resolve | approve`` check before the Prefect server is asked.

Facts files are read as people wrote them, and every problem names file, line and field; the
incident, its playbook and its pending approvals come from the clarion store. Nothing here talks to
Prefect. Imported by the commands when they run (it loads pydantic, the store and every playbook).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model
from sqlmodel import Session

from clarion.commitments.promises import Promises, locale_problems
from clarion.commitments.record import problems as commitment_problems
from clarion.commitments.record import stored as stored_commitments
from clarion.compliance.deadlines import incident_regimes
from clarion.errors import FactsError, NotFound, PlaybookError, Problem, display_path
from clarion.facts import Facts, fit_problems
from clarion.files.yamlfile import LineMap, problems_from, read_yaml, validate_with_lines
from clarion.incidents import approvals
from clarion.incidents.incident_status import incident_report
from clarion.models import Incident, utcnow
from clarion.playbook import Playbook, load_playbook, resolve_playbook
from clarion.settings import get_settings
from clarion.store import exists as store_exists
from clarion.store import get_engine, get_incident, reading, require_current
from faces.console import CommandRefused
from flows.models import REFERENCE_PATTERN, Declaration, IncidentFacts, UpdateRequest

REQUEST_FIELDS = ("status", "severity", "story")
"""Keys of an update's facts file that are fields of the request; every other key is a change."""
STATUSES = ("investigating", "identified", "monitoring", "resolved")


# ── declare ───────────────────────────────────────────────────────────────────────────────────────


def declaration(
    playbook: str, facts: Path, commander: str | None, jurisdictions: Sequence[str] = ()
) -> Declaration:
    """The parameters of ``declare-incident``; :class:`FactsError` names every problem of the file,
    and an unknown jurisdiction is refused before the server is asked."""
    folder = get_settings().playbooks_dir
    path = resolve_playbook(playbook, folder)
    book = load_playbook(path)
    if path.resolve() != (folder / f"{book.name}.yaml").resolve():
        raise CommandRefused(
            f"{display_path(path)}: the server runs the playbooks in {display_path(folder)} only; "
            f"copy it there and name it by its name ({book.name})"
        )
    data, lines = read_yaml(facts, FactsError)
    source = display_path(facts)
    checked = validate_with_lines(IncidentFacts, data or {}, lines, source, FactsError)
    today = (checked.as_of or utcnow()).astimezone(UTC).date()
    problems = [
        Problem(source, lines.line_for(loc), ".".join(map(str, loc)), message)
        for loc, message in [
            *fit_problems(checked, book),
            *commitment_problems(checked.commitments, {}, today=today),
        ]
    ]
    if checked.reference is not None and incident_exists(checked.reference):
        problems.append(
            Problem(
                source,
                lines.line_for(("reference",)),
                "reference",
                f"{checked.reference} is already declared: leave reference out to get the next one, "
                f"or post to it with `clarion update {checked.reference}`",
            )
        )
    if problems:
        raise FactsError(sorted(problems, key=lambda p: p.line or 0))
    incident_regimes(book, jurisdictions)  # unknown jurisdictions and regimes, named
    return Declaration(
        playbook=book.name, facts=checked, commander=commander, jurisdictions=list(jurisdictions)
    )


# ── update and resolve ────────────────────────────────────────────────────────────────────────────


def update_request(
    reference: str, facts: Path | None, *, status: str | None, resolving: bool
) -> UpdateRequest:
    """The parameters of ``post-update`` and ``resolve-incident``: the file split into fields and changes.

    ``status``, ``severity`` and ``story`` are fields of the request; every other key replaces that
    fact (``changes``) and is checked against the facts' own types.
    """
    reference = checked_reference(reference)
    if status is not None and status not in STATUSES:
        raise CommandRefused(f"--status {status!r} is not one of {', '.join(STATUSES)}")
    data: Any = {}
    lines, source = LineMap(), ""
    if facts is not None:
        data, lines = read_yaml(facts, FactsError)
        source = display_path(facts)
        data = {} if data is None else data
        if not isinstance(data, dict):
            raise FactsError([Problem(source, lines.line_for(()), "", "expected keys: what changed")])
    problems: list[Problem] = []
    named = data.pop("reference", reference)
    if named != reference:
        where = lines.line_for(("reference",))
        problems.append(Problem(source, where, "reference", f"{named!r}, but you named {reference}"))
    if resolving and data.get("status", "resolved") != "resolved":
        where = lines.line_for(("status",))
        problems.append(Problem(source, where, "status", "a resolution's status is resolved"))
    fields = {key: data.pop(key) for key in REQUEST_FIELDS if key in data}
    if status is not None:
        fields["status"] = status
    request: UpdateRequest | None = None
    try:
        request = UpdateRequest.model_validate({"reference": reference, **fields, "changes": data})
    except ValidationError as exc:
        problems.extend(problems_from(exc, UpdateRequest, lines, source))
    changes = changes_model()
    try:
        changes.model_validate(data)
    except ValidationError as exc:
        problems.extend(problems_from(exc, changes, lines, source))
    if request is not None and not problems:
        problems.extend(_fit_incident(request, lines, source))
    if problems or request is None:
        raise FactsError(sorted(problems, key=lambda p: p.line or 0))
    return request


def changes_model() -> type[BaseModel]:
    """Every other fact of a facts file, each optional: checks the changes of an update file.

    Each field keeps the facts' type and its own constraints and validators (a change to ``impact``
    must be a whole valid impact; ``as_of`` in 1970 or an empty ``title`` is refused here); rules
    across fields (``next_update_by`` after ``as_of``) the flow checks on the merged facts.
    """
    fields: dict[str, Any] = {
        name: (Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation, None)
        for name, info in Facts.model_fields.items()
        if name not in ("reference", *REQUEST_FIELDS)
    }
    model: type[BaseModel] = create_model("Changes", __config__=ConfigDict(extra="forbid"), **fields)
    return model


def _fit_incident(request: UpdateRequest, lines: LineMap, source: str) -> list[Problem]:
    """Severity, story locales and commitments of an update must fit the incident and its playbook."""
    incident, book = incident_and_playbook(request.reference)
    problems = _commitment_problems(incident, book, request.changes.get("commitments"), lines, source)
    if request.severity is not None and request.severity not in book.severities:
        known = ", ".join(book.severities)
        message = f"{request.severity!r} is not one of {known} (playbook {book.name})"
        problems.append(Problem(source, lines.line_for(("severity",)), "severity", message))
    for locale in sorted(set(request.story) - set(book.locales)):
        message = f"locale {locale!r} is not in playbook {book.name}'s locales"
        problems.append(Problem(source, lines.line_for(("story", locale)), f"story.{locale}", message))
    return problems


def _commitment_problems(
    incident: Incident, book: Playbook, given: Any, lines: LineMap, source: str
) -> list[Problem]:
    """Commitments an update names: text in every locale, none created or moved to a past day."""
    if not given:
        return []
    promises = TypeAdapter(Promises).validate_python(given)  # checked with the other changes already
    with reading(get_engine()) as connection, Session(bind=connection) as session:
        known = stored_commitments(session, incident.id or 0)
    today = utcnow().astimezone(UTC).date()
    found = [*locale_problems(promises, book.locales), *commitment_problems(promises, known, today=today)]
    return [Problem(source, lines.line_for(loc), ".".join(map(str, loc)), message) for loc, message in found]


# ── the store ─────────────────────────────────────────────────────────────────────────────────────


def checked_reference(reference: str) -> str:
    if not re.fullmatch(REFERENCE_PATTERN, reference):
        raise CommandRefused(f"{reference!r} is not an incident reference (INC- and four digits: INC-0042)")
    return reference


def reference_in(run_name: str) -> str | None:
    """The incident a flow run is named after (``INC-0042 · update 3``), if any."""
    first = run_name.split(" ", 1)[0]
    return first if re.fullmatch(REFERENCE_PATTERN, first) else None


def incident_and_playbook(reference: str) -> tuple[Incident, Playbook]:
    """The stored incident and its playbook; :class:`NotFound` when there is no such incident."""
    if not store_exists():
        raise NotFound("incident", reference)  # no store yet: nothing was declared here
    require_current()
    with reading(get_engine()) as connection, Session(bind=connection) as session:
        incident = get_incident(session=session, reference=reference)
    return incident, load_playbook(resolve_playbook(incident.playbook, get_settings().playbooks_dir))


def incident_exists(reference: str) -> bool:
    try:
        incident_and_playbook(reference)
    except NotFound:
        return False
    return True


def pending_roles(reference: str) -> tuple[str, ...]:
    """The roles the incident's latest update waits for, by the store."""
    settings = get_settings()
    report = incident_report(get_engine(), reference=reference, playbooks_dir=settings.playbooks_dir)
    return report.summary.pending_approvals or ()


# ── approve ───────────────────────────────────────────────────────────────────────────────────────


def listed_approver(book: Playbook, reference: str, role: str, by: str) -> str:
    """``by`` as the playbook spells it, when it may answer for ``role``; else :class:`CommandRefused`."""
    step = next((s for s in book.approvals if s.role == role), None)
    if step is None:
        roles = ", ".join(s.role for s in book.approvals)
        known = f"its roles are {roles}" if roles else "it needs no approval"
        raise CommandRefused(f"{reference}: playbook {book.name} has no approval role {role!r}; {known}")
    match = approvals.as_listed(step, by)
    if match is None:
        raise CommandRefused(f"{by} may not answer for {role} on {reference}: only {people(book, role)}")
    return match


def people(book: Playbook, role: str) -> str:
    """Who may answer for ``role``: "legal@example.com or backup counsel@example.com"."""
    step = next(s for s in book.approvals if s.role == role)
    return " or ".join([*step.approvers, *([f"backup {step.backup}"] if step.backup else [])])


def waiting_for(reference: str) -> str:
    """The roles the incident's latest update waits for, with who may answer; "" when unknown."""
    try:
        _, book = incident_and_playbook(reference)
        pending = pending_roles(reference)
    except (NotFound, PlaybookError):
        return ""  # the hint goes without names; the run itself is fine
    roles = pending or tuple(s.role for s in book.approvals)
    known = {s.role for s in book.approvals}
    return "; ".join(f"{role}: {people(book, role)}" if role in known else role for role in roles)
