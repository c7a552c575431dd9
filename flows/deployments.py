"""The one list of clarion's deployments, used two ways.

``clarion serve`` (one machine) serves them with :func:`serve_all` from a runner process
(``python -m flows``); ``prefect.yaml`` (production: a process work pool and workers) lists the same
names and entrypoints, and a test keeps the two in step. This module imports Prefect only inside
:func:`runner_deployments`, so the CLI can read names without paying for ``import prefect``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

TAGS = ("clarion",)
COMMANDER_TAG = "commander"
"""Deployments a person starts (declare, update, resolve…): what the Prefect UI's filter by tag shows."""
INTERNAL_TAG = "internal"
"""Deployments clarion schedules itself (timers, sweeps): named ``internal: …``, never started by hand."""


@dataclass(frozen=True)
class DeploymentSpec:
    flow_name: str
    name: str
    """The deployment's name, for what a person does with it ("declare an incident"); the timers
    clarion schedules itself are named ``internal: …`` and tagged ``internal``."""
    entrypoint: str
    """``path/to/file.py:function``, relative to the project root, as ``prefect.yaml`` writes it."""
    description: str
    interval_seconds: int | None = None
    """A schedule: the server starts a run this often (``prefect.yaml`` says the same)."""

    @property
    def full_name(self) -> str:
        """``flow/deployment``, as ``run_deployment`` and the REST API name it."""
        return f"{self.flow_name}/{self.name}"

    @property
    def internal(self) -> bool:
        return self.name.startswith("internal: ")

    @property
    def tags(self) -> tuple[str, ...]:
        return (*TAGS, INTERNAL_TAG if self.internal else COMMANDER_TAG)


DECLARE = DeploymentSpec(
    "declare-incident",
    "declare an incident",
    "flows/incident.py:declare_incident",
    "Declare an incident from a playbook and facts: draft, approve, publish to every channel.",
)
DECLARE_SHORT = DeploymentSpec(
    "declare-incident-short",
    "declare an incident (short form)",
    "flows/incident.py:declare_incident_short",
    "Declare with five fields (playbook, severity, title, what happened, components): the playbook's "
    "acknowledgement goes out at once; post the first full update next.",
)
POST_UPDATE = DeploymentSpec(
    "post-update",
    "post an update",
    "flows/incident.py:post_update",
    "Publish the next update of an incident: what changed since the last one.",
)
RESOLVE = DeploymentSpec(
    "resolve-incident",
    "resolve an incident",
    "flows/incident.py:resolve_incident",
    "Publish the resolution, clear the banner and stop the cadence.",
)
CADENCE_CHECK = DeploymentSpec(
    "cadence-check",
    "internal: cadence check",
    "flows/cadence.py:cadence_check",
    "Scheduled by every publish: remind the commander before the promised update, and publish a "
    "holding statement when the promise lapses.",
)
APPROVAL_ESCALATION = DeploymentSpec(
    "approval-escalation",
    "internal: approval escalation",
    "flows/cadence.py:approval_escalation",
    "Scheduled when an approval is requested: escalate to the backup approver if it is still unanswered.",
)
WATCH_DEADLINES = DeploymentSpec(
    "watch-deadlines",
    "internal: watch deadlines",
    "flows/deadlines.py:watch_deadlines",
    "Check an incident's regulatory clocks now and schedule a check at each threshold ahead.",
)
DEADLINE_CHECK = DeploymentSpec(
    "deadline-check",
    "internal: deadline check",
    "flows/deadlines.py:deadline_check",
    "Scheduled at 50, 75 and 90 % of a regulatory clock and at its deadline: tell the commander and "
    "approvers, escalate when missed.",
)
RETRY_DELIVERY = DeploymentSpec(
    "retry-delivery",
    "internal: retry delivery",
    "flows/delivery.py:retry_delivery",
    "Scheduled when a publish could not send everything: send what is left, and try again later while "
    "something is.",
)
OUTBOX_SWEEP = DeploymentSpec(
    "outbox-sweep",
    "internal: outbox sweep",
    "flows/delivery.py:outbox_sweep",
    "Every minute: send what waits in the outbox outside any publish (subscription confirmations and "
    "codes, messages due for a retry).",
    interval_seconds=60,
)
MAINTENANCE_STEP = DeploymentSpec(
    "maintenance-step",
    "internal: maintenance step",
    "flows/maintenance.py:maintenance_step",
    "Scheduled by each update of a maintenance: publish its reminder, start and completion when due.",
)
SEND_SURVEY = DeploymentSpec(
    "send-survey",
    "internal: send survey",
    "flows/surveys.py:send_survey",
    "Scheduled by a resolution at the playbook's delay: ask everyone the incident's messages reached how "
    "well they were kept informed.",
)
SURVEY_STEP = DeploymentSpec(
    "survey-step",
    "internal: survey step",
    "flows/surveys.py:survey_step",
    "Scheduled by a survey: remind those who did not answer, and close it with its report.",
)
SURVEY_PURGE = DeploymentSpec(
    "survey-purge",
    "internal: survey purge",
    "flows/surveys.py:survey_purge",
    "Every day: remove survey answers' free text older than the playbook's retention.",
    interval_seconds=86_400,
)
COMMITMENT_CHECK = DeploymentSpec(
    "commitment-check",
    "internal: commitment check",
    "flows/commitments.py:commitment_check",
    "Scheduled by each publish for every open commitment: remind its owner before its day, and escalate "
    "when the day passed and it is still open.",
)
COMMITMENT_SHIPPED = DeploymentSpec(
    "commitment-shipped",
    "announce a kept promise",
    "flows/commitments.py:commitment_shipped",
    "Run by `clarion commitments ship`: tell the incident's audience that a promised change is built.",
)
PUBLISH_UPDATE = DeploymentSpec(
    "publish-update",
    "internal: publish an update",
    "flows/publish.py:publish_update",
    "Started by the outbox sweep when an update waits for approval and its run was stopped (a restart): "
    "ask the roles still pending, then send.",
)
SPECS = (
    DECLARE,
    DECLARE_SHORT,
    POST_UPDATE,
    RESOLVE,
    CADENCE_CHECK,
    APPROVAL_ESCALATION,
    WATCH_DEADLINES,
    DEADLINE_CHECK,
    RETRY_DELIVERY,
    MAINTENANCE_STEP,
    OUTBOX_SWEEP,
    SEND_SURVEY,
    SURVEY_STEP,
    SURVEY_PURGE,
    COMMITMENT_CHECK,
    COMMITMENT_SHIPPED,
    PUBLISH_UPDATE,
)


def load_flow(spec: DeploymentSpec) -> Any:
    """The flow object an entrypoint names (imports the flows package, and with it Prefect)."""
    path, _, attribute = spec.entrypoint.partition(":")
    module = import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, attribute)


def runner_deployments() -> list[Any]:
    """The deployments as ``RunnerDeployment`` objects, for ``serve`` or ``.apply()``."""
    return [
        load_flow(spec).to_deployment(
            name=spec.name,
            description=spec.description,
            tags=list(spec.tags),
            **({"interval": spec.interval_seconds} if spec.interval_seconds else {}),
        )
        for spec in SPECS
    ]


def serve_all(*, limit: int = 20) -> None:
    """Serve every deployment from this process until it is stopped (``python -m flows``)."""
    from prefect import serve

    serve(*runner_deployments(), limit=limit, print_starting_message=False)
