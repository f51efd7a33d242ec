"""The catalog planner asks instead of guessing: unclear requests, and requests the catalog
cannot serve."""

from __future__ import annotations

import pytest

from chiffon.catalog import Catalog
from chiffon.planning.catalog_planner import CatalogPlanner
from chiffon.planning.planner import NeedsClarification, PlanRequest

EVERY_ID = (
    "uptime-kuma, uptime-kuma-monitors, grafana, prometheus, node-exporter, pihole, "
    "nginx-proxy-manager, home-assistant, backup, ollama and vaultwarden"
)


def ask(catalog: Catalog, text: str) -> NeedsClarification:
    outcome = CatalogPlanner(catalog).plan_now(PlanRequest(text))
    assert isinstance(outcome, NeedsClarification), outcome
    return outcome


def test_set_up_monitoring_asks_which_of_the_monitoring_playbooks(homelab_catalog: Catalog) -> None:
    answer = ask(homelab_catalog, "set up monitoring")
    assert answer.question == (
        '"monitoring" could mean uptime-kuma, grafana, prometheus or node-exporter: '
        "which should I plan?"
    )
    assert answer.candidates == ("uptime-kuma", "grafana", "prometheus", "node-exporter")


def test_a_negation_narrows_the_candidates_of_an_unclear_word(homelab_catalog: Catalog) -> None:
    answer = ask(homelab_catalog, "set up monitoring but not grafana")
    assert answer.candidates == ("uptime-kuma", "prometheus", "node-exporter")


def test_a_topic_word_shared_by_several_entries_is_asked_about(homelab_catalog: Catalog) -> None:
    answer = ask(homelab_catalog, "I want metrics")
    assert answer.candidates == ("grafana", "prometheus", "node-exporter")
    assert '"metrics"' in answer.question


def test_either_or_asks_which(homelab_catalog: Catalog) -> None:
    answer = ask(homelab_catalog, "deploy grafana or prometheus")
    assert answer.question == "Which should I plan: grafana or prometheus?"
    assert answer.candidates == ("grafana", "prometheus")


@pytest.mark.parametrize(
    ("text", "verb"), [("deploy it", "deploy"), ("install everything", "install"), ("   ", "plan")]
)
def test_a_request_naming_nothing_asks_what_listing_the_catalog(
    homelab_catalog: Catalog, text: str, verb: str
) -> None:
    answer = ask(homelab_catalog, text)
    assert answer.question == f"What should I {verb}? The catalog has {EVERY_ID}."
    assert answer.candidates == ()


def test_a_request_for_what_the_catalog_lacks_says_there_is_no_such_playbook(
    homelab_catalog: Catalog,
) -> None:
    answer = ask(homelab_catalog, "install a minecraft server")
    assert answer.question == f'The catalog has no playbook for "minecraft"; it has {EVERY_ID}.'
    assert answer.candidates == ()


def test_a_request_partly_outside_the_catalog_asks_before_planning_the_rest(
    homelab_catalog: Catalog,
) -> None:
    answer = ask(homelab_catalog, "deploy grafana and a minecraft server")
    assert answer.question == (
        'The catalog has no playbook for "minecraft": should I plan grafana without it?'
    )
    assert answer.candidates == ("grafana",)


def test_a_value_no_planned_playbook_takes_is_not_dropped_silently(
    homelab_catalog: Catalog,
) -> None:
    answer = ask(homelab_catalog, "deploy grafana, every 30 seconds")
    assert answer.question == (
        'None of the playbooks in the plan (grafana) takes "every 30 seconds".'
    )


def test_a_value_the_playbook_refuses_is_asked_about_with_the_reason(
    homelab_catalog: Catalog,
) -> None:
    answer = ask(homelab_catalog, "install node exporter version 1.9.0.1")
    assert answer.question == (
        "I could not make a valid plan: step 1 (node-exporter): variable "
        '"node_exporter_version" must match ^[0-9]+\\.[0-9]+\\.[0-9]+$, not "1.9.0.1".'
    )


def test_a_duration_without_its_unit_is_asked_about_never_guessed(
    homelab_catalog: Catalog,
) -> None:
    answer = ask(homelab_catalog, "install prometheus with prometheus_retention=1800")
    assert answer.question == (
        "I could not make a valid plan: step 1 (prometheus): variable "
        '"prometheus_retention" must be a duration with its unit (e.g. 30s, 15m, 2h, 7d), '
        "not the bare number '1800'."
    )


def test_ruling_out_every_host_of_a_step_asks_where_it_should_run(
    homelab_catalog: Catalog,
) -> None:
    answer = ask(homelab_catalog, "deploy grafana, but not on core")
    assert answer.question == (
        "Without core, grafana has no host left to run on: where should it run?"
    )
    assert answer.candidates == ("grafana",)


def test_a_port_for_one_of_two_clauses_without_a_clear_owner_is_asked_about(
    homelab_catalog: Catalog,
) -> None:
    answer = ask(homelab_catalog, "port 3005 for grafana or prometheus")
    assert answer.candidates == ("grafana", "prometheus")
