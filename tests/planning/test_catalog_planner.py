"""The catalog planner over the homelab catalog: phrasings people use, and the plans they get."""

from __future__ import annotations

from typing import Any

import pytest

from chiffon.catalog import Catalog
from chiffon.planning.catalog_planner import CatalogPlanner
from chiffon.planning.planner import NeedsClarification, PlanRequest
from chiffon.planning.validation import validate_plan
from chiffon.protocol import Plan

ALL = ("core", "hass", "pi", "nas")
README = "Deploy Uptime Kuma and add the existing portals to its monitors"

# request -> [(playbook, hosts, variables that differ from the catalog's defaults)], in order
TABLE: list[tuple[str, list[tuple[str, tuple[str, ...], dict[str, Any]]]]] = [
    (README, [("uptime-kuma", ("core",), {}), ("uptime-kuma-monitors", ("core",), {})]),
    (
        "Deploy Uptime Kuma to the homelab and add the existing portals to its monitors",
        [("uptime-kuma", ("core",), {}), ("uptime-kuma-monitors", ("core",), {})],
    ),
    ("add the existing portals to uptime kuma monitors", [("uptime-kuma-monitors", ("core",), {})]),
    (
        "deploy uptime kuma with monitors for the existing portals",
        [("uptime-kuma", ("core",), {}), ("uptime-kuma-monitors", ("core",), {})],
    ),
    ("deploy grafna", [("grafana", ("core",), {})]),
    ("instal pihole", [("pihole", ("pi",), {})]),
    ("install home assistent on hass", [("home-assistant", ("hass",), {})]),
    ("deploy ngnix proxy manager", [("nginx-proxy-manager", ("core",), {})]),
    ("set up a status page", [("uptime-kuma", ("core",), {})]),
    ("block ads on the network", [("pihole", ("pi",), {})]),
    ("set up a reverse proxy for my portals", [("nginx-proxy-manager", ("core",), {})]),
    ("deploy uptime kuma on port 3002", [("uptime-kuma", ("core",), {"kuma_port": 3002})]),
    ("put grafana on the pi", [("grafana", ("pi",), {})]),
    (
        "deploy grafana and prometheus on nas",
        [("prometheus", ("nas",), {}), ("grafana", ("nas",), {})],
    ),
    ("install node exporter on core and hass", [("node-exporter", ("core", "hass"), {})]),
    (
        "deploy pihole on the pi and home assistant on hass",
        [("pihole", ("pi",), {}), ("home-assistant", ("hass",), {})],
    ),
    ("install node exporter everywhere but not on nas", [("node-exporter", ALL[:3], {})]),
    ("set up backups and keep 14 daily backups", [("backup", ALL, {"backup_keep_daily": 14})]),
    ("keep 14 daily backups", [("backup", ALL, {"backup_keep_daily": 14})]),
    # The backup's own description says it backs up "to the NAS": a destination, not a host.
    ("schedule backups at 2am to the nas", [("backup", ALL, {"backup_time": "02:00"})]),
    (
        "deploy prometheus with retention 30d",
        [("prometheus", ("core",), {"prometheus_retention": "30d"})],
    ),
    (
        "deploy grafana with image grafana/grafana-oss:11.4.0",
        [("grafana", ("core",), {"grafana_image": "grafana/grafana-oss:11.4.0"})],
    ),
    (
        "set up home assistant and pihole, timezone Europe/Paris",
        [
            ("home-assistant", ("hass",), {"timezone": "Europe/Paris"}),
            ("pihole", ("pi",), {"timezone": "Europe/Paris"}),
        ],
    ),
    (
        "deploy uptime kuma and check the portals every 30 seconds",
        [
            ("uptime-kuma", ("core",), {}),
            ("uptime-kuma-monitors", ("core",), {"monitor_interval": 30}),
        ],
    ),
    (
        "add monitors for the portals, checking every 2 minutes with 3 retries",
        [("uptime-kuma-monitors", ("core",), {"monitor_interval": 120, "monitor_retries": 3})],
    ),
    (
        "deploy grafana, prometheus and node exporter",
        [("node-exporter", ALL, {}), ("prometheus", ("core",), {}), ("grafana", ("core",), {})],
    ),
    (
        "deploy grafana, prometheus and node exporter but not grafana",
        [("node-exporter", ALL, {}), ("prometheus", ("core",), {})],
    ),
    (
        "set up the metrics stack without grafana: prometheus and node-exporter",
        [("node-exporter", ALL, {}), ("prometheus", ("core",), {})],
    ),
    (
        "Deploy Pi-hole with upstream DNS 9.9.9.9 and 149.112.112.112",
        [("pihole", ("pi",), {"pihole_upstream_dns": ["9.9.9.9", "149.112.112.112"]})],
    ),
    (
        "promethues and grafana dashboards please",
        [("prometheus", ("core",), {}), ("grafana", ("core",), {})],
    ),
    (
        "install node exporter version 1.9.0 on all hosts",
        [("node-exporter", ALL, {"node_exporter_version": "1.9.0"})],
    ),
    (
        "back up everything to /mnt/tank via repository /mnt/tank/restic",
        [("backup", ALL, {"backup_repository": "/mnt/tank/restic"})],
    ),
]  # fmt: skip


def changed(plan: Plan, catalog: Catalog) -> list[tuple[str, tuple[str, ...], dict[str, Any]]]:
    """Each step as (playbook, hosts, variables that differ from their defaults)."""
    out = []
    for step in plan.steps:
        declared = catalog.entries[step.playbook].variables
        values = {k: v for k, v in step.variables.items() if v != declared[k].default}
        out.append((step.playbook, step.hosts, values))
    return out


