"""``chiffon bench api``: the HTTP API under load, next to a bare FastAPI/uvicorn app doing the
same in the same run.

- ``api-runs``: ``GET /api/v1/runs?limit=50`` with ``runs`` runs in the database (seeded for
  the bench and deleted afterwards), from ``connections`` keep-alive clients: requests a
  second and latency. Ours is ``create_app`` over a started ``System`` (what ``chiffon
  serve`` runs), authenticated by a bearer token; the baseline the listing's query through
  raw asyncpg in a bare FastAPI route (``chiffon.bench.api_baseline``). Target: ≥ 500/s with
  p99 ≤ 50 ms.
- ``api-sse``: one run's events, written through the run's ``EventLog`` at ``rate`` a second
  as the process driving a run writes its output, streamed to ``subscribers`` clients at
  once: delivery lag from the write to each client. The baseline broadcasts the same events
  from memory through a bare ``StreamingResponse``. Target: p99 ≤ 100 ms.
- ``api-ready``: ``chiffon serve`` started as a process, until ``/ready`` answers 200, on a
  warm home (one start first, untimed); the baseline is a bare uvicorn process answering its
  first request. Target: ≤ 2 s.

Both servers run in this process on loopback sockets, as ``chiffon serve`` runs its API in the
orchestrator's process; the load comes from another process (``chiffon.bench.load``), so
client and server do not share an event loop. Throughput figures are operations a second
(requests; deliveries; starts), latencies in microseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import secrets
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from chiffon.bench.report import Result, percentiles

if TYPE_CHECKING:
    from chiffon.assembly import System
    from chiffon.settings import Settings

RUNS_PATH = "/api/v1/runs?limit=50"
OUTPUT = "bench.output"
BENCH_USER = "chiffon-bench"
_READY_LINE = re.compile(r"ready on (https?)://([^/\s]+)/")
_MINIMAL_CATALOG = {
    "catalog.yml": (
        "version: 1\ninventory: inventory.yml\nentries:\n  - id: noop\n"
        "    playbook: playbooks/noop.yml\n    description: Nothing, for the API bench.\n"
        "    services: [noop]\n    hosts: lab\n"
    ),
    "inventory.yml": "all:\n  children:\n    lab:\n      hosts:\n        box:\n",
    "playbooks/noop.yml": "- hosts: all\n  gather_facts: false\n  tasks: []\n",
}


async def api(
    settings: Settings,
    *,
    runs: int = 10_000,
    requests: int = 5_000,
    connections: int = 8,
    subscribers: int = 100,
    events: int = 300,
    rate: float = 100.0,
    starts: int = 3,
    repeat: int = 1,
    catalog: Path | None = None,
) -> list[Result]:
    """The three figures, each scenario ``repeat`` times (the median is reported)."""
    from chiffon.bench.report import median_result

    with _catalog(catalog or settings.catalog) as root:
        ready = await ready_time(root, starts)
        listing: list[Result] = []
        fanout: list[Result] = []
        async with _served(settings, root, runs) as bench:
            for _ in range(repeat):
                listing.append(await bench.listing(requests, connections))
            for _ in range(repeat):
                fanout.append(await bench.fanout(subscribers, events, rate))
    return [median_result(listing), median_result(fanout), ready]


# -- the servers ---------------------------------------------------------------------------


class _Bench:
    """Ours and the baseline, serving on loopback, with the seeded runs and a token."""

    def __init__(
        self, system: System, ours: tuple[str, int], bare: tuple[str, int], token: str,
        bare_subscribers: Any, seeded: int, stream_run: uuid.UUID,
    ) -> None:  # fmt: skip
        self.system = system
        self.ours = ours
        self.bare = bare
        self.token = token
        self.bare_subscribers = bare_subscribers
        self.seeded = seeded
        self.stream_run = stream_run

    async def listing(self, requests: int, connections: int) -> Result:
        warmup = max(50, requests // 20)
        job = {"mode": "get", "path": RUNS_PATH, "requests": requests,
               "connections": connections, "warmup": warmup}  # fmt: skip
        auth = {"Authorization": f"Bearer {self.token}"}
        cpu = time.process_time()
        mine = await _load({**job, "host": self.ours[0], "port": self.ours[1], "headers": auth})
        cpu, bare_cpu = time.process_time() - cpu, time.process_time()
        bare = await _load({**job, "host": self.bare[0], "port": self.bare[1]})
        bare_cpu = time.process_time() - bare_cpu
        timed = requests + warmup  # the server's CPU went to the warm-up too
        ours_rate = len(mine["latencies_ns"]) / mine["seconds"]
        bare_rate = len(bare["latencies_ns"]) / bare["seconds"]
        p50, p99 = percentiles(mine["latencies_ns"])
        _, bare_p99 = percentiles(bare["latencies_ns"])
        p99_ms = (p99 or 0.0) / 1000.0
        return Result(
            scenario="api-runs", messages=requests, concurrency=connections,
            seconds=mine["seconds"], ours=ours_rate, baseline=bare_rate,
            baseline_seconds=bare["seconds"], p50_us=p50, p99_us=p99,
            extra={
                "runs_in_database": self.seeded, "path": RUNS_PATH,
                "p99_ms": round(p99_ms, 2),
                "baseline_p99_ms": round((bare_p99 or 0.0) / 1000.0, 2),
                "not_ok": mine["not_ok"], "baseline_not_ok": bare["not_ok"],
                "server_cpu_us_per_request": round(cpu / timed * 1e6, 1),
                "baseline_cpu_us_per_request": round(bare_cpu / timed * 1e6, 1),
                "target": "≥ 500 requests/s with p99 ≤ 50 ms",
                "meets": ours_rate >= 500 and p99_ms <= 50 and not mine["not_ok"],
            },
        )  # fmt: skip

    async def fanout(self, subscribers: int, events: int, rate: float) -> Result:
        log = self.system.runs.log
        run_id = self.stream_run
        after = await self.system.runs.last_event(run_id)

        async def ours(seq: int, data: dict[str, Any]) -> None:
            await log.append(run_id, OUTPUT, data)

        async def bare(seq: int, data: dict[str, Any]) -> None:
            self.bare_subscribers.broadcast(seq, OUTPUT, data)

        job = {"mode": "sse", "subscribers": subscribers, "events": events, "kind": OUTPUT}
        path = f"/api/v1/runs/{run_id}/events?after={after}"
        auth = {"Authorization": f"Bearer {self.token}"}
        start, cpu = time.perf_counter(), time.process_time()
        mine = await _stream(
            {**job, "host": self.ours[0], "port": self.ours[1], "path": path, "headers": auth},
            ours, events, rate,
        )  # fmt: skip
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        start, bare_cpu = time.perf_counter(), time.process_time()
        theirs = await _stream(
            {**job, "host": self.bare[0], "port": self.bare[1], "path": "/events"},
            bare, events, rate,
        )  # fmt: skip
        bare_seconds, bare_cpu = time.perf_counter() - start, time.process_time() - bare_cpu
        lags = [int(lag * 1e9) for lag in mine["lags_s"]]
        bare_lags = [int(lag * 1e9) for lag in theirs["lags_s"]]
        p50, p99 = percentiles(lags)
        _, bare_p99 = percentiles(bare_lags)
        p99_ms = (p99 or 0.0) / 1000.0
        expected = subscribers * events
        return Result(
            scenario="api-sse", messages=expected, concurrency=subscribers, seconds=seconds,
            ours=len(lags) / seconds, baseline=len(bare_lags) / bare_seconds,
            baseline_seconds=bare_seconds, p50_us=p50, p99_us=p99,
            extra={
                "events": events, "rate_per_s": rate, "subscribers": subscribers,
                "delivered": len(lags), "baseline_delivered": len(bare_lags),
                "lag_p99_ms": round(p99_ms, 2),
                "lag_max_ms": round(max(lags, default=0) / 1e6, 2),
                "baseline_lag_p99_ms": round((bare_p99 or 0.0) / 1000.0, 2),
                "problems": mine["problems"] + theirs["problems"],
                "server_cpu_us_per_delivery": round(cpu / expected * 1e6, 1),
                "baseline_cpu_us_per_delivery": round(bare_cpu / expected * 1e6, 1),
                "target": "delivery lag p99 ≤ 100 ms",
                "meets": p99_ms <= 100 and len(lags) == expected and not mine["problems"],
            },
        )  # fmt: skip


@contextlib.asynccontextmanager
async def _served(settings: Settings, catalog: Path, count: int) -> AsyncIterator[_Bench]:
    """A started ``System`` with ``create_app`` on a loopback socket (``chiffon serve``'s
    arrangement) and the bare app on another, with ``count`` seeded runs and a token."""
    import asyncpg
    import uvicorn

    from chiffon.access import Access
    from chiffon.api.app import create_app
    from chiffon.api.server import HttpServer
    from chiffon.assembly import System
    from chiffon.bench.api_baseline import bare_app

    marker = f"{BENCH_USER}-{secrets.token_hex(4)}"
    async with System(settings, configure_logs=False, catalog=catalog) as system:
        access = Access(system.database)
        await access.add_user(marker, secrets.token_urlsafe(24), scope="read")
        try:
            _, token = await access.create_token(marker, "read")
            stream_run = await _seed(system, marker, count)
            pool = await asyncpg.create_pool(system.dsn, min_size=1,
                                             max_size=settings.journal_pool_size)  # fmt: skip
            try:
                app = create_app(system)
                ours = HttpServer("127.0.0.1", 0)
                ours_at = ours.bind()
                bare, subscribers = bare_app(pool)
                bare_server = uvicorn.Server(
                    uvicorn.Config(bare, log_config=None, access_log=False, lifespan="off")
                )
                bare_listener = _listener()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(ours.serve, app)
                    tg.start_soon(_serve_bare, bare_server, bare_listener)
                    try:
                        yield _Bench(
                            system, ours_at, bare_listener.getsockname(), token, subscribers,
                            count, stream_run,
                        )  # fmt: skip
                    finally:
                        app.state.chiffon.stop.set()
                        ours.stop()
                        bare_server.should_exit = True
            finally:
                await pool.close()
        finally:
            await _unseed(system, marker)


async def _serve_bare(server: Any, listener: Any) -> None:
    server.capture_signals = contextlib.nullcontext  # this process's signals stay its own
    await server.serve(sockets=[listener])


def _listener() -> Any:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(2048)
    listener.setblocking(False)
    return listener


async def _seed(system: System, marker: str, count: int) -> uuid.UUID:
    """``count`` finished runs of the last six days, each with its plan, requested by
    ``marker``; and one more, running and owned by this process, whose events are streamed.
    Answers the streamed run's id."""
    from sqlalchemy import insert

    from chiffon.ownership import this_process
    from chiffon.run_records import plans, runs

    now = dt.datetime.now(dt.UTC)
    services = ("uptime-kuma", "pihole", "grafana", "jellyfin", "traefik")
    step_hosts = ("nas-1", "pi-1", "media", "edge")
    batch = 1000
    for first in range(0, count, batch):
        rows, plan_rows = [], []
        for n in range(first, min(count, first + batch)):
            run_id = uuid.uuid4()
            at = now - dt.timedelta(days=6) * (n + 1) / count
            service, host = services[n % len(services)], step_hosts[n % len(step_hosts)]
            status = "failed" if n % 17 == 0 else "succeeded"
            rows.append(
                {"id": run_id, "request": f"Deploy {service} on {host} ({n})",
                 "requested_by": marker, "status": status, "version": 5, "planner": "catalog",
                 "budget_usd": 0.5, "revision": 1, "plan_hash": f"sha256:{n:064x}",
                 "services": [service], "created_at": at, "updated_at": at, "finished_at": at,
                 "reason": "step failed" if status == "failed" else None}
            )  # fmt: skip
            plan = {"steps": [{"playbook": service, "hosts": [host], "variables": {"port": 3001},
                               "reason": f"{service} runs on {host}"}],
                    "summary": f"Deploy {service} on {host}", "risk": "low",
                    "confidence": 0.9, "planner": "catalog"}  # fmt: skip
            plan_rows.append(
                {"run_id": run_id, "revision": 1, "plan": plan,
                 "plan_hash": f"sha256:{n:064x}", "created_at": at}
            )  # fmt: skip
        await system.database.execute(insert(runs).values(rows))
        await system.database.execute(insert(plans).values(plan_rows))
    stream_run = uuid.uuid4()
    await system.database.execute(
        insert(runs).values(
            id=stream_run, request="Stream output for the API bench", requested_by=marker,
            status="running", version=1, planner="catalog", budget_usd=0.5,
            owner=this_process(), created_at=now - dt.timedelta(days=7), updated_at=now,
        )
    )  # fmt: skip
    return stream_run


