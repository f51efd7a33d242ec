"""Bad input is a 4xx problem document, never a 500: malformed JSON, oversize bodies (declared
or streamed), wrong types, unknown fields, unknown paths and methods, a decision without the
approve scope; refused attempts on a run's approval or cancel are recorded, whatever refused
them (the credential, CSRF, Origin, scope, the run's state)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import update

from chiffon.access import Access
from chiffon.access.tables import tokens
from chiffon.api.auth import CSRF_HEADER, SESSION_COOKIE
from chiffon.api.context import ApiOptions
from tests.api.conftest import BASE_URL, assert_problem, serving
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


async def test_refused_attempts_on_a_runs_approval_or_cancel_are_recorded(
    machine_dsn: str, tmp_path: Path
) -> None:
    """Expired and revoked tokens, no credential, a forged CSRF token, a foreign Origin, a
    scope short of cancelling, a cancel of an ended run: each its 4xx problem, each kept with
    who tried (as far as known), through what, from where."""
    async with serving(machine_dsn, tmp_path) as api:
        run = await seed_run(
            api.system.database, request="Deploy Kuma", status="awaiting_approval",
            services=[f"kuma-{secrets.token_hex(3)}"], steps_=[Step("uptime-kuma")],
        )  # fmt: skip
        ended = await seed_run(
            api.system.database, request="Deploy Kuma", status="succeeded",
            services=[f"kuma-{secrets.token_hex(3)}"], steps_=[Step("uptime-kuma")],
        )  # fmt: skip
        decisions = f"/api/v1/runs/{run.run_id}/decisions"
        cancel = f"/api/v1/runs/{run.run_id}/cancel"
        body = {"decision": "reject", "plan_hash": HASH, "revision": 1}
        expired, revoked, reader, browser = (
            await api.users.add("approve"), await api.users.add("approve"),
            await api.users.add("read"), await api.users.add("approve"),
        )  # fmt: skip
        access = Access(api.system.database)
        await api.system.database.execute(
            update(tokens)
            .where(tokens.c.id == expired.token_id)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
        await access.revoke_token(revoked.token_id)
        session = await access.open_session(browser.name)
        own = {"Origin": BASE_URL, CSRF_HEADER: session.csrf_token}
        cases: list[tuple[str, dict[str, Any], dict[str, str], int, str]] = [
            (decisions, body, expired.bearer, 401, "token_expired"),
            (decisions, body, revoked.bearer, 401, "token_revoked"),
            (decisions, body, {}, 401, "unauthenticated"),
            (cancel, {}, reader.bearer, 403, "insufficient_scope"),
            (decisions, body, {**own, CSRF_HEADER: "forged"}, 403, "csrf_failed"),
            (decisions, body, {**own, "Origin": "https://evil.example"}, 403, "foreign_origin"),
            (cancel, {}, {**own, "Origin": "https://evil.example"}, 403, "foreign_origin"),
        ]
        for url, sent, headers, status, code in cases:
            cookies = {SESSION_COOKIE: session.id} if CSRF_HEADER in headers else {}
            api.client.cookies.clear()
            for name, value in cookies.items():
                api.client.cookies.set(name, value)
            answer = await api.client.post(
                url, json=sent, headers={**headers, "user-agent": "refusal-test"}
            )
            assert_problem(answer, status, code)
        api.client.cookies.clear()
        again = await api.client.post(f"/api/v1/runs/{ended.run_id}/cancel", headers=reader.bearer)
        assert_problem(again, 403, "insufficient_scope")
        late = await api.client.post(
            f"/api/v1/runs/{str(ended.run_id)[:13]}/cancel", headers=browser.bearer
        )
        assert_problem(late, 409, "run_ended")

        kept = list(reversed(await access.refusals(str(run.run_id))))
        assert [(r["action"], r["code"]) for r in kept] == [
            ("reject", "token_expired"), ("reject", "token_revoked"),
            ("reject", "unauthenticated"), ("cancel", "insufficient_scope"),
            ("reject", "csrf_failed"), ("reject", "foreign_origin"),
            ("cancel", "foreign_origin"),
        ]  # fmt: skip
        assert [r["token_id"] for r in kept[:3]] == [expired.token_id, revoked.token_id, None]
        assert kept[3]["user_name"] == reader.name
        assert [r["channel"] for r in kept] == ["api"] * 4 + ["web"] * 3
        assert {r["address"] for r in kept} == {"203.0.113.7"}
        assert {r["user_agent"] for r in kept} == {"refusal-test"}
        on_ended = [(r["action"], r["code"]) for r in await access.refusals(str(ended.run_id))]
        assert on_ended == [("cancel", "run_ended"), ("cancel", "insufficient_scope")]
