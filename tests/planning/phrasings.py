"""The phrasing table: requests people type, and what the catalog planner must make of them
over examples/homelab. Each row is a plan (entries, hosts, the variables that differ from the
catalog's defaults) or a question (words it must name). The rows come from issues 13 and 15:
the failures reported there are all here, with the phrasings around them that must keep
working.

``python -m tests.planning.phrasings`` prints how many rows the planner gets right, and which
not (the figure quoted in docs/planning.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from chiffon.catalog import Catalog
from chiffon.planning.catalog_planner import CatalogPlanner
from chiffon.planning.planner import NeedsClarification, PlanRequest
from chiffon.protocol import Plan

ALL = ("core", "hass", "pi", "nas")

Step = tuple[str, tuple[str, ...], dict[str, Any]]


@dataclasses.dataclass(frozen=True, slots=True)
class Phrasing:
    """One request, and either the plan it must give (``steps``, in order) or the question
    (``asks``: words the question must contain, case-insensitive). ``notes``: words the
    plan's summary must name (what it did not use); ``confidence``: the most it may have."""

    request: str
    steps: tuple[Step, ...] = ()
    asks: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    confidence: float = 1.0
    source: str = ""


def plan(*steps: Step, notes: tuple[str, ...] = (), confidence: float = 1.0) -> dict[str, Any]:
    return {"steps": steps, "notes": notes, "confidence": confidence}


PHRASINGS: tuple[Phrasing, ...] = (
    # -- issue 13: verbs of removal never plan a deploy --------------------------------------
    Phrasing("remove plex", asks=("plex",), source="13"),
    Phrasing("remove grafana", ((("remove-grafana", ("core",), {})),), source="13"),
    Phrasing("uninstall pihole", (("remove-pihole", ("pi",), {}),), source="13"),
    Phrasing("delete uptime kuma", (("remove-uptime-kuma", ("core",), {}),), source="13"),
    Phrasing("tear down ollama", (("remove-ollama", ("core",), {}),), source="13"),
    Phrasing("get rid of pi-hole", (("remove-pihole", ("pi",), {}),), source="13"),
    Phrasing(
        "tear down home assistant", asks=("home-assistant", "removal playbook"), source="13"
    ),
    Phrasing(
        "remove grafana and its data",
        (("remove-grafana", ("core",), {"grafana_remove_data": True}),),
        source="13",
    ),
    Phrasing(
        "remove grafana but keep prometheus", (("remove-grafana", ("core",), {}),), source="13"
    ),
    # -- issue 13: a host the inventory lacks is a question ----------------------------------
    Phrasing("deploy grafana on the toaster", asks=("toaster",), source="13"),
    Phrasing("install pihole on my toaster and grafana", asks=("toaster",), source="13"),
    # -- issue 13: descriptions, services and tags take part in matching ---------------------
    Phrasing("I need a password manager", (("vaultwarden", ("core",), {}),), source="13"),
    Phrasing(
        "I want to know when my sites go down", (("uptime-kuma", ("core",), {}),), source="13"
    ),
    Phrasing(
        "graphs of my servers' CPU and memory",
        (("grafana", ("core",), {}), ("node-exporter", ALL, {})),
        confidence=0.6,
        source="13",
    ),
    Phrasing(
        "a reverse proxy with https", (("nginx-proxy-manager", ("core",), {}),), source="13"
    ),
    Phrasing("run a local LLM", (("ollama", ("core",), {}),), source="13"),
    # -- issue 13: durations and sizes are typed, units checked ------------------------------
    Phrasing(
        "deploy prometheus scraping every 30 minutes",
        (("prometheus", ("core",), {"prometheus_scrape_interval": "30m"}),),
        source="13",
    ),
    Phrasing(
        "deploy prometheus with retention of 30 minutes",
        (("prometheus", ("core",), {"prometheus_retention": "30m"}),),
        source="13",
    ),
    Phrasing(
        "deploy prometheus and keep metrics for 2 weeks",
        (("prometheus", ("core",), {"prometheus_retention": "2w"}),),
    ),
    Phrasing(
        "deploy prometheus with at most 5 GB of storage",
        (("prometheus", ("core",), {"prometheus_retention_size": "5GB"}),),
        source="13",
    ),
    Phrasing(
        "check the portals every 30 minutes",
        (("uptime-kuma-monitors", ("core",), {"monitor_interval": 1800}),),
    ),
    # -- issue 15: every part of a request is used, asked about or noted --------------------
    Phrasing(
        "pihole with 8.8.8.8 as upstream dns",
        (("pihole", ("pi",), {"pihole_upstream_dns": ["8.8.8.8"]}),),
        source="15",
    ),
    Phrasing(
        "set up home assistant and add it to uptime kuma",
        (("home-assistant", ("hass",), {}), ("uptime-kuma-monitors", ("core",), {})),
        source="15",
    ),
    Phrasing("spin up ollama on the gaming pc", asks=("gaming pc",), source="15"),
    Phrasing(
        "deploy grafana real quick",
        (("grafana", ("core",), {}),),
        notes=("real quick",),
        confidence=0.8,
        source="15",
    ),
    Phrasing("deploy grafana with the dark theme", asks=("dark theme",), source="15"),
    Phrasing("deploy grafana and frobnicate the widgets", asks=("frobnicate",), source="15"),
    # -- what already worked, and must keep working ------------------------------------------
    Phrasing("deploy grafana", (("grafana", ("core",), {}),)),
    Phrasing("install pihole with upstream dns 8.8.8.8", (
        ("pihole", ("pi",), {"pihole_upstream_dns": ["8.8.8.8"]}),)),
    Phrasing("put grafana on the pi", (("grafana", ("pi",), {}),)),
    Phrasing("run a local llm on core", (("ollama", ("core",), {}),)),
    Phrasing("set up an ad blocker", (("pihole", ("pi",), {}),)),
    Phrasing("deploy uptime kuma on port 3002", (("uptime-kuma", ("core",), {"kuma_port": 3002}),)),
    Phrasing("deploy prometheus with retention 30d", (
        ("prometheus", ("core",), {"prometheus_retention": "30d"}),)),
    Phrasing(
        "Deploy Uptime Kuma and add the existing portals to its monitors",
        (("uptime-kuma", ("core",), {}), ("uptime-kuma-monitors", ("core",), {})),
    ),
    Phrasing("install node exporter everywhere but not on nas", (("node-exporter", ALL[:3], {}),)),
    Phrasing("set up backups and keep 14 daily backups", (
        ("backup", ALL, {"backup_keep_daily": 14}),)),
    Phrasing("deploy kuma or grafana", asks=("uptime-kuma", "grafana")),
    Phrasing("deploy jellyfin", asks=("jellyfin",)),
)  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    phrasing: Phrasing
    right: bool
    got: str


