"""Hosts and groups a request names: the inventory's are used, any other is a question."""

from __future__ import annotations

from pathlib import Path

import yaml

from chiffon.catalog import Catalog, load_catalog
from chiffon.planning.catalog_planner import CatalogPlanner
from chiffon.planning.planner import NeedsClarification, PlanRequest
from chiffon.protocol import Plan
from tests.planning.conftest import copy_homelab


def test_a_host_the_inventory_lacks_is_asked_about_naming_what_it_has(
    homelab_catalog: Catalog,
) -> None:
    answer = CatalogPlanner(homelab_catalog).plan_now(
        PlanRequest(text="deploy grafana on the toaster")
    )
    assert isinstance(answer, NeedsClarification)
    assert answer.question == (
        'The inventory has no host or group "toaster": it has the hosts core, hass, pi and nas '
        "and the groups monitoring, proxy, automation, dns, storage, apps, homelab and gpu. Where "
        "should grafana run?"
    )
    assert answer.candidates == ("grafana",)


def test_a_host_named_with_spaces_for_its_dashes_is_that_host(tmp_path: Path) -> None:
    root = copy_homelab(tmp_path / "homelab")
    inventory = yaml.safe_load((root / "inventory.yml").read_text())
    inventory["all"]["children"]["gpu"]["hosts"] = {"gaming-pc": None}
    (root / "inventory.yml").write_text(yaml.safe_dump(inventory))
    plan = CatalogPlanner(load_catalog(root)).plan_now(
        PlanRequest(text="spin up ollama on the gaming pc")
    )
    assert isinstance(plan, Plan), plan
    assert [(s.playbook, s.hosts) for s in plan.steps] == [("ollama", ("gaming-pc",))]
