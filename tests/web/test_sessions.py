"""Logging in and out of the dashboard, and what a forged form gets: through the app (httpx
over ASGI) on a real ``System`` and the machine's PostgreSQL."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest

from chiffon.access import Access
from tests.api.conftest import BASE_URL, PASSWORD, assert_problem, serving

pytestmark = pytest.mark.postgres
ORIGIN = {"Origin": BASE_URL}


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} field in the page"
    return found.group(1)


async def log_in(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    form = await client.get("/login")
    return await client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": hidden(form.text, "csrf_token"),
              "next": "/agents"},
        headers=ORIGIN,
    )  # fmt: skip


async def test_a_page_sends_a_browser_without_a_session_to_log_in_and_back(
    machine_dsn: str, tmp_path: Path
) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        answer = await api.client.get("/agents?x=1")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?next=/agents%3Fx%3D1"
        login = await api.client.get(answer.headers["location"])
        assert login.status_code == 200
        assert hidden(login.text, "next") == "/agents?x=1"


async def test_a_correct_password_opens_a_strict_http_only_session_and_logout_ends_it(
    machine_dsn: str, tmp_path: Path
) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        user = await api.users.add("read")
        answer = await log_in(api.client, user.name)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/agents"
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith("chiffon_session=")
        )
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        page = await api.client.get("/agents")
        assert page.status_code == 200
        assert user.name in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]

        logout = await api.client.post(
            "/logout", data={"csrf_token": hidden(page.text, "csrf_token")}, headers=ORIGIN
        )
        assert logout.status_code == 303
        session = answer.cookies["chiffon_session"]
        assert await Access(api.system.database).session(session) is None
        assert (await api.client.get("/agents")).status_code == 303


async def test_a_wrong_password_is_refused_on_the_form_without_saying_which_part_was_wrong(
    machine_dsn: str, tmp_path: Path
) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        user = await api.users.add("read")
        for name, password in ((user.name, "not the password"), ("nobody-here", PASSWORD)):
            answer = await log_in(api.client, name, password)
            assert answer.status_code == 401
            assert "Wrong user name or password." in answer.text
            assert "chiffon_session" not in answer.cookies


async def test_a_login_form_posted_without_its_token_or_from_another_origin_is_refused(
    machine_dsn: str, tmp_path: Path
) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        user = await api.users.add("read")
        form = await api.client.get("/login")
        token = hidden(form.text, "csrf_token")
        fields = {"name": user.name, "password": PASSWORD}
        forged = await api.client.post(
            "/login", data={**fields, "csrf_token": "made-up"}, headers=ORIGIN
        )
        assert_problem(forged, 403, "csrf_failed")
        foreign = await api.client.post(
            "/login", data={**fields, "csrf_token": token},
            headers={"Origin": "https://evil.example"},
        )  # fmt: skip
        assert_problem(foreign, 403, "foreign_origin")


async def test_a_forged_or_foreign_decision_is_refused_and_recorded_against_the_run(
    machine_dsn: str, tmp_path: Path
) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        user = await api.users.add("approve")
        await log_in(api.client, user.name)
        page = await api.client.get("/runs")
        token = hidden(page.text, "csrf_token")
        run_id = str(uuid.uuid4())
        decision = {"decision": "approve", "revision": "1", "plan_hash": "sha256:00"}
        forged = await api.client.post(
            f"/runs/{run_id}/decision", data={**decision, "csrf_token": "made-up"},
            headers=ORIGIN,
        )  # fmt: skip
        assert_problem(forged, 403, "csrf_failed")
        foreign = await api.client.post(
            f"/runs/{run_id}/decision", data={**decision, "csrf_token": token},
            headers={"Origin": "https://evil.example"},
        )  # fmt: skip
        assert_problem(foreign, 403, "foreign_origin")
        refused = await Access(api.system.database).refusals(run_id)
        assert sorted((r["code"], r["channel"], r["action"]) for r in refused) == [
            ("csrf_failed", "web", "approve"),
            ("foreign_origin", "web", "approve"),
        ]


async def test_a_reader_cannot_decide_and_the_attempt_is_recorded(
    machine_dsn: str, tmp_path: Path
) -> None:
    async with serving(machine_dsn, tmp_path) as api:
        user = await api.users.add("read")
        await log_in(api.client, user.name)
        page = await api.client.get("/runs")
        run_id = str(uuid.uuid4())
        answer = await api.client.post(
            f"/runs/{run_id}/decision",
            data={"decision": "approve", "revision": "1", "plan_hash": "sha256:00",
                  "csrf_token": hidden(page.text, "csrf_token")},
            headers=ORIGIN,
        )  # fmt: skip
        assert_problem(answer, 403, "insufficient_scope")
        refused = await Access(api.system.database).refusals(run_id)
        assert [(r["code"], r["user_name"]) for r in refused] == [("insufficient_scope", user.name)]
