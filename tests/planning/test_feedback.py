"""A modify round: the human's feedback applied to the previous plan."""

from __future__ import annotations

from typing import Any

import pytest

from chiffon.catalog import Catalog
from chiffon.planning.catalog_planner import CatalogPlanner
from chiffon.planning.planner import NeedsClarification, PlanOutcome, PlanRequest
from chiffon.planning.validation import validate_plan
from chiffon.protocol import Plan, PlanStep

README = "Deploy Uptime Kuma and add the existing portals to its monitors"


def modify(catalog: Catalog, text: str, feedback: str, previous: Plan | None = None) -> PlanOutcome:
    planner = CatalogPlanner(catalog)
    if previous is None:
        first = planner.plan_now(PlanRequest(text))
        assert isinstance(first, Plan)
        previous = first
    return planner.plan_now(PlanRequest(text, feedback=feedback, previous=previous))


def plan_after(catalog: Catalog, text: str, feedback: str, **kwargs: Any) -> Plan:
    outcome = modify(catalog, text, feedback, **kwargs)
    assert isinstance(outcome, Plan), outcome
    assert validate_plan(outcome, catalog) == outcome
    return outcome


def test_also_add_backups_appends_the_backup_step(homelab_catalog: Catalog) -> None:
    plan = plan_after(homelab_catalog, README, "also add backups")
    assert [s.playbook for s in plan.steps] == ["uptime-kuma", "uptime-kuma-monitors", "backup"]
    assert plan.steps[2].reason == 'added on feedback: matched "backups"'
    assert plan.steps[2].hosts == ("core", "hass", "pi", "nas")
    assert plan.request == README


def test_use_port_goes_to_the_step_that_has_a_port(homelab_catalog: Catalog) -> None:
    plan = plan_after(homelab_catalog, README, "use port 3002")
    assert plan.steps[0].variables["kuma_port"] == 3002
    assert plan.steps[0].reason == 'matched "Uptime Kuma"; kuma_port from "port 3002"'
    assert plan.steps[1].variables == {"monitor_interval": 60, "monitor_retries": 2}


def test_on_another_host_instead_moves_every_step(homelab_catalog: Catalog) -> None:
    plan = plan_after(homelab_catalog, README, "on nas instead")
    assert [s.hosts for s in plan.steps] == [("nas",), ("nas",)]


def test_moving_one_named_step_leaves_the_others(homelab_catalog: Catalog) -> None:
    plan = plan_after(homelab_catalog, "deploy grafana and prometheus", "move grafana to the pi")
    assert [(s.playbook, s.hosts) for s in plan.steps] == [
        ("prometheus", ("core",)),
        ("grafana", ("pi",)),
    ]


def test_remove_from_one_host_and_put_on_another(homelab_catalog: Catalog) -> None:
    plan = plan_after(
        homelab_catalog, "deploy uptime kuma", "remove it from core and put it on nas"
    )
    assert plan.steps[0].hosts == ("nas",)


@pytest.mark.parametrize(
    "feedback", ["drop grafana", "remove grafana", "without grafana", "no grafana please"]
)
def test_dropping_a_step(homelab_catalog: Catalog, feedback: str) -> None:
    plan = plan_after(homelab_catalog, "deploy grafana and prometheus", feedback)
    assert [s.playbook for s in plan.steps] == ["prometheus"]


def test_only_keeps_what_it_names(homelab_catalog: Catalog) -> None:
    plan = plan_after(homelab_catalog, "deploy grafana and prometheus", "only grafana")
    assert [s.playbook for s in plan.steps] == ["grafana"]


def test_instead_of_swaps_one_entry_for_another(homelab_catalog: Catalog) -> None:
    plan = plan_after(homelab_catalog, "deploy grafana", "use prometheus instead of grafana")
    assert [s.playbook for s in plan.steps] == ["prometheus"]


def test_adding_the_prerequisite_on_feedback_orders_it_first(homelab_catalog: Catalog) -> None:
    plan = plan_after(
        homelab_catalog,
        "add the existing portals to uptime kuma monitors",
        "deploy uptime kuma too",
    )
    assert [s.playbook for s in plan.steps] == ["uptime-kuma", "uptime-kuma-monitors"]


def test_feedback_changes_a_plan_from_another_planner_and_keeps_its_choices(
    homelab_catalog: Catalog,
) -> None:
    from_model = validate_plan(
        Plan(
            request="monitor my portals",
            steps=(
                PlanStep(
                    playbook="uptime-kuma-monitors",
                    hosts=("core",),
                    variables={"monitor_retries": 5},
                ),
            ),
            planner="llm:some-model",
            confidence=0.9,
        ),
        homelab_catalog,
    )
    plan = plan_after(
        homelab_catalog, "monitor my portals", "every 15 seconds", previous=from_model
    )
    assert plan.planner == "catalog"
    assert plan.steps[0].variables == {"monitor_interval": 15, "monitor_retries": 5}
    assert plan.confidence == 0.9


def test_a_secret_given_on_feedback_stays_out_of_reason_and_summary(
    homelab_catalog: Catalog,
) -> None:
    plan = plan_after(homelab_catalog, "deploy grafana", "set the admin password to hunter2")
    assert plan.steps[0].variables["grafana_admin_password"] == "hunter2"
    assert "hunter2" not in plan.steps[0].reason + plan.summary


def test_dropping_everything_asks_what_the_plan_should_do(homelab_catalog: Catalog) -> None:
    outcome = modify(homelab_catalog, "deploy uptime kuma", "drop uptime kuma")
    assert outcome == NeedsClarification(
        "Dropping uptime-kuma leaves nothing to run: what should the plan do instead?",
        ("uptime-kuma",),
    )


def test_feedback_that_changes_nothing_asks_what_to_change(homelab_catalog: Catalog) -> None:
    outcome = modify(homelab_catalog, "deploy grafana", "please")
    assert outcome == NeedsClarification(
        'I could not tell what to change from "please": name playbooks to add or drop, or '
        "the hosts, port or other setting to change.",
        ("grafana",),
    )


def test_feedback_asking_for_something_outside_the_catalog_says_so(
    homelab_catalog: Catalog,
) -> None:
    outcome = modify(homelab_catalog, "deploy grafana", "also add a minecraft server")
    assert isinstance(outcome, NeedsClarification)
    assert outcome.question.startswith('The catalog has no playbook for "minecraft"')


def test_unclear_feedback_asks_which(homelab_catalog: Catalog) -> None:
    outcome = modify(homelab_catalog, "deploy uptime kuma", "add metrics too")
    assert isinstance(outcome, NeedsClarification)
    assert outcome.candidates == ("grafana", "prometheus", "node-exporter")
