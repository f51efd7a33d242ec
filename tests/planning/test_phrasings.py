"""The phrasing table (``tests.planning.phrasings``) over examples/homelab: every row right.

Before this table's fixes the catalog planner got 17 of its 39 rows right; the rows and the
figure are in docs/planning.md.
"""

from __future__ import annotations

import pytest

from chiffon.catalog import Catalog
from tests.planning.phrasings import PHRASINGS, Phrasing, judge


@pytest.mark.parametrize("phrasing", PHRASINGS, ids=[p.request for p in PHRASINGS])
def test_each_phrasing_of_the_table_is_planned_or_asked_about_as_it_says(
    real_homelab: Catalog, phrasing: Phrasing
) -> None:
    verdict = judge(phrasing, real_homelab)
    assert verdict.right, verdict.got


def test_the_table_holds_every_failure_the_issues_reported() -> None:
    requests = {p.request for p in PHRASINGS}
    reported = {
        "remove plex", "remove grafana", "deploy grafana on the toaster",
        "I need a password manager", "I want to know when my sites go down",
        "graphs of my servers' CPU and memory", "a reverse proxy with https", "run a local LLM",
        "deploy prometheus scraping every 30 minutes", "pihole with 8.8.8.8 as upstream dns",
        "set up home assistant and add it to uptime kuma", "spin up ollama on the gaming pc",
    }  # fmt: skip
    assert reported <= requests
