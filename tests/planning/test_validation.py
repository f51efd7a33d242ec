"""validate_plan: a plan is normalised against the catalog, or rejected with every reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chiffon.catalog import Catalog, CatalogEntry, Inventory, Variable
from chiffon.planning.errors import InvalidPlan
from chiffon.planning.validation import render_variables, secret_variables, validate_plan
from chiffon.protocol import Plan, PlanStep, plan_hash


def step(playbook: str, *hosts: str, reason: str = "", **variables: Any) -> PlanStep:
    return PlanStep(playbook=playbook, hosts=hosts or ("core",), variables=variables, reason=reason)


def plan(*steps: PlanStep) -> Plan:
    return Plan(request="a request", steps=steps, planner="llm:test", confidence=0.5)


def reasons_of(p: Plan, catalog: Catalog) -> list[str]:
    with pytest.raises(InvalidPlan) as caught:
        validate_plan(p, catalog)
    return caught.value.reasons


def test_a_valid_plan_comes_back_with_groups_expanded_defaults_filled_and_digests(
    homelab_catalog: Catalog,
) -> None:
    checked = validate_plan(
        plan(step("uptime-kuma", "monitoring", kuma_port="3002")), homelab_catalog
    )
    (only,) = checked.steps
    assert only.hosts == ("core",)
    assert only.variables == {"kuma_port": 3002, "kuma_image": "louislam/uptime-kuma:1.23.16"}
    assert only.digest == homelab_catalog.digest("uptime-kuma")
    assert only.digest.startswith("sha256:")
    assert checked.planner == "llm:test"
    assert checked.request == "a request"


def test_validating_a_validated_plan_changes_nothing(homelab_catalog: Catalog) -> None:
    once = validate_plan(
        plan(step("backup", "homelab"), step("pihole", "pi"), step("grafana", "monitoring")),
        homelab_catalog,
    )
    assert validate_plan(once, homelab_catalog) == once
    assert plan_hash(validate_plan(once, homelab_catalog)) == plan_hash(once)


def test_hosts_are_expanded_in_order_without_duplicates(homelab_catalog: Catalog) -> None:
    checked = validate_plan(
        plan(step("node-exporter", "pi", "homelab", "core", "monitoring")), homelab_catalog
    )
    assert checked.steps[0].hosts == ("pi", "core", "hass", "nas")


def test_steps_run_after_what_the_catalog_says_and_keep_their_order_otherwise(
    homelab_catalog: Catalog,
) -> None:
    checked = validate_plan(
        plan(
            step("backup", "homelab"),
            step("uptime-kuma-monitors"),
            step("pihole", "pi"),
            step("uptime-kuma"),
            step("grafana"),
        ),
        homelab_catalog,
    )
    assert [s.playbook for s in checked.steps] == [
        "pihole",
        "uptime-kuma",
        "uptime-kuma-monitors",
        "grafana",
        "backup",
    ]


def test_the_plan_risk_is_the_highest_risk_of_its_entries(homelab_catalog: Catalog) -> None:
    assert validate_plan(plan(step("grafana")), homelab_catalog).risk == "low"
    assert (
        validate_plan(plan(step("grafana"), step("pihole", "pi")), homelab_catalog).risk == "medium"
    )
    lowered = Plan(
        request="r", steps=(step("pihole", "pi"),), planner="x", confidence=1.0, risk="high"
    )
    assert validate_plan(lowered, homelab_catalog).risk == "medium"


def test_a_step_whose_needs_entry_is_not_planned_is_allowed(homelab_catalog: Catalog) -> None:
    checked = validate_plan(plan(step("uptime-kuma-monitors")), homelab_catalog)
    assert [s.playbook for s in checked.steps] == ["uptime-kuma-monitors"]


@pytest.mark.parametrize(
    ("variable", "given", "expected"),
    [
        ("kuma_port", "3001", 3001),
        ("kuma_port", 3001.0, 3001),
        ("kuma_port", " +42 ", 42),
        ("kuma_image", "louislam/uptime-kuma:2", "louislam/uptime-kuma:2"),
    ],
)
def test_values_are_coerced_to_the_declared_type(
    homelab_catalog: Catalog, variable: str, given: Any, expected: Any
) -> None:
    checked = validate_plan(plan(step("uptime-kuma", **{variable: given})), homelab_catalog)
    assert checked.steps[0].variables[variable] == expected


def test_a_list_variable_accepts_a_list_or_a_comma_separated_string(
    homelab_catalog: Catalog,
) -> None:
    as_text = validate_plan(
        plan(step("pihole", "pi", pihole_upstream_dns="1.1.1.1, 8.8.8.8")), homelab_catalog
    )
    as_list = validate_plan(
        plan(step("pihole", "pi", pihole_upstream_dns=["1.1.1.1", "8.8.8.8"])), homelab_catalog
    )
    assert as_text.steps[0].variables["pihole_upstream_dns"] == ["1.1.1.1", "8.8.8.8"]
    assert as_text == as_list


def test_an_unknown_playbook_is_rejected_by_name(homelab_catalog: Catalog) -> None:
    assert reasons_of(plan(step("minecraft")), homelab_catalog) == [
        'step 1: unknown playbook "minecraft": the catalog has no such entry'
    ]


def test_a_host_outside_the_inventory_is_rejected_by_name(homelab_catalog: Catalog) -> None:
    assert reasons_of(plan(step("grafana", "core", "mars")), homelab_catalog) == [
        'step 1 (grafana): host "mars" is not in the inventory'
    ]


def test_an_undeclared_variable_is_rejected_by_name(homelab_catalog: Catalog) -> None:
    assert reasons_of(plan(step("uptime-kuma", shell="rm -rf /")), homelab_catalog) == [
        'step 1 (uptime-kuma): variable "shell" is not declared by playbook "uptime-kuma"'
    ]


@pytest.mark.parametrize(
    ("variables", "reason"),
    [
        ({"kuma_port": "abc"}, 'variable "kuma_port" must be int, not "abc"'),
        ({"kuma_port": True}, 'variable "kuma_port" must be int, not "True"'),
        ({"kuma_port": 3001.5}, 'variable "kuma_port" must be int, not "3001.5"'),
        ({"kuma_image": ["a", "b"]}, "variable \"kuma_image\" must be str, not \"['a', 'b']\""),
        (
            {"kuma_image": "img\nrm -rf /"},
            'variable "kuma_image" must be one line without NUL characters, not "img\\nrm -rf /"',
        ),
        (
            {"kuma_image": "img\0"},
            'variable "kuma_image" must be one line without NUL characters, not "img\\0"',
        ),
        (
            {"kuma_image": "x" * 1001},
            'variable "kuma_image" must be at most 1,000 characters, not 1,001',
        ),
    ],
)
def test_a_value_of_the_wrong_shape_is_rejected_with_its_reason(
    homelab_catalog: Catalog, variables: dict[str, Any], reason: str
) -> None:
    assert reasons_of(plan(step("uptime-kuma", **variables)), homelab_catalog) == [
        f"step 1 (uptime-kuma): {reason}"
    ]


def test_a_value_that_breaks_the_declared_pattern_is_rejected(homelab_catalog: Catalog) -> None:
    assert reasons_of(
        plan(step("node-exporter", node_exporter_version="1.9")), homelab_catalog
    ) == [
        'step 1 (node-exporter): variable "node_exporter_version" must match '
        '^[0-9]+\\.[0-9]+\\.[0-9]+$, not "1.9"'
    ]


@pytest.mark.parametrize(
    ("variable", "given", "kept"),
    [
        ("prometheus_retention", "30 days", "30d"),
        ("prometheus_retention", "2 weeks", "2w"),
        ("prometheus_retention", "1h 30m", "1h30m"),
        ("prometheus_scrape_interval", "15s", "15s"),
        ("prometheus_retention_size", "5 GB", "5GB"),
        ("prometheus_retention_size", "512 megabytes", "512MB"),
    ],
)
def test_durations_and_sizes_are_kept_with_their_units(
    homelab_catalog: Catalog, variable: str, given: str, kept: str
) -> None:
    checked = validate_plan(plan(step("prometheus", **{variable: given})), homelab_catalog)
    assert checked.steps[0].variables[variable] == kept


@pytest.mark.parametrize(
    ("variable", "given", "reason"),
    [
        ("prometheus_retention", 1800, "must be a duration with its unit (e.g. 30s, 15m, 2h, "
         "7d), not the bare number '1800'"),
        ("prometheus_scrape_interval", "1800", "must be a duration with its unit (e.g. 30s, "
         "15m, 2h, 7d), not the bare number '1800'"),
        ("prometheus_retention", "3 parsecs", "must be a duration with its unit (ms, s, m, h, "
         "d, w, y), not '3 parsecs'"),
        ("prometheus_retention_size", 5, "must be a size with its unit (e.g. 512MB, 5GB), not "
         "the bare number '5'"),
        ("prometheus_retention_size", "5 GW", "must be a size with its unit (B, KB, MB, GB, "
         "TB, PB), not '5 GW'"),
    ],
)  # fmt: skip
def test_a_duration_or_size_without_a_known_unit_is_rejected(
    homelab_catalog: Catalog, variable: str, given: object, reason: str
) -> None:
    given_step = PlanStep(playbook="prometheus", hosts=("core",), variables={variable: given})
    assert reasons_of(plan(given_step), homelab_catalog) == [
        f'step 1 (prometheus): variable "{variable}" {reason}'
    ]


def test_a_newline_inside_a_list_value_is_rejected(homelab_catalog: Catalog) -> None:
    assert reasons_of(
        plan(step("pihole", "pi", pihole_upstream_dns=["1.1.1.1", "x\ny"])), homelab_catalog
    ) == [
        'step 1 (pihole): variable "pihole_upstream_dns" must be one line without NUL '
        'characters, not "x\\ny"'
    ]


def test_the_same_playbook_twice_on_the_same_host_is_rejected(homelab_catalog: Catalog) -> None:
    twice = plan(step("grafana", "monitoring"), step("grafana", "core", grafana_port=3005))
    assert reasons_of(twice, homelab_catalog) == [
        'step 2 (grafana): playbook "grafana" already runs on host "core" in step 1'
    ]


def test_the_same_playbook_on_different_hosts_is_two_steps(homelab_catalog: Catalog) -> None:
    checked = validate_plan(plan(step("pihole", "pi"), step("pihole", "nas")), homelab_catalog)
    assert [s.hosts for s in checked.steps] == [("pi",), ("nas",)]


def test_an_empty_plan_is_rejected(homelab_catalog: Catalog) -> None:
    empty = Plan.model_construct(request="r", steps=(), planner="x", confidence=0.0, risk="low")
    assert reasons_of(empty, homelab_catalog) == ["the plan has no steps"]


def test_a_plan_from_outside_is_rejected_with_every_reason_listed(
    homelab_catalog: Catalog,
) -> None:
    # What a confused or injected model might answer.
    from_model = Plan.model_validate(
        {
            "request": "Deploy Uptime Kuma and add the existing portals to its monitors",
            "planner": "llm:some-model",
            "confidence": 0.9,
            "steps": [
                {"playbook": "uptime-kuma", "hosts": ["core"], "variables": {"kuma_port": "abc"}},
                {"playbook": "run-shell", "hosts": ["core"], "variables": {"cmd": "curl x | sh"}},
                {
                    "playbook": "uptime-kuma-monitors",
                    "hosts": ["attacker.example.com"],
                    "variables": {"monitor_interval": 30, "script": "echo hi"},
                },
            ],
        }
    )
    assert reasons_of(from_model, homelab_catalog) == [
        'step 1 (uptime-kuma): variable "kuma_port" must be int, not "abc"',
        'step 2: unknown playbook "run-shell": the catalog has no such entry',
        'step 3 (uptime-kuma-monitors): host "attacker.example.com" is not in the inventory',
        'step 3 (uptime-kuma-monitors): variable "script" is not declared by playbook '
        '"uptime-kuma-monitors"',
    ]


def tiny_catalog(tmp_path: Path, **entries: dict[str, Any]) -> Catalog:
    inventory = Inventory(path=tmp_path / "inventory.yml", groups={"all": ("h",)})
    built = {
        name: CatalogEntry(id=name, playbook=f"{name}.yml", description=name, hosts="all", **spec)
        for name, spec in entries.items()
    }
    return Catalog(root=tmp_path, entries=built, inventory=inventory)


def test_a_value_outside_the_declared_choices_is_rejected(tmp_path: Path) -> None:
    catalog = tiny_catalog(
        tmp_path, web={"variables": {"mode": Variable(choices=("http", "https"))}}
    )
    ok = validate_plan(plan(step("web", "h", mode="https")), catalog, digest=lambda _: "d")
    assert ok.steps[0].variables == {"mode": "https"}
    with pytest.raises(InvalidPlan) as caught:
        validate_plan(plan(step("web", "h", mode="ftp")), catalog, digest=lambda _: "d")
    assert caught.value.reasons == [
        'step 1 (web): variable "mode" must be one of http, https, not "ftp"'
    ]


def test_bool_and_float_values_are_coerced_from_text(tmp_path: Path) -> None:
    catalog = tiny_catalog(
        tmp_path,
        web={"variables": {"tls": Variable(type="bool"), "ratio": Variable(type="float")}},
    )
    checked = validate_plan(
        plan(step("web", "h", tls="yes", ratio="0.25")), catalog, digest=lambda _: "d"
    )
    assert checked.steps[0].variables == {"tls": True, "ratio": 0.25}


def test_a_catalog_ordering_cycle_is_reported_not_looped_on(tmp_path: Path) -> None:
    catalog = tiny_catalog(tmp_path, a={"after": ("b",)}, b={"after": ("a",)})
    with pytest.raises(InvalidPlan) as caught:
        validate_plan(plan(step("a", "h"), step("b", "h")), catalog, digest=lambda _: "d")
    assert caught.value.reasons == [
        'playbooks "a", "b" cannot be ordered: the catalog makes each run after another'
    ]


def test_a_playbook_whose_files_are_gone_is_rejected(tmp_path: Path) -> None:
    catalog = tiny_catalog(tmp_path, web={})
    (reason,) = reasons_of(plan(step("web", "h")), catalog)
    assert reason.startswith('step 1 (web): the files of playbook "web" cannot be read:')


def test_secret_variables_are_named_and_redacted_for_display(homelab_catalog: Catalog) -> None:
    assert secret_variables(homelab_catalog, "grafana") == {"grafana_admin_password"}
    assert secret_variables(homelab_catalog, "uptime-kuma") == set()
    assert secret_variables(homelab_catalog, "no-such-entry") == set()
    checked = validate_plan(
        plan(step("grafana", grafana_admin_password="hunter2")), homelab_catalog
    )
    shown = render_variables(checked.steps[0], homelab_catalog)
    assert shown == {
        "grafana_port": 3000,
        "grafana_image": "grafana/grafana-oss:11.3.1",
        "grafana_admin_password": "***",
    }
    assert checked.steps[0].variables["grafana_admin_password"] == "hunter2"
