from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from clarion.errors import InconsistentUpdate, LimitExceeded
from clarion.facts import Facts, load_facts
from clarion.kinds import Channel, IncidentStatus
from clarion.playbook import Playbook, load_playbook
from clarion.settings import get_settings
from clarion.updates.compose import compose
from clarion.updates.consistency import PreflightFailed, findings, preflight
from clarion.updates.rendition import Rendition
from tests.helpers import EXAMPLES, PLAYBOOKS


@pytest.fixture
def breach() -> Playbook:
    return load_playbook(PLAYBOOKS / "data-breach.yaml")


@pytest.fixture
def renditions(breach: Playbook) -> list[Rendition]:
    return compose(breach, load_facts(EXAMPLES / "data-breach.yaml", breach), get_settings())


def test_shipped_renditions_agree_and_fit(renditions: list[Rendition]) -> None:
    assert findings(renditions) == []
    preflight(renditions)  # raises when anything is off


def test_a_rendition_from_other_facts_is_caught(renditions: list[Rendition]) -> None:
    stale = renditions[1]
    other = dataclasses.replace(
        stale,
        carried=dataclasses.replace(
            stale.carried,
            status=IncidentStatus.MONITORING,
            next_update_by=stale.carried.next_update_by + timedelta(hours=1),
        ),
    )
    problems = findings([renditions[0], other, *renditions[2:]])
    assert any("sms/en carries status 'monitoring' but email/en carries 'identified'" in p for p in problems)
    assert any("sms/en carries next_update_by" in p for p in problems)


def test_a_template_that_drops_the_link_is_caught(own_templates: Path, breach: Playbook) -> None:
    banner = own_templates / "banner" / "en" / "body.txt.j2"
    banner.write_text(banner.read_text().replace("{{ link }}", "see our status page"))
    problems = findings(compose(breach, load_facts(EXAMPLES / "data-breach.yaml", breach), get_settings()))
    link = "https://status.acme.example/incidents/INC-0042"
    assert problems[0] == f"banner/en body: does not show the status-page link '{link}'"
    # the banner leaves parts to its pointer, which no longer points anywhere: each is missing
    assert problems[1:] and all(
        p.startswith("banner/en: ")
        and p.endswith(f"missing (left to the pointer, but no pointer to {link} is shown)")
        for p in problems[1:]
    )


def test_a_hard_coded_time_is_caught(own_templates: Path, breach: Playbook) -> None:
    email = own_templates / "email" / "de" / "body.html.j2"
    email.write_text(email.read_text().replace("{{ next_update }}", "Mo., 23. Nov., 12:00 MEZ"))
    problems = findings(compose(breach, load_facts(EXAMPLES / "data-breach.yaml", breach), get_settings()))
    assert problems == ["email/de html: does not show the next update time 'Mo., 23. Nov., 10:00 +0000'"]


def test_preflight_lists_every_problem(renditions: list[Rendition]) -> None:
    sms = next(r for r in renditions if r.channel is Channel.SMS)
    over = dataclasses.replace(
        sms,
        measurements=tuple(dataclasses.replace(m, length=5, limit=3, fits=False) for m in sms.measurements),
    )
    dropped = dataclasses.replace(renditions[0], fields={**renditions[0].fields, "body": "Sorry."})
    with pytest.raises(PreflightFailed) as caught:
        preflight([dropped, over])
    kinds = [type(e) for e in caught.value.errors]
    assert kinds == [LimitExceeded, InconsistentUpdate]
    assert "sms [en]: 5 segments, limit 3" in str(caught.value)
    assert "email/en body: does not show the reference 'INC-0042'" in str(caught.value)


def test_facts_with_different_times_never_mix(breach: Playbook) -> None:
    facts = load_facts(EXAMPLES / "data-breach.yaml", breach)
    later: Facts = facts.model_copy(update={"as_of": facts.as_of + timedelta(minutes=30)})
    mixed = compose(breach, facts, get_settings(), locales=["en"]) + compose(
        breach, later, get_settings(), locales=["de"]
    )
    assert any("carries next_update_by" in p for p in findings(mixed))