def plan_of(catalog: Catalog, text: str, **kwargs: Any) -> Plan:
    outcome = CatalogPlanner(catalog).plan_now(PlanRequest(text, **kwargs))
    assert isinstance(outcome, Plan), outcome
    return outcome


@pytest.mark.parametrize(("request_text", "expected"), TABLE, ids=[t for t, _ in TABLE])
def test_each_phrasing_plans_the_expected_steps_hosts_and_variables(
    homelab_catalog: Catalog, request_text: str, expected: list[Any]
) -> None:
    plan = plan_of(homelab_catalog, request_text)
    assert changed(plan, homelab_catalog) == expected
    assert plan.planner == "catalog"
    assert plan.request == request_text


@pytest.mark.parametrize("request_text", [t for t, _ in TABLE])
def test_every_plan_is_already_valid_and_normalised(
    homelab_catalog: Catalog, request_text: str
) -> None:
    plan = plan_of(homelab_catalog, request_text)
    assert validate_plan(plan, homelab_catalog) == plan
    assert 0.0 < plan.confidence <= 1.0
    assert plan.summary.startswith("Run ")
    assert all(step.reason.startswith(("matched", "named by")) for step in plan.steps)


def test_a_step_reason_names_the_words_that_matched(homelab_catalog: Catalog) -> None:
    plan = plan_of(homelab_catalog, README)
    assert [s.reason for s in plan.steps] == [
        'matched "Uptime Kuma"',
        'matched "existing portals", "monitors"',
    ]
    assert plan.summary == "Run uptime-kuma on core, then uptime-kuma-monitors on core."


def test_misspellings_and_loose_matches_say_so_and_lower_the_confidence(
    homelab_catalog: Catalog,
) -> None:
    exact = plan_of(homelab_catalog, "deploy prometheus")
    typo = plan_of(homelab_catalog, "deploy promethues")
    loose = plan_of(homelab_catalog, "block ads on the network")
    assert exact.confidence == 1.0
    assert typo.steps[0].reason == 'matched "promethues" (taken as prometheus)'
    assert typo.confidence < exact.confidence
    assert loose.steps[0].reason == 'matched "block ads" (like "ad blocker")'
    assert loose.confidence < typo.confidence


def test_values_taken_from_the_request_are_named_in_the_reason_and_summary(
    homelab_catalog: Catalog,
) -> None:
    plan = plan_of(homelab_catalog, "deploy uptime kuma on port 3002")
    assert plan.steps[0].reason == 'matched "uptime kuma"; kuma_port from "port 3002"'
    assert plan.summary == "Run uptime-kuma on core with kuma_port=3002."


def test_a_secret_value_never_appears_in_the_reason_or_summary(homelab_catalog: Catalog) -> None:
    plan = plan_of(homelab_catalog, "deploy grafana with admin password hunter2")
    assert plan.steps[0].variables["grafana_admin_password"] == "hunter2"
    assert "hunter2" not in plan.steps[0].reason
    assert "hunter2" not in plan.summary
    assert "grafana_admin_password=***" in plan.summary


def test_the_same_request_always_gives_the_same_plan(homelab_catalog: Catalog) -> None:
    planner = CatalogPlanner(homelab_catalog)
    first = planner.plan_now(PlanRequest(README))
    assert all(planner.plan_now(PlanRequest(README)) == first for _ in range(3))
    assert CatalogPlanner(homelab_catalog).plan_now(PlanRequest(README)) == first


async def test_the_planner_implements_the_planner_interface(homelab_catalog: Catalog) -> None:
    planner = CatalogPlanner(homelab_catalog)
    assert planner.name == "catalog"
    outcome = await planner.plan(PlanRequest(README))
    assert isinstance(outcome, Plan)
    assert [s.playbook for s in outcome.steps] == ["uptime-kuma", "uptime-kuma-monitors"]


def test_the_real_homelab_catalog_plans_the_readme_request(real_homelab: Catalog) -> None:
    plan = plan_of(real_homelab, README)
    assert [s.playbook for s in plan.steps] == ["uptime-kuma", "uptime-kuma-monitors"]
    assert validate_plan(plan, real_homelab) == plan
    assert plan.steps[0].digest == real_homelab.digest("uptime-kuma")


@pytest.mark.parametrize("request_text", [t for t, _ in TABLE])
def test_the_real_homelab_catalog_plans_like_its_copy(
    real_homelab: Catalog, homelab_catalog: Catalog, request_text: str
) -> None:
    real = plan_of(real_homelab, request_text)
    assert changed(real, real_homelab) == changed(
        plan_of(homelab_catalog, request_text), homelab_catalog
    )
    assert validate_plan(real, real_homelab) == real


def test_feedback_without_a_previous_plan_is_read_as_more_of_the_request(
    homelab_catalog: Catalog,
) -> None:
    plan = plan_of(homelab_catalog, "deploy grafana", feedback="and prometheus")
    assert [s.playbook for s in plan.steps] == ["prometheus", "grafana"]


def test_outcomes_are_never_a_plan_for_words_that_name_nothing(homelab_catalog: Catalog) -> None:
    outcome = CatalogPlanner(homelab_catalog).plan_now(PlanRequest("   "))
    assert isinstance(outcome, NeedsClarification)
