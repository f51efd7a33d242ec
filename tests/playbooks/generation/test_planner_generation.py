"""The catalog planner proposes generating a service the catalog lacks: a known service, or
one whose image and port the request gives, is generated into the run's staging directory,
checked, and planned with its digest; approval installs it, the run's end discards it; a
service with no known image is a question.

Every generation here runs the real syntax check and ansible-lint (lint results are cached
for the session by the files' digest, so a service generated twice is linted once).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import anyio
import pytest

from chiffon.catalog import Catalog, load_catalog
from chiffon.planning.catalog_planner import GENERATED_REASON, CatalogPlanner
from chiffon.planning.planner import NeedsClarification, PlanOutcome, PlanRequest
from chiffon.planning.validation import validate_plan
from chiffon.playbooks.generation.errors import GeneratedChanged
from chiffon.playbooks.generation.staging import (
    discard_staged,
    install_staged,
    restore_staged,
)
from chiffon.protocol import Plan
from tests.playbooks.generation.conftest import snapshot

pytestmark = pytest.mark.slow


class Planning:
    """A catalog copy, its planner with a staging directory, and a run id per request."""

    def __init__(self, catalog_dir: Path, staging: Path, lint_cache: Path) -> None:
        self.catalog = load_catalog(catalog_dir)
        self.staging = staging
        self.planner = CatalogPlanner(self.catalog, generated_dir=staging, lint_cache=lint_cache)
        self.run_id = uuid.uuid4()

    def plan(self, text: str) -> PlanOutcome:
        return anyio.run(self.planner.plan, PlanRequest(text=text, run_id=self.run_id))

    def proposed(self, text: str) -> Plan:
        outcome = self.plan(text)
        assert isinstance(outcome, Plan), outcome
        return outcome

    @property
    def run_dir(self) -> Path:
        return self.staging / str(self.run_id)


@pytest.fixture
def planning(catalog_dir: Path, tmp_path: Path, lint_cache: Path) -> Planning:
    return Planning(catalog_dir, tmp_path / "home" / "generated", lint_cache)


def test_a_known_service_is_generated_staged_and_planned_with_its_digest(
    planning: Planning, catalog_dir: Path
) -> None:
    on_disk = snapshot(catalog_dir)
    plan = planning.proposed("Deploy Jellyfin")

    (step,) = plan.steps
    assert step.playbook == "jellyfin"
    assert step.hosts == ("nas",)  # the table prefers the storage group
    assert step.reason.startswith(GENERATED_REASON + "; ")
    assert step.variables == {
        "jellyfin_port": 8096, "jellyfin_image": "jellyfin/jellyfin:10.10.3",
        "jellyfin_tz": "Etc/UTC",
    }  # fmt: skip
    assert plan.risk == "medium"
    assert plan.summary == "Run jellyfin (generated) on nas."
    catalog = planning.catalog
    assert catalog.staged("jellyfin") == planning.run_dir.resolve()
    assert step.digest == catalog.digest("jellyfin")
    assert (planning.run_dir / "generated/jellyfin/roles/jellyfin/tasks/main.yml").is_file()
    assert validate_plan(plan, catalog) == plan
    assert snapshot(catalog_dir) == on_disk  # nothing in the catalog before approval


def test_approval_installs_it_into_the_catalog_with_the_approved_digest(
    planning: Planning, catalog_dir: Path
) -> None:
    plan = planning.proposed("Deploy jellyfin on the nas")
    approved = plan.steps[0].digest

    assert anyio.run(install_staged, planning.catalog, plan) == ["jellyfin"]

    assert planning.catalog.staged("jellyfin") is None
    assert planning.catalog.digest("jellyfin") == approved
    assert not planning.run_dir.exists()
    reloaded = load_catalog(catalog_dir)
    assert reloaded.entries["jellyfin"] == planning.catalog.entries["jellyfin"]
    assert reloaded.digest("jellyfin") == approved
    assert (catalog_dir / "generated/jellyfin/jellyfin.yml").is_file()
    # Planned again, it is an entry like any other.
    again = CatalogPlanner(reloaded).plan_now(PlanRequest(text="Deploy jellyfin"))
    assert isinstance(again, Plan)
    assert not again.steps[0].reason.startswith(GENERATED_REASON)
    assert again.steps[0].digest == approved


def test_a_request_giving_image_and_port_generates_an_unknown_service(
    planning: Planning,
) -> None:
    plan = planning.proposed("Deploy whoami with image traefik/whoami:v1.10.3 on port 8000")
    (step,) = plan.steps
    assert step.playbook == "whoami"
    assert step.hosts == ("core",)  # the group most entries target: monitoring
    assert step.variables == {"whoami_port": 8000, "whoami_image": "traefik/whoami:v1.10.3"}
    entry = planning.catalog.entries["whoami"]
    assert entry.variables["whoami_image"].default == "traefik/whoami:v1.10.3"
    assert entry.risk == "medium"


def test_a_generated_service_is_planned_beside_catalog_entries(planning: Planning) -> None:
    plan = planning.proposed("Deploy grafana and gitea")
    assert [s.playbook for s in plan.steps] == ["grafana", "gitea"]
    assert not plan.steps[0].reason.startswith(GENERATED_REASON)
    assert plan.steps[1].reason.startswith(GENERATED_REASON)


def test_the_end_of_a_run_without_approval_discards_what_it_generated(
    planning: Planning, catalog_dir: Path
) -> None:
    on_disk = snapshot(catalog_dir)
    planning.proposed("Deploy jellyfin")

    assert anyio.run(discard_staged, planning.catalog, str(planning.run_id)) == ["jellyfin"]

    assert "jellyfin" not in planning.catalog.entries
    assert not planning.run_dir.exists()
    assert snapshot(catalog_dir) == on_disk
    outcome = CatalogPlanner(planning.catalog).plan_now(PlanRequest(text="Deploy jellyfin"))
    assert isinstance(outcome, NeedsClarification)


@pytest.mark.parametrize(
    ("request_text", "question"),
    [
        ("Deploy foobarbaz",
         'The catalog has no playbook for "foobarbaz", and it is not a service I know: which '
         "image and port should I generate it from?"),
        ("Deploy foobarbaz on port 8080",
         'The catalog has no playbook for "foobarbaz", and it is not a service I know: which '
         "image should I generate it from?"),
        ("Deploy foobarbaz with image example/foobarbaz:2.1",
         "which port should I generate it from?"),
        ("Deploy foobarbaz with image example/foobarbaz:latest on port 8080",
         'I cannot generate a playbook for "foobarbaz": image "example/foobarbaz:latest" is on '
         "the latest tag"),
        ("Deploy foobarbaz with image example/foobarbaz:2.1 on port 99999",
         "port 99999 is out of range"),
    ],
)  # fmt: skip
def test_an_unknown_service_without_a_usable_image_and_port_is_a_question(
    planning: Planning, request_text: str, question: str
) -> None:
    outcome = planning.plan(request_text)
    assert isinstance(outcome, NeedsClarification), outcome
    assert question in outcome.question
    assert not planning.staging.exists()


def test_words_that_are_no_service_beside_a_catalog_entry_keep_the_planners_question(
    planning: Planning,
) -> None:
    outcome = planning.plan("Deploy grafana with extra sauce")
    assert isinstance(outcome, NeedsClarification)
    assert outcome.question.startswith('The catalog has no playbook for "extra sauce"')
    assert not planning.staging.exists()


def test_without_a_staging_directory_or_a_run_id_nothing_is_generated(
    planning: Planning, catalog_dir: Path
) -> None:
    offline = CatalogPlanner(planning.catalog)
    assert isinstance(
        anyio.run(offline.plan, PlanRequest(text="Deploy jellyfin", run_id=uuid.uuid4())),
        NeedsClarification,
    )
    assert isinstance(
        anyio.run(planning.planner.plan, PlanRequest(text="Deploy jellyfin")), NeedsClarification
    )
    assert not planning.staging.exists()


def test_a_generated_playbook_that_fails_its_checks_is_a_question_and_leaves_nothing(
    planning: Planning, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.cfg"
    broken.write_text("[defaults\n")
    monkeypatch.setenv("ANSIBLE_CONFIG", str(broken))  # Ansible itself cannot start
    outcome = planning.plan("Deploy navidrome")
    assert isinstance(outcome, NeedsClarification)
    assert outcome.question.startswith(
        "I could not generate a playbook for navidrome: the playbook generated for navidrome "
        "did not pass its checks: ansible-playbook --syntax-check: ERROR"
    )
    assert "navidrome" not in planning.catalog.entries
    assert not planning.run_dir.exists()


def test_files_changed_after_approval_are_not_installed(
    planning: Planning, catalog_dir: Path
) -> None:
    on_disk = snapshot(catalog_dir)
    plan = planning.proposed("Deploy syncthing")
    tasks = planning.run_dir / "generated/syncthing/roles/syncthing/tasks/main.yml"
    tasks.write_text(tasks.read_text() + "\n- name: Added later\n  ansible.builtin.debug:\n")

    with pytest.raises(GeneratedChanged, match='"syncthing" changed after approval'):
        anyio.run(install_staged, planning.catalog, plan)
    assert snapshot(catalog_dir) == on_disk


def test_a_new_process_stages_again_what_a_run_awaiting_approval_generated(
    planning: Planning, catalog_dir: Path
) -> None:
    plan = planning.proposed("Deploy homepage")
    fresh: Catalog = load_catalog(catalog_dir)
    assert restore_staged(fresh, planning.staging) == ["homepage"]
    assert fresh.staged("homepage") == planning.run_dir.resolve()
    assert fresh.digest("homepage") == plan.steps[0].digest
    assert validate_plan(plan, fresh) == plan
