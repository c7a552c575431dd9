"""prefect.yaml (production) and flows/deployments.py (``clarion serve``) describe the same deployments."""

from __future__ import annotations

import yaml

from flows.deployments import SPECS, load_flow
from tests.helpers import ROOT


def test_prefect_yaml_lists_every_deployment_as_serve_does() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    listed = [
        (d["name"], d["entrypoint"], d["description"], tuple(d["tags"]), d["work_pool"]["name"])
        for d in config["deployments"]
    ]
    assert listed == [(s.name, s.entrypoint, s.description, s.tags, "clarion") for s in SPECS]
    assert all(d["enforce_parameter_schema"] is True for d in config["deployments"])
    schedules = [[s.get("interval") for s in d.get("schedules", [])] for d in config["deployments"]]
    assert schedules == [[s.interval_seconds] if s.interval_seconds else [] for s in SPECS]


def test_every_entrypoint_names_the_flow_of_its_deployment() -> None:
    assert [load_flow(spec).name for spec in SPECS] == [spec.flow_name for spec in SPECS]
    for spec in SPECS:
        path = ROOT / spec.entrypoint.partition(":")[0]
        assert path.is_file(), spec.entrypoint
