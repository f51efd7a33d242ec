"""``/metrics``: Prometheus text with the record's and the process's figures, behind a token
unless public."""

from __future__ import annotations

import secrets
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from chiffon.api.context import ApiOptions
from tests.api.conftest import assert_problem, serving
from tests.audit.seed import Step, seed_run


def families(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def test_metrics_count_runs_durations_and_the_journal(
    machine_dsn: str, tmp_path: Path
) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        reader = await api.users.add("read")
        assert_problem(await api.client.get("/metrics"), 401, "unauthenticated")
        before = families((await api.client.get("/metrics", headers=reader.bearer)).text)
        await seed_run(
            api.system.database, request="Deploy Kuma", status="succeeded",
            services=[f"kuma-{secrets.token_hex(3)}"], steps_=[Step("uptime-kuma")],
            llm_costs=[0.25],
        )  # fmt: skip
        answer = await api.client.get("/metrics", headers=reader.bearer)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        after = families(answer.text)
        succeeded = (("status", "succeeded"),)
        assert (
            after["chiffon_runs"][succeeded] == before.get("chiffon_runs", {}).get(succeeded, 0) + 1
        )
        runs_done = after["chiffon_run_duration_seconds_count"][()]
        assert runs_done == before["chiffon_run_duration_seconds_count"][()] + 1
        assert after["chiffon_run_duration_seconds_bucket"][(("le", "+Inf"),)] == runs_done
        assert "chiffon_approvals_waiting" in after
        assert "chiffon_step_duration_seconds_bucket" in after
        assert sum(after["chiffon_model_cost_usd_total"].values()) >= 0.25
        assert "chiffon_journal_commit_seconds_count" in after
        assert "chiffon_journal_batch_records_sum" in after


async def test_public_metrics_need_no_token(machine_dsn: str, tmp_path: Path) -> None:
    async with serving(machine_dsn, tmp_path, ApiOptions(metrics_public=True)) as api:
        answer = await api.client.get("/metrics")
        assert answer.status_code == 200
        assert "chiffon_runs" in answer.text
