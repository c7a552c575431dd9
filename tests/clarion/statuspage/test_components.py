"""The components file, and facts naming components and their states: checked like a playbook."""

from __future__ import annotations

from pathlib import Path

import pytest

from clarion.errors import FactsError
from clarion.facts import check_components, load_facts
from clarion.playbook import component_status_for, load_playbook
from clarion.statuspage.components import (
    EMPTY,
    ComponentsError,
    ComponentStatus,
    catalogue_at,
    load_catalogue,
)
from clarion.statuspage.state import with_component_status
from tests.helpers import EXAMPLES, PLAYBOOKS, line_of, replace_in
from tests.statuspage_world import COMPONENTS_FILE

OUTAGE = EXAMPLES / "outage.yaml"


def test_the_shipped_catalogue_groups_in_file_order() -> None:
    catalogue = load_catalogue(COMPONENTS_FILE)
    sections = catalogue.sections()
    assert [s.group.id if s.group else s.components[0].id for s in sections] == [
        "platform",
        "interfaces",
        "data",
        "status-notifications",
    ]
    assert [c.id for c in sections[1].components] == ["dashboard", "api"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "components:\n  - id: api\n    name: API\n  - id: api\n    name: Again\n",
            ":4: components[1].id: 'api' is used twice",
        ),
        (
            "components:\n  - id: api\n    name: API\n    group: core\n",
            ":4: components[0].group: 'core' is not a group (groups: none)",
        ),
        ("components:\n  - id: Bad Id\n    name: x\n", ":2: components[0].id: "),
        ("components:\n  - id: api\n    nmae: API\n", ":3: components[0].nmae: unknown key"),
        ("groups: {}\n", ":1: groups: "),
    ],
)
def test_a_bad_components_file_names_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "components.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ComponentsError) as caught:
        load_catalogue(path)
    assert expected in str(caught.value)


def test_no_components_file_means_no_components_and_no_check(tmp_path: Path) -> None:
    assert catalogue_at(tmp_path / "missing.yaml") is EMPTY
    assert catalogue_at(None) is EMPTY
    facts = load_facts(OUTAGE, load_playbook(PLAYBOOKS / "outage.yaml"), tmp_path / "missing.yaml")
    check_components(facts, tmp_path / "missing.yaml")


def test_an_unknown_component_in_facts_is_refused_with_its_line(tmp_path: Path) -> None:
    facts_file = replace_in(
        OUTAGE, tmp_path / "outage.yaml", "components: [api, dashboard]", "components: [api, dashbord]"
    )
    with pytest.raises(FactsError) as caught:
        load_facts(facts_file, load_playbook(PLAYBOOKS / "outage.yaml"), COMPONENTS_FILE)
    line = line_of(facts_file, "dashbord")
    assert f"outage.yaml:{line}: impact.components: [1]: 'dashbord' is not a component" in str(caught.value)


def test_a_state_for_a_component_not_listed_is_refused(tmp_path: Path) -> None:
    facts_file = replace_in(
        OUTAGE,
        tmp_path / "outage.yaml",
        "components: [api, dashboard]",
        "components: [api]\n  component_status: {builds: major_outage, api: operational}",
    )
    with pytest.raises(FactsError) as caught:
        load_facts(facts_file, load_playbook(PLAYBOOKS / "outage.yaml"), COMPONENTS_FILE)
    message = str(caught.value)
    assert "impact.component_status.api: " in message and "leave it out if operational" in message


def test_states_default_from_the_playbook_and_are_stored_filled_in(tmp_path: Path) -> None:
    facts_file = replace_in(
        OUTAGE,
        tmp_path / "outage.yaml",
        "components: [api, dashboard]",
        "components: [api, dashboard]\n  component_status: {dashboard: degraded_performance}",
    )
    outage = load_playbook(PLAYBOOKS / "outage.yaml")
    facts = load_facts(facts_file, outage, COMPONENTS_FILE)
    filled = with_component_status(facts, outage)
    assert filled.impact.component_status == {
        "api": component_status_for(outage, facts.severity),
        "dashboard": ComponentStatus.DEGRADED_PERFORMANCE,
    }
    maintenance = load_playbook(PLAYBOOKS / "scheduled-maintenance.yaml")
    assert component_status_for(maintenance, "downtime") is ComponentStatus.UNDER_MAINTENANCE
