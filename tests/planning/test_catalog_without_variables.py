"""A catalog whose entries declare no variables is planned by its words, like any other."""

from __future__ import annotations

from pathlib import Path

from chiffon.catalog import load_catalog
from chiffon.planning.catalog_planner import CatalogPlanner
from chiffon.planning.planner import PlanRequest
from chiffon.protocol import Plan

CATALOG = Path(__file__).resolve().parents[1] / "orchestrator" / "catalog"


def test_entries_without_variables_are_matched_and_ordered() -> None:
    planner = CatalogPlanner(load_catalog(CATALOG))
    plan = planner.plan_now(PlanRequest(text="omega, breakage and alpha on box"))
    assert isinstance(plan, Plan)
    assert [s.playbook for s in plan.steps] == ["prepare", "breakage", "finish"]
    assert all(s.hosts == ("box",) for s in plan.steps)