def judge(phrasing: Phrasing, catalog: Catalog) -> Verdict:
    """Plan ``phrasing.request`` with the catalog planner and say whether it is right."""
    outcome = CatalogPlanner(catalog).plan_now(PlanRequest(text=phrasing.request))
    if isinstance(outcome, NeedsClarification):
        got = f"question: {outcome.question}"
        asked = outcome.question.lower()
        right = not phrasing.steps and all(w.lower() in asked for w in phrasing.asks)
        return Verdict(phrasing, right, got)
    steps = _steps(outcome, catalog)
    got = f"plan {steps} (confidence {outcome.confidence}; {outcome.summary})"
    right = (
        bool(phrasing.steps)
        and steps == list(phrasing.steps)
        and all(w.lower() in outcome.summary.lower() for w in phrasing.notes)
        and outcome.confidence <= phrasing.confidence
    )
    return Verdict(phrasing, right, got)


def _steps(plan: Plan, catalog: Catalog) -> list[Step]:
    out: list[Step] = []
    for step in plan.steps:
        declared = catalog.entries[step.playbook].variables
        changed = {k: v for k, v in step.variables.items() if v != declared[k].default}
        out.append((step.playbook, step.hosts, changed))
    return out


def main() -> None:
    from chiffon.catalog import load_catalog
    from tests.planning.conftest import HOMELAB

    catalog = load_catalog(HOMELAB)
    verdicts = [judge(p, catalog) for p in PHRASINGS]
    for v in verdicts:
        if not v.right:
            print(f"WRONG {v.phrasing.request!r}: {v.got}")
    print(f"{sum(v.right for v in verdicts)} of {len(verdicts)} right")


if __name__ == "__main__":
    main()