async def _unseed(system: System, marker: str) -> None:
    from sqlalchemy import delete

    from chiffon.access.tables import users
    from chiffon.run_records import runs

    await system.database.execute(delete(runs).where(runs.c.requested_by == marker))
    await system.database.execute(delete(users).where(users.c.name == marker))


# -- the load, from another process --------------------------------------------------------


async def _load(job: dict[str, Any]) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chiffon.bench.load", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate((json.dumps(job) + "\n").encode())
    if process.returncode != 0:
        raise RuntimeError(f"the load generator failed (exit {process.returncode})")
    found: dict[str, Any] = json.loads(out)
    return found


async def _stream(
    job: dict[str, Any],
    write: Callable[[int, dict[str, Any]], Awaitable[None]],
    events: int,
    rate: float,
) -> dict[str, Any]:
    """Open the subscribers (another process), then write ``events`` at ``rate`` a second,
    each stamped with the time it was written; the subscribers' figures."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chiffon.bench.load", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdin.write((json.dumps(job) + "\n").encode())
    await process.stdin.drain()
    process.stdin.close()
    with anyio.fail_after(60):
        opened = await process.stderr.readline()
    if opened.strip() != b"open":
        process.kill()
        raise RuntimeError(f"the subscribers did not open: {opened.decode().strip()}")
    await anyio.sleep(0.2)  # each stream past its first read of the store
    line = "TASK [uptime-kuma : start the container] changed: [nas-1]"
    start = time.perf_counter()
    for seq in range(1, events + 1):
        await write(seq, {"sent": time.time(), "line": line, "n": seq})
        delay = start + seq / rate - time.perf_counter()
        if delay > 0:
            await anyio.sleep(delay)
    with anyio.fail_after(120):
        out = await process.stdout.read()
        await process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"the subscribers failed (exit {process.returncode})")
    found: dict[str, Any] = json.loads(out)
    return found


# -- start-up ------------------------------------------------------------------------------


async def ready_time(catalog: Path, starts: int) -> Result:
    """``chiffon serve`` to ``/ready`` answering 200, ``starts`` times after an untimed one;
    a bare uvicorn process to its first answer likewise."""
    serve = [sys.executable, "-m", "chiffon", "serve", "--catalog", str(catalog),
             "--listen", "127.0.0.1:0"]  # fmt: skip
    bare = [sys.executable, "-m", "chiffon.bench.api_baseline"]
    await _start(serve, _serve_port)  # warms the home: migrations, embedded server, caches
    ours = [await _start(serve, _serve_port) for _ in range(starts)]
    await _start(bare, _bare_port)
    theirs = [await _start(bare, _bare_port) for _ in range(starts)]
    seconds = statistics.median(s for s, _ in ours)
    bare_seconds = statistics.median(s for s, _ in theirs)
    return Result(
        scenario="api-ready", messages=starts, concurrency=1, seconds=seconds,
        ours=1.0 / seconds, baseline=1.0 / bare_seconds, baseline_seconds=bare_seconds,
        p50_us=None, p99_us=None,
        extra={
            "ready_s": round(seconds, 3), "ready_s_each": [round(s, 3) for s, _ in ours],
            "ready_cpu_s": round(statistics.median(c for _, c in ours), 3),
            "baseline_ready_s": round(bare_seconds, 3),
            "baseline_ready_cpu_s": round(statistics.median(c for _, c in theirs), 3),
            "target": "chiffon serve to /ready ≤ 2 s on a warm home", "meets": seconds <= 2.0,
        },
    )  # fmt: skip


async def _serve_port(process: asyncio.subprocess.Process) -> int:
    assert process.stderr is not None
    while True:
        line = (await process.stderr.readline()).decode()
        if not line:
            raise RuntimeError("chiffon serve stopped before it was ready")
        match = _READY_LINE.search(line)
        if match:
            return int(match.group(2).rsplit(":", 1)[1])


async def _bare_port(process: asyncio.subprocess.Process) -> int:
    assert process.stdout is not None
    return int(await process.stdout.readline())


async def _start(
    argv: list[str], port_of: Callable[[asyncio.subprocess.Process], Awaitable[int]]
) -> tuple[float, float]:
    """Seconds from starting ``argv`` until ``GET /ready`` answers 200, and the CPU seconds
    the process had used by then; then SIGTERM."""
    import psutil

    start = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "CHIFFON_LOG_LEVEL": os.environ.get("CHIFFON_LOG_LEVEL", "warning")},
    )  # fmt: skip
    try:
        with anyio.fail_after(120):
            port = await port_of(process)
            while not await _answers_ready(port):  # noqa: ASYNC110 (polling another process)
                await anyio.sleep(0.005)
        seconds = time.perf_counter() - start
        used = psutil.Process(process.pid).cpu_times()
        return seconds, used.user + used.system
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        with anyio.move_on_after(30):
            await process.communicate()
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _answers_ready(port: int) -> bool:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        writer.write(f"GET /ready HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n")
    except (OSError, asyncio.IncompleteReadError):
        return False
    finally:
        writer.close()
    return b" 200 " in head


@contextlib.contextmanager
def _catalog(configured: Path | None) -> Any:
    """The catalog to serve: the configured one, else a one-entry catalog made for the bench."""
    if configured is not None:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="chiffon-bench-catalog-") as made:
        for name, text in _MINIMAL_CATALOG.items():
            path = Path(made) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        yield Path(made)
