"""Who may call the API: bearer tokens, browser sessions with CSRF and Origin checks, scopes;
every refusal a problem document."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import update

from chiffon.access import Access
from chiffon.access.tables import tokens
from chiffon.api.auth import CSRF_HEADER, SESSION_COOKIE
from tests.api.conftest import BASE_URL, assert_problem, serving


async def test_health_answers_without_credentials(machine_dsn: str, tmp_path: Path) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        response = await api.client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


async def test_ready_says_the_database_is_migrated_and_no_broker_is_configured(
    machine_dsn: str, tmp_path: Path
) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        response = await api.client.get("/ready")
        assert response.status_code == 200, response.text
        assert response.json() == {"ready": True, "database": "ok", "broker": "not configured"}


async def test_a_token_says_who_it_belongs_to(machine_dsn: str, tmp_path: Path) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        alice = await api.users.add("approve", token_scope="run")
        response = await api.client.get("/api/v1/me", headers=alice.bearer)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "user": alice.name, "scope": "run", "scopes": ["read", "run"], "via": "token",
            "token_id": alice.token_id,
        }  # fmt: skip


async def test_no_bad_expired_or_revoked_credential_gets_in(
    machine_dsn: str, tmp_path: Path
) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        bob = await api.users.add("read")
        assert_problem(await api.client.get("/api/v1/me"), 401, "unauthenticated")
        answer = await api.client.get("/api/v1/me", headers={"Authorization": "Basic Ym9iOmJvYg=="})
        assert_problem(answer, 401, "unauthenticated")
        answer = await api.client.get(
            "/api/v1/me", headers={"Authorization": "Bearer chf_nonsense"}
        )
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert_problem(answer, 401, "unauthenticated")
        await api.system.database.execute(
            update(tokens)
            .where(tokens.c.id == bob.token_id)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
        assert_problem(await api.client.get("/api/v1/me", headers=bob.bearer), 401, "token_expired")
        carol = await api.users.add("read")
        await Access(api.system.database).revoke_token(carol.token_id)
        assert_problem(
            await api.client.get("/api/v1/me", headers=carol.bearer), 401, "token_revoked"
        )
        api.client.cookies.set(SESSION_COOKIE, "made-up")
        answer = await api.client.get("/api/v1/me")
        assert_problem(answer, 401, "unauthenticated")


async def test_a_token_cannot_make_a_token_wider_than_itself(
    machine_dsn: str, tmp_path: Path
) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        dave = await api.users.add("admin", token_scope="read")
        answer = await api.client.post("/api/v1/tokens", json={"scope": "run"}, headers=dave.bearer)
        assert_problem(answer, 403, "insufficient_scope")
        answer = await api.client.post(
            "/api/v1/tokens", json={"scope": "read"}, headers=dave.bearer
        )
        assert answer.status_code == 201, answer.text
        made = answer.json()
        assert made["secret"].startswith(f"chf_{made['id']}_")
        listed = (await api.client.get("/api/v1/tokens", headers=dave.bearer)).json()
        assert made["id"] in {token["id"] for token in listed}
        assert all("secret" not in token for token in listed)


async def test_a_user_revokes_only_their_own_tokens_an_admin_anyones(
    machine_dsn: str, tmp_path: Path
) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        erin, frank, root = (
            await api.users.add("read"),
            await api.users.add("read"),
            await api.users.add("admin"),
        )
        answer = await api.client.delete(f"/api/v1/tokens/{frank.token_id}", headers=erin.bearer)
        assert_problem(answer, 404, "unknown_token")
        answer = await api.client.delete(f"/api/v1/tokens/{frank.token_id}", headers=root.bearer)
        assert answer.status_code == 200
        assert answer.json()["state"] == "revoked"
        assert_problem(
            await api.client.get("/api/v1/me", headers=frank.bearer), 401, "token_revoked"
        )


async def test_a_browser_session_needs_its_csrf_token_and_own_origin_to_change_things(
    machine_dsn: str, tmp_path: Path
) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        grace = await api.users.add("read")
        session = await Access(api.system.database).open_session(grace.name)
        api.client.cookies.set(SESSION_COOKIE, session.id)
        me = await api.client.get("/api/v1/me")
        assert me.status_code == 200
        assert me.json()["via"] == "session"
        good = {"Origin": BASE_URL, CSRF_HEADER: session.csrf_token}
        answer = await api.client.post("/api/v1/tokens", json={}, headers={"Origin": BASE_URL})
        assert_problem(answer, 403, "csrf_failed")
        answer = await api.client.post(
            "/api/v1/tokens", json={}, headers={**good, CSRF_HEADER: "forged"}
        )
        assert_problem(answer, 403, "csrf_failed")
        answer = await api.client.post(
            "/api/v1/tokens", json={}, headers={**good, "Origin": "https://evil.example"}
        )
        assert_problem(answer, 403, "foreign_origin")
        answer = await api.client.post(
            "/api/v1/tokens", json={}, headers={CSRF_HEADER: session.csrf_token}
        )
        assert_problem(answer, 403, "foreign_origin")
        answer = await api.client.post("/api/v1/tokens", json={}, headers=good)
        assert answer.status_code == 201, answer.text
