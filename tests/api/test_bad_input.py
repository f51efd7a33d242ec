"""Bad input is a 4xx problem document, never a 500: malformed JSON, oversize bodies (declared
or streamed), wrong types, unknown fields, unknown paths and methods, a decision without the
approve scope (recorded as refused)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from chiffon.access import Access
from chiffon.api.context import ApiOptions
from tests.api.conftest import assert_problem, serving
from tests.audit.seed import Step, seed_run

HASH = "sha256:" + "0" * 64


async def test_malformed_json_wrong_types_and_unknown_fields(
    machine_dsn: str, tmp_path: Path
) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        user = await api.users.add("admin")
        headers = {**user.bearer, "content-type": "application/json"}
        answer = await api.client.post("/api/v1/tokens", content=b'{"scope": ', headers=headers)
        body = assert_problem(answer, 400, "malformed_json")
        assert "not valid JSON" in str(body["detail"])
        answer = await api.client.post("/api/v1/tokens", json={"scope": 3}, headers=user.bearer)
        assert_problem(answer, 422, "invalid_request")
        answer = await api.client.post(
            "/api/v1/tokens", json={"scope": "read", "user": "root"}, headers=user.bearer
        )
        body = assert_problem(answer, 422, "invalid_request")
        assert body["detail"] == "body.user: is not a field this request accepts"
        answer = await api.client.post("/api/v1/runs", json=["a", "list"], headers=user.bearer)
        assert_problem(answer, 422, "invalid_request")
        answer = await api.client.post(
            "/api/v1/runs", json={"request": "Deploy Kuma", "approver": "mallory"},
            headers=user.bearer,
        )  # fmt: skip
        assert_problem(answer, 422, "invalid_request")


async def test_bodies_over_the_limit_are_refused_declared_or_streamed(
    machine_dsn: str, tmp_path: Path
) -> None:
    async with serving(machine_dsn, tmp_path, ApiOptions(max_body_bytes=1000)) as api:
        user = await api.users.add("admin")
        big = {"request": "x" * 2000}
        answer = await api.client.post("/api/v1/runs", json=big, headers=user.bearer)
        assert_problem(answer, 413, "body_too_large")

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b" " * 100

        answer = await api.client.post(
            "/api/v1/tokens", content=chunks(),
            headers={**user.bearer, "content-type": "application/json"},
        )  # fmt: skip
        assert "content-length" not in answer.request.headers
        assert_problem(answer, 413, "body_too_large")
        small = await api.client.post("/api/v1/tokens", json={}, headers=user.bearer)
        assert small.status_code == 201, small.text


async def test_unknown_paths_and_methods_are_problems(machine_dsn: str, tmp_path: Path) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        assert_problem(await api.client.get("/api/v1/nothing-here"), 404, "not_found")
        assert_problem(await api.client.delete("/health"), 405, "method_not_allowed")


async def test_a_decision_without_the_approve_scope_is_refused_and_recorded(
    machine_dsn: str, tmp_path: Path
) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        runner = await api.users.add("approve", token_scope="run")
        run = await seed_run(
            api.system.database, request="Deploy Kuma", status="awaiting_approval",
            services=[f"kuma-{secrets.token_hex(3)}"], steps_=[Step("uptime-kuma")],
        )  # fmt: skip
        answer = await api.client.post(
            f"/api/v1/runs/{run.run_id}/decisions",
            json={"decision": "approve", "plan_hash": HASH, "revision": 1},
            headers={**runner.bearer, "user-agent": "pytest-agent"},
        )
        assert_problem(answer, 403, "insufficient_scope")
        [refusal] = await Access(api.system.database).refusals(str(run.run_id))
        assert refusal["action"] == "approve"
        assert refusal["code"] == "insufficient_scope"
        assert refusal["user_name"] == runner.name
        assert refusal["token_id"] == runner.token_id
        assert refusal["channel"] == "api"
        assert refusal["address"] == "203.0.113.7"
        assert refusal["user_agent"] == "pytest-agent"


async def test_a_decision_body_must_name_a_plan_and_a_modify_its_feedback(
    machine_dsn: str, tmp_path: Path
) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        approver = await api.users.add("approve")
        url = "/api/v1/runs/00000000-0000-0000-0000-000000000000/decisions"
        for body in [
            {"decision": "approve", "revision": 1},
            {"decision": "approve", "plan_hash": "md5:abc", "revision": 1},
            {"decision": "approve", "plan_hash": HASH, "revision": -1},
            {"decision": "modify", "plan_hash": HASH, "revision": 1},
            {"decision": "yes please", "plan_hash": HASH, "revision": 1},
            {"decision": "approve", "plan_hash": HASH, "revision": 1, "approver": "root"},
        ]:
            answer = await api.client.post(url, json=body, headers=approver.bearer)
            assert_problem(answer, 422, "invalid_request")
