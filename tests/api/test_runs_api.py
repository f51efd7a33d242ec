"""The read side of ``/api/v1`` over runs a test writes as the orchestrator would: listing with
filters, a default window and a keyset cursor; a run's timeline; the audit; catalog and agents.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

from tests.api.conftest import assert_problem, serving
from tests.audit.seed import Step, seed_run

CATALOG = Path(__file__).parents[2] / "examples" / "homelab"


async def test_runs_are_listed_newest_first_a_page_at_a_time(
    machine_dsn: str, tmp_path: Path
) -> None:
    service = f"kuma-{secrets.token_hex(3)}"
    async with serving(machine_dsn, tmp_path) as api:
        reader = await api.users.add("read")
        now = dt.datetime.now(dt.UTC)
        seeded = [
            await seed_run(
                api.system.database, request=f"Deploy Kuma #{n}", status="succeeded",
                services=[service], steps_=[Step("uptime-kuma")],
                created_at=now - dt.timedelta(hours=n + 1),
            )
            for n in range(3)
        ]  # fmt: skip
        old = await seed_run(
            api.system.database, request="Deploy Kuma, long ago", status="failed",
            services=[service], steps_=[Step("uptime-kuma", status="failed")],
            created_at=now - dt.timedelta(days=30),
        )  # fmt: skip
        first = await api.client.get(
            "/api/v1/runs", params={"service": service, "limit": 2}, headers=reader.bearer
        )
        assert first.status_code == 200, first.text
        page = first.json()
        assert [item["id"] for item in page["items"]] == [str(s.run_id) for s in seeded[:2]]
        assert page["next_cursor"]
        second = await api.client.get(
            "/api/v1/runs",
            params={"service": service, "limit": 2, "cursor": page["next_cursor"]},
            headers=reader.bearer,
        )
        assert [item["id"] for item in second.json()["items"]] == [str(seeded[2].run_id)]
        assert second.json()["next_cursor"] is None
        since = (now - dt.timedelta(days=60)).isoformat()
        everything = await api.client.get(
            "/api/v1/runs", params={"service": service, "since": since, "status": "failed"},
            headers=reader.bearer,
        )  # fmt: skip
        assert [item["id"] for item in everything.json()["items"]] == [str(old.run_id)]


async def test_bad_listing_parameters_are_problems_not_errors(
    machine_dsn: str, tmp_path: Path
) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        reader = await api.users.add("read")
        cases: list[tuple[dict[str, str | int], int, str]] = [
            ({"cursor": "not-a-cursor"}, 400, "bad_cursor"),
            ({"limit": "many"}, 422, "invalid_request"),
            ({"limit": 100_000}, 422, "invalid_request"),
            ({"since": "yesterday"}, 422, "invalid_request"),
            ({"since": "2026-01-01T00:00:00"}, 422, "invalid_request"),  # no time zone
        ]
        for params, status, code in cases:
            answer = await api.client.get("/api/v1/runs", params=params, headers=reader.bearer)
            assert_problem(answer, status, code)


async def test_a_runs_timeline_and_an_unknown_run(machine_dsn: str, tmp_path: Path) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        reader = await api.users.add("read")
        run = await seed_run(
            api.system.database, request="Deploy Grafana", status="succeeded",
            services=[f"grafana-{secrets.token_hex(3)}"], steps_=[Step("grafana")],
            llm_costs=[0.0125],
        )  # fmt: skip
        answer = await api.client.get(f"/api/v1/runs/{run.run_id}/timeline", headers=reader.bearer)
        assert answer.status_code == 200, answer.text
        timeline = answer.json()
        assert timeline["run"]["id"] == str(run.run_id)
        calls = await api.client.get(
            f"/api/v1/runs/{str(run.run_id)[:13]}/model-calls", headers=reader.bearer
        )
        assert [call["cost_usd"] for call in calls.json()] == [0.0125]
        missing = await api.client.get(
            "/api/v1/runs/00000000-0000-0000-0000-000000000000/timeline", headers=reader.bearer
        )
        assert_problem(missing, 404, "run_not_found")
        bad = await api.client.get("/api/v1/runs/not-hex/timeline", headers=reader.bearer)
        assert_problem(bad, 422, "invalid_request")


async def test_failures_and_changes_of_a_service(machine_dsn: str, tmp_path: Path) -> None:
    service = f"grafana-{secrets.token_hex(3)}"
    async with serving(machine_dsn, tmp_path) as api:
        reader = await api.users.add("read")
        changed = await seed_run(
            api.system.database, request="Install Grafana", status="succeeded",
            services=[service], steps_=[Step("grafana", changed=3)],
        )  # fmt: skip
        answer = await api.client.get(
            "/api/v1/audit/changes", params={"service": service}, headers=reader.bearer
        )
        assert answer.status_code == 200, answer.text
        assert [change["run_id"] for change in answer.json()] == [str(changed.run_id)]
        failures = await api.client.get(
            "/api/v1/audit/failures", params={"service": service}, headers=reader.bearer
        )
        assert failures.status_code == 200
        assert failures.json() == []
        no_service = await api.client.get("/api/v1/audit/changes", headers=reader.bearer)
        assert_problem(no_service, 422, "invalid_request")


async def test_catalog_inventory_and_agents(machine_dsn: str, tmp_path: Path) -> None:
    async with serving(machine_dsn, tmp_path, catalog=CATALOG) as api:
        reader = await api.users.add("read")
        entries = (await api.client.get("/api/v1/catalog", headers=reader.bearer)).json()
        assert "uptime-kuma" in {entry["id"] for entry in entries}
        inventory = (await api.client.get("/api/v1/inventory", headers=reader.bearer)).json()
        assert inventory["hosts"]
        agents = (await api.client.get("/api/v1/agents", headers=reader.bearer)).json()
        assert "local" in {agent["name"] for agent in agents}
