"""The demo workload behind ``chiffon demo``: a supervisor, three workers, one flaky service.

It shows the runtime end to end on the real store: sync-durability commands committed
before delivery, each job's state transitions committed with the message that caused them,
a worker crashing and being restarted by its supervisor, and everything read back from
PostgreSQL afterwards. The request pipeline replaces it as the README's main command.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from chiffon.actors import (
    Actor,
    Durability,
    LocalRef,
    OneForOne,
    Transition,
    handler,
)

SERVICES = {
    "uptime-kuma": 3001,
    "grafana": 3000,
    "prometheus": 9090,
    "pihole": 80,
    "home-assistant": 8123,
    "flaky-nas": 5000,
}


@dataclasses.dataclass(frozen=True, slots=True)
class CheckService:
    """Ask a worker to check one service. Committed before the worker sees it."""

    job_id: str
    service: str
    durability = Durability.SYNC


@dataclasses.dataclass(frozen=True, slots=True)
class RunChecks:
    """Ask the supervisor to check every service; answered with a report."""

    services: tuple[str, ...]
    durability = Durability.SYNC


class ServiceDown(Exception):
    """The demo's injected fault: the first check of ``flaky-nas`` crashes its worker."""


class Worker(Actor):
    """Checks services; records each job's transitions with the message that caused them."""

    crashed: ClassVar[set[str]] = set()  # outlives restarts: the fault fires once per service

    def __init__(self, journal: Any) -> None:
        self.journal = journal
        self.checked = 0

    @handler(CheckService)
    async def check(self, message: CheckService) -> dict[str, Any]:
        envelope = self.context.envelope
        assert envelope is not None
        await self.journal.append(
            envelope,
            [Transition("job", message.job_id, 1, "pending", "running", message_id=envelope.id)],
        )
        if message.service == "flaky-nas" and message.service not in Worker.crashed:
            Worker.crashed.add(message.service)
            raise ServiceDown(f"{message.service} did not answer")
        self.checked += 1
        port = SERVICES[message.service]
        await self.journal.append(
            envelope,
            [
                Transition(
                    "job", message.job_id, 2, "running", "succeeded",
                    reason=f"port {port} answered", message_id=envelope.id,
                )
            ],
        )  # fmt: skip
        return {"service": message.service, "port": port, "worker": self.context.self_ref.name}


class Supervisor(Actor):
    """Spreads checks over three workers; a crashed worker is restarted and the job retried."""

    supervisor_strategy = OneForOne(max_restarts=3, within_s=10, backoff_min_s=0.05)

    def __init__(self, journal: Any) -> None:
        self.journal = journal
        self.workers: list[LocalRef] = []

    async def on_start(self) -> None:
        for i in range(3):
            self.workers.append(
                await self.context.spawn(Worker, self.journal, name=f"worker-{i + 1}")
            )

    @handler(RunChecks)
    async def run_checks(self, message: RunChecks) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        failures: list[str] = []
        envelope = self.context.envelope
        assert envelope is not None
        for n, service in enumerate(message.services):
            worker = self.workers[n % len(self.workers)]
            job = f"{envelope.uuid}/{n + 1}"
            try:
                results.append(await worker.ask(CheckService(job, service)))
            except ServiceDown as exc:
                await self.journal.append(
                    envelope,
                    [Transition("job", job, 2, "running", "failed", reason=str(exc))],
                )
                failures.append(f"{job} {service}: {exc}; worker restarted, retrying")
                retry = f"{job}-retry"
                results.append(await worker.ask(CheckService(retry, service)))
        return {"run": str(envelope.uuid), "results": results, "failures": failures}
