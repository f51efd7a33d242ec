"""Supervision: a child that keeps crashing is restarted with exponential backoff, then gives
up, and the failure travels up to the root, which ends the system.

    uv run python examples/supervision.py

Every actor has a parent, and the parent's ``supervisor_strategy`` says what happens when a
child's handler raises: resume, restart, stop or escalate. Restarts are limited (here: three
within a minute) and spaced out (here: 0.05 s, doubling). One restart too many and the child
escalates: its parent fails with ``Escalated``, and its own parent decides in turn.
"""

from __future__ import annotations

import anyio

from chiffon.actors import (
    Actor,
    ActorSystem,
    Directive,
    Escalated,
    LocalRef,
    MonotonicClock,
    OneForOne,
    handler,
)


class Crash:
    pass


class StartWorker:
    pass


class AnnouncingClock(MonotonicClock):
    """The real clock, saying out loud how long each restart waits."""

    async def sleep(self, seconds: float) -> None:
        print(f"supervisor: waiting {seconds:.2f} s before restarting the worker")
        await super().sleep(seconds)


class Worker(Actor):
    async def on_restart(self, cause: BaseException) -> None:
        # Runs on the *fresh* instance; the old one is gone, its mailbox is kept.
        print(f"worker: restarted after {cause!r}")

    @handler
    def crash(self, message: Crash) -> None:
        print("worker: crashing")
        raise RuntimeError("disk on fire")


class Supervisor(Actor):
    # How this actor treats its children's failures: restart the one that failed, at most
    # 3 times within 60 s, waiting 0.05 s, then 0.1 s, then 0.2 s (never more than 1 s).
    supervisor_strategy = OneForOne(
        decider=lambda exc: Directive.RESTART,
        max_restarts=3,
        within_s=60,
        backoff_min_s=0.05,
        backoff_max_s=1.0,
        clock=AnnouncingClock(),
    )

    @handler
    async def start_worker(self, message: StartWorker) -> LocalRef:
        return await self.context.spawn(Worker, name="worker")


async def main() -> None:
    # The root's own strategy: whatever reaches it escalates, which ends the system block.
    escalate_everything = OneForOne(decider=lambda exc: Directive.ESCALATE)
    try:
        async with ActorSystem(strategy=escalate_everything) as system:
            supervisor = await system.spawn(Supervisor, name="supervisor")
            worker = await supervisor.ask(StartWorker())
            for _ in range(4):  # queued messages survive restarts: each one is a new crash
                await worker.tell(Crash())
            await anyio.sleep_forever()  # until the escalation cancels this block
    except Escalated as failure:
        print(f"the system stopped: {failure}")
        cause: BaseException = failure
        while cause.__cause__ is not None:
            cause = cause.__cause__
        print(f"original cause: {cause!r}")


if __name__ == "__main__":
    anyio.run(main)
