"""The audit queries against real PostgreSQL, over rows a test writes as the orchestrator
would: a succeeded run, a failed run with its failure record, an old run, three services."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

import pytest
from sqlalchemy import select

from chiffon.audit.failures import failures_of_run, recent_failures, record_failure
from chiffon.audit.queries import list_runs, run_timeline, service_changes
from chiffon.audit.tables import failures
from chiffon.orchestrator.errors import AmbiguousRunId, RunNotFound
from chiffon.orchestrator.run_ids import resolve_run_id
from chiffon.protocol import StepFailure
from tests.audit.seed import Seeded, Step, database, seed_run

FAILURE = StepFailure(
    host="nas",
    task="Start the container",
    error="port 3000 is already in use",
    output_tail="TASK [Start the container]\nfatal: [nas]: FAILED! port 3000 is already in use",
)


class World:
    """Three runs over services whose names are unique to the test."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.kuma = f"uptime-kuma-{tag}"
        self.grafana = f"grafana-{tag}"
        self.prometheus = f"prometheus-{tag}"
        self.succeeded: Seeded
        self.failed: Seeded
        self.old: Seeded


async def seed_world(dsn: str) -> World:
    world = World()
    async with database(dsn) as db:
        world.succeeded = await seed_run(
            db,
            request="Deploy Uptime Kuma and add the portals to its monitors",
            status="succeeded",
            services=[world.kuma],
            steps_=[Step("uptime-kuma", changed=4), Step("kuma-monitors", changed=2)],
            llm_costs=[0.0125, 0.0031],
        )
        world.failed = await seed_run(
            db,
            request="Install Grafana with the Prometheus node exporter",
            status="failed",
            services=[world.grafana, world.prometheus],
            steps_=[
                Step("node-exporter", changed=1, hosts=("nas", "pi")),
                Step("grafana", status="failed", changed=0, failure=FAILURE),
            ],
        )
        world.old = await seed_run(
            db,
            request="Deploy Uptime Kuma, a while ago",
            status="failed",
            services=[world.kuma],
            steps_=[Step("uptime-kuma", status="failed", changed=0)],
            created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=10),
        )
    return world


async def test_list_runs_filters_by_status_age_and_service(pg_dsn: str) -> None:
    w = await seed_world(pg_dsn)
    async with database(pg_dsn) as db:
        kuma = await list_runs(db, service=w.kuma)
        assert [r.id for r in kuma] == [w.succeeded.run_id, w.old.run_id]  # newest first
        recent = await list_runs(db, service=w.kuma, since=dt.timedelta(days=7))
        assert [r.id for r in recent] == [w.succeeded.run_id]
        failed = await list_runs(db, status="failed", service=w.kuma)
        assert [r.id for r in failed] == [w.old.run_id]
        either = await list_runs(db, status=["failed", "succeeded"], service=w.kuma, limit=1)
        assert [r.id for r in either] == [w.succeeded.run_id]
        grafana = await list_runs(db, service=w.grafana)
        assert [r.id for r in grafana] == [w.failed.run_id]
        assert grafana[0].services == (w.grafana, w.prometheus)
        assert grafana[0].status == "failed"
        assert grafana[0].reason == "a step failed"
        everything_failed_this_week = await list_runs(
            db, status="failed", since=dt.timedelta(weeks=1), limit=10_000
        )
        ids = {r.id for r in everything_failed_this_week}
        assert w.failed.run_id in ids
        assert w.old.run_id not in ids
        assert w.succeeded.run_id not in ids


async def test_run_timeline_merges_messages_and_transitions_in_time_order(pg_dsn: str) -> None:
    w = await seed_world(pg_dsn)
    async with database(pg_dsn) as db:
        timeline = await run_timeline(db, w.succeeded.run_id)
    assert timeline.run.id == w.succeeded.run_id
    assert timeline.run.status == "succeeded"
    assert [p.plan_hash for p in timeline.plans] == [w.succeeded.plan_hash]
    assert timeline.approval is not None
    assert timeline.approval.approver == "alice"
    assert [(s.position, s.playbook, s.status) for s in timeline.steps] == [
        (0, "uptime-kuma", "succeeded"),
        (1, "kuma-monitors", "succeeded"),
    ]
    assert timeline.steps[0].stats["nas"].changed == 4
    assert timeline.failures == ()
    assert timeline.llm_cost_usd == pytest.approx(0.0156)
    assert len(timeline.llm_calls) == 2

    times = [e.at for e in timeline.events]
    assert times == sorted(times)
    messages = [e.kind for e in timeline.events if e.source == "message"]
    assert messages == [
        "run.requested", "plan.proposed", "plan.decision",
        "step.execute", "step.result", "step.execute", "step.result", "run.finished",
    ]  # fmt: skip
    assert timeline.output_events == 2  # counted, not listed
    run_states = [e.to_state for e in timeline.events if e.entity == "run"]
    assert run_states == [
        "received", "planning", "awaiting_approval", "approved", "running", "succeeded",
    ]  # fmt: skip
    first_step = [e.to_state for e in timeline.events if e.entity == "step 1 uptime-kuma a1"]
    assert first_step == ["pending", "dispatched", "running", "succeeded"]
    # A transition comes after the message that caused it.
    position = {e.message_id: n for n, e in enumerate(timeline.events) if e.source == "message"}
    for n, event in enumerate(timeline.events):
        if event.source == "transition" and event.message_id in position:
            assert position[event.message_id] < n
    decision = next(e for e in timeline.events if e.kind == "plan.decision")
    assert decision.summary == "approve by alice via terminal"
    assert decision.sender == "chiffon://local/orchestrator"

    async with database(pg_dsn) as db:
        with_output = await run_timeline(db, w.succeeded.run_id, output_lines=True)
    outputs = [e for e in with_output.events if e.kind == "step.output"]
    assert len(outputs) == 2
    assert outputs[0].summary == "nas Install: changed"


