"""What the demo's incident says: the example data breach it declares, and the fix and prevention it
tells in its later updates."""

from __future__ import annotations

from typing import Any

COMMANDER = "commander@acme.example"


def declaration() -> dict[str, Any]:
    """The example data breach, declared now by the demo's commander (a new incident, not INC-0042)."""
    import yaml

    from clarion.settings import PROJECT_ROOT
    from flows.models import Declaration

    facts = yaml.safe_load(
        (PROJECT_ROOT / "examples" / "facts" / "data-breach.yaml").read_text(encoding="utf-8")
    )
    for key in ("reference", "as_of", "aware_at", "next_update_by"):
        facts.pop(key, None)  # a new incident, aware now, published now, on the playbook's cadence
    declared = Declaration(playbook="data-breach", facts=facts, commander=COMMANDER)
    return declared.model_dump(mode="json", exclude_none=True)


FIX_EN = (
    "We closed access at 08:05 UTC, rotated every credential of the export and reviewed its access logs: "
    "the file was downloaded twice, from two addresses we have reported to the police."
)
FIX_DE = (
    "Wir haben den Zugang um 09:05 Uhr MEZ gesperrt, alle Zugangsdaten des Exports erneuert und die "
    "Zugriffsprotokolle geprüft: Die Datei wurde zweimal geladen, von zwei Adressen, die wir der Polizei "
    "gemeldet haben."
)
PREVENTION_EN = (
    "Every change to storage permissions now needs a second reviewer, and an alarm fires within a minute "
    "when any bucket becomes public."
)
PREVENTION_DE = (
    "Jede Änderung an Speicherberechtigungen braucht jetzt eine zweite Prüfung, und ein Alarm meldet "
    "binnen einer Minute, wenn ein Speicher öffentlich wird."
)
