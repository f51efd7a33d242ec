"""Verbs of removal: a catalog entry's declared removal is planned, nothing else ever is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from chiffon.catalog import Catalog, CatalogError, load_catalog
from chiffon.planning.catalog_planner import CatalogPlanner
from chiffon.planning.planner import NeedsClarification, PlanRequest
from chiffon.protocol import Plan
from tests.planning.conftest import copy_homelab


def outcome(catalog: Catalog, text: str) -> Plan | NeedsClarification:
    return CatalogPlanner(catalog).plan_now(PlanRequest(text=text))


def test_an_entry_with_a_removal_gives_the_catalog_its_remove_entry(
    homelab_catalog: Catalog,
) -> None:
    removal = homelab_catalog.entries["remove-grafana"]
    assert removal.removes == "grafana"
    assert removal.playbook == "playbooks/remove-grafana.yml"
    assert removal.hosts == homelab_catalog.entries["grafana"].hosts
    assert list(removal.variables) == ["grafana_remove_data"]
    assert homelab_catalog.removal_of("grafana") == "remove-grafana"
    assert homelab_catalog.removal_of("home-assistant") is None
    assert "remove-grafana" not in homelab_catalog.deployable()


@pytest.mark.parametrize(
    "text",
    ["remove grafana", "uninstall grafana", "delete grafana", "tear down grafana",
     "get rid of grafana", "please remove grafana from core"],
)  # fmt: skip
def test_every_verb_of_removal_plans_the_removal_and_never_a_deploy(
    homelab_catalog: Catalog, text: str
) -> None:
    plan = outcome(homelab_catalog, text)
    assert isinstance(plan, Plan), plan
    assert [(s.playbook, s.hosts) for s in plan.steps] == [("remove-grafana", ("core",))]
    assert "removes grafana" in plan.steps[0].reason


def test_removing_two_entries_removes_both(homelab_catalog: Catalog) -> None:
    plan = outcome(homelab_catalog, "remove grafana and pihole")
    assert isinstance(plan, Plan), plan
    assert [s.playbook for s in plan.steps] == ["remove-grafana", "remove-pihole"]


def test_an_entry_without_a_removal_is_refused_saying_so(homelab_catalog: Catalog) -> None:
    answer = outcome(homelab_catalog, "uninstall home assistant")
    assert isinstance(answer, NeedsClarification)
    assert answer.question.startswith(
        "home-assistant has no removal playbook in the catalog, so I will not plan removing "
        "it (and never a deploy instead)"
    )
    assert answer.candidates == ("home-assistant",)


def test_removing_what_the_catalog_lacks_is_refused_and_never_generated(
    homelab_catalog: Catalog, tmp_path: Path
) -> None:
    planner = CatalogPlanner(homelab_catalog, generated_dir=tmp_path)
    import uuid

    request = PlanRequest(text="remove jellyfin", run_id=uuid.uuid4())
    assert planner.to_generate(request) is None
    answer = planner.plan_now(request)
    assert isinstance(answer, NeedsClarification)
    assert answer.question.startswith(
        'The catalog has no entry for "jellyfin", so there is nothing of it I can remove'
    )


def test_a_removal_playbook_the_catalog_lacks_fails_the_load_naming_it(tmp_path: Path) -> None:
    root = copy_homelab(tmp_path / "homelab")
    (root / "playbooks" / "remove-grafana.yml").unlink()
    missing = "entry 'grafana': removal playbook playbooks/remove-grafana.yml is missing"
    with pytest.raises(CatalogError, match=re.escape(missing)):
        load_catalog(root)


def test_removes_is_not_written_in_the_catalog(tmp_path: Path) -> None:
    root = copy_homelab(tmp_path / "homelab")
    index = yaml.safe_load((root / "catalog.yml").read_text())
    index["entries"][0]["removes"] = "grafana"
    (root / "catalog.yml").write_text(yaml.safe_dump(index))
    with pytest.raises(CatalogError, match="`removes` is set by the catalog"):
        load_catalog(root)


def test_a_removal_id_taken_by_another_entry_fails_the_load(tmp_path: Path) -> None:
    root = copy_homelab(tmp_path / "homelab")
    index = yaml.safe_load((root / "catalog.yml").read_text())
    clash = dict(index["entries"][-1], id="remove-grafana")
    clash.pop("removal", None)
    index["entries"].append(clash)
    (root / "catalog.yml").write_text(yaml.safe_dump(index))
    with pytest.raises(CatalogError, match="entry id 'remove-grafana' appears twice"):
        load_catalog(root)
