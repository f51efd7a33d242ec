"""A run through the API, in-process: submit (202, Location, Idempotency-Key), the plan
awaiting a decision, stale and double decisions refused, approve, the events as SSE with
``Last-Event-ID`` resuming with no gap and no duplicate, four-eyes, rate limits."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from chiffon.access import Access
from chiffon.api.context import ApiOptions
from tests.api.conftest import Api, User, assert_problem, serving

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CATALOG = Path(__file__).parents[1] / "orchestrator" / "catalog"
REQUEST = "alpha and omega on box"


def parse_sse(text: str) -> list[dict[str, Any]]:
    """The events of an SSE body: each a dict of its fields (comments dropped)."""
    found = []
    for block in text.split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            if line.startswith(":") or ": " not in line:
                continue
            name, value = line.split(": ", 1)
            fields[name] = value
        if fields:
            found.append(fields)
    return found


async def submitted(api: Api, user: User, **extra: Any) -> str:
    answer = await api.client.post(
        "/api/v1/runs", json={"request": REQUEST, "dry_run": False, **extra},
        headers=user.bearer,
    )  # fmt: skip
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == f"/api/v1/runs/{answer.json()['id']}"
    return str(answer.json()["id"])


async def awaiting(api: Api, user: User, run_id: str) -> dict[str, Any]:
    """The pending approval of ``run_id``, once its plan is proposed (its events say when)."""
    handle = await api.system.runs.get(run_id)
    async for event in handle.events():
        if event.kind == "plan.proposed":
            break
    described = await api.client.get(f"/api/v1/runs/{run_id}", headers=user.bearer)
    assert described.status_code == 200, described.text
    body = described.json()
    assert body["summary"]["status"] == "awaiting_approval"
    assert body["summary"]["why_waiting"]
    pending: dict[str, Any] = body["pending"]
    return pending


async def test_submit_decide_and_follow_a_run(machine_dsn: str, tmp_path: Path) -> None:
    with anyio.fail_after(110):
        async with serving(machine_dsn, tmp_path, catalog=CATALOG) as api:
            alice = await api.users.add("approve")
            run_id = await submitted(api, alice)
            pending = await awaiting(api, alice, run_id)
            url = f"/api/v1/runs/{run_id}/decisions"
            stale = await api.client.post(
                url, json={"decision": "approve", "plan_hash": pending["plan_hash"],
                           "revision": pending["revision"] + 1}, headers=alice.bearer,
            )  # fmt: skip
            body = assert_problem(stale, 409, "stale_revision")
            assert body["current_revision"] == pending["revision"]
            assert body["current_plan_hash"] == pending["plan_hash"]
            decision = {"decision": "approve", "plan_hash": pending["plan_hash"],
                        "revision": pending["revision"]}  # fmt: skip
            approved = await api.client.post(
                url, json=decision, headers={**alice.bearer, "user-agent": "flow-test"}
            )
            assert approved.status_code == 200, approved.text
            record = approved.json()
            assert (record["by"], record["channel"], record["decision"]) == (
                alice.name, "api", "approve",
            )  # fmt: skip
            again = await api.client.post(url, json=decision, headers=alice.bearer)
            assert_problem(again, 409, "already_decided")
            refused = {r["code"] for r in await Access(api.system.database).refusals(run_id)}
            assert refused == {"stale_revision", "already_decided"}

            stream = await api.client.get(f"/api/v1/runs/{run_id}/events", headers=alice.bearer)
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = parse_sse(stream.text)
            assert events[-1] == {"event": "end", "data": "{}"}
            ids = [int(e["id"]) for e in events[:-1]]
            assert ids == list(range(1, len(ids) + 1))
            assert events[-2]["event"] == "run.finished"
            assert '"succeeded"' in events[-2]["data"]

            middle = ids[len(ids) // 2]
            resumed = await api.client.get(
                f"/api/v1/runs/{run_id}/events",
                headers={**alice.bearer, "Last-Event-ID": str(middle)},
            )
            assert [int(e["id"]) for e in parse_sse(resumed.text)[:-1]] == ids[middle:]
            bad = await api.client.get(
                f"/api/v1/runs/{run_id}/events", headers={**alice.bearer, "Last-Event-ID": "x"}
            )
            assert_problem(bad, 400, "invalid_cursor")


async def test_an_idempotency_key_answers_the_first_run(machine_dsn: str, tmp_path: Path) -> None:
    with anyio.fail_after(110):
        async with serving(machine_dsn, tmp_path, catalog=CATALOG) as api:
            bob = await api.users.add("run")
            key = {"Idempotency-Key": str(uuid.uuid4())}
            answers = [
                await api.client.post(
                    "/api/v1/runs",
                    json={"request": REQUEST, "dry_run": False},
                    headers={**bob.bearer, **key},
                )
                for _ in range(2)
            ]
            assert [a.status_code for a in answers] == [202, 202]
            assert answers[0].json()["id"] == answers[1].json()["id"]
            other = await submitted(api, bob)
            assert other != answers[0].json()["id"]
            await awaiting(api, bob, other)
            cancelled = await api.client.post(f"/api/v1/runs/{other}/cancel", headers=bob.bearer)
            assert cancelled.status_code == 202, cancelled.text


async def test_four_eyes_keeps_a_requester_from_approving_their_own_run(
    machine_dsn: str, tmp_path: Path
) -> None:
    options = ApiOptions(four_eyes=True)
    with anyio.fail_after(110):
        async with serving(machine_dsn, tmp_path, options, catalog=CATALOG) as api:
            carol, dave = await api.users.add("approve"), await api.users.add("approve")
            run_id = await submitted(api, carol)
            pending = await awaiting(api, carol, run_id)
            decision = {"decision": "approve", "plan_hash": pending["plan_hash"],
                        "revision": pending["revision"]}  # fmt: skip
            url = f"/api/v1/runs/{run_id}/decisions"
            own = await api.client.post(url, json=decision, headers=carol.bearer)
            assert_problem(own, 403, "four_eyes")
            other = await api.client.post(url, json=decision, headers=dave.bearer)
            assert other.status_code == 200, other.text
            assert other.json()["by"] == dave.name


async def test_run_submission_is_rate_limited(machine_dsn: str, tmp_path: Path) -> None:
    options = ApiOptions(submit_per_minute=2)
    with anyio.fail_after(110):
        async with serving(machine_dsn, tmp_path, options, catalog=CATALOG) as api:
            erin = await api.users.add("run")
            for _ in range(2):
                await submitted(api, erin)
            answer: httpx.Response = await api.client.post(
                "/api/v1/runs", json={"request": REQUEST}, headers=erin.bearer
            )
            assert_problem(answer, 429, "rate_limited")
            assert int(answer.headers["retry-after"]) >= 1