async def test_a_failed_run_shows_its_failure_record(pg_dsn: str) -> None:
    w = await seed_world(pg_dsn)
    async with database(pg_dsn) as db:
        timeline = await run_timeline(db, w.failed.run_id)
        recent = await recent_failures(db, since=dt.timedelta(days=1), service=w.prometheus)
        none_for_kuma = await recent_failures(db, since=dt.timedelta(days=1), service=w.kuma)
    (failure,) = timeline.failures
    assert failure.step_id == w.failed.step_ids[1]
    assert (failure.playbook, failure.attempt) == ("grafana", 1)
    assert (failure.host, failure.task, failure.error) == (
        "nas", "Start the container", "port 3000 is already in use",
    )  # fmt: skip
    assert failure.output_tail.endswith("port 3000 is already in use")
    assert [f.id for f in recent] == [failure.id]
    assert none_for_kuma == []  # the old kuma failure has no failure row and is 10 days old
    results = [e.summary for e in timeline.events if e.kind == "step.result"]
    assert results == [
        "succeeded in 4.0 s; nas changed=1 failed=0, pi changed=1 failed=0",
        "failed in 4.0 s; nas changed=0 failed=1",
    ]


async def test_record_failure_stores_the_agents_failure_as_it_is(pg_dsn: str) -> None:
    w = await seed_world(pg_dsn)
    async with database(pg_dsn) as db:
        failure_id = await record_failure(
            db,
            run_id=w.old.run_id,
            step_id=w.old.step_ids[0],
            attempt=2,
            playbook="uptime-kuma",
            failure=StepFailure(error="unreachable", host="pi"),
        )
        (record,) = await failures_of_run(db, w.old.run_id)
        row = await db.fetch_one(select(failures.c.output_tail).where(failures.c.id == failure_id))
    assert record.id == failure_id
    assert failure_id.version == 7
    assert (record.attempt, record.host, record.task, record.error) == (
        2,
        "pi",
        None,
        "unreachable",
    )
    assert row is not None
    assert row["output_tail"] == ""


async def test_service_changes_lists_each_runs_steps_with_changes_per_host(pg_dsn: str) -> None:
    w = await seed_world(pg_dsn)
    async with database(pg_dsn) as db:
        kuma = await service_changes(db, w.kuma)
        recent = await service_changes(db, w.kuma, since=dt.timedelta(days=1))
        prometheus = await service_changes(db, w.prometheus)
        nothing = await service_changes(db, f"nothing-{secrets.token_hex(3)}")
    assert [c.run_id for c in kuma] == [w.succeeded.run_id, w.old.run_id]
    assert [c.run_id for c in recent] == [w.succeeded.run_id]
    assert [(s.playbook, s.status, s.changed) for s in kuma[0].steps] == [
        ("uptime-kuma", "succeeded", {"nas": 4}),
        ("kuma-monitors", "succeeded", {"nas": 2}),
    ]
    assert kuma[0].changed == 6
    (change,) = prometheus
    assert change.status == "failed"
    assert [(s.playbook, s.changed) for s in change.steps] == [
        ("node-exporter", {"nas": 1, "pi": 1}),
        ("grafana", {"nas": 0}),
    ]
    assert nothing == []


async def test_run_ids_resolve_from_a_unique_prefix_like_git(pg_dsn: str) -> None:
    w = await seed_world(pg_dsn)
    run_id = w.succeeded.run_id
    async with database(pg_dsn) as db:
        assert await resolve_run_id(db, run_id) == run_id
        assert await resolve_run_id(db, str(run_id)) == run_id
        assert await resolve_run_id(db, str(run_id).upper()) == run_id
        assert await resolve_run_id(db, run_id.hex[:28]) == run_id
        assert await resolve_run_id(db, str(run_id)[:30]) == run_id  # with a dash
        timeline = await run_timeline(db, run_id.hex[:28])
        assert timeline.run.id == run_id
        with pytest.raises(AmbiguousRunId, match="more than one run") as ambiguous:
            await resolve_run_id(db, "0")  # every UUIDv7 of this century starts with 0
        assert len(ambiguous.value.matches) == 5
        with pytest.raises(RunNotFound, match="no run id starts with"):
            await resolve_run_id(db, "f" * 20)
        with pytest.raises(RunNotFound, match="no run has the id"):
            await resolve_run_id(db, uuid.uuid4().hex)
        with pytest.raises(RunNotFound, match="is not a run id"):
            await resolve_run_id(db, "kuma")
