"""Following a run to its end while an ``Approver`` answers its proposals: ``System.run``,
``System.resume`` and ``chiffon run``.

The approver is one channel among others. On each ``plan.proposed`` it is asked (while the
run's events go on being followed); its verdict becomes a decision of ``by``. A decision
made elsewhere first (``chiffon approve`` in another terminal, the API) wins: the ``decision``
event stops the approver at once — a terminal prompt stops waiting — and the run goes on, or
ends, as that decision says.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from chiffon.errors import ChiffonError
from chiffon.orchestrator.approval import Approver
from chiffon.orchestrator.events import FINISHED, RunEvent
from chiffon.protocol import RunFinished
from chiffon.runs.handle import RunHandle
from chiffon.runs.identity import Identity

log = structlog.get_logger("chiffon.runs")

Listener = Callable[[RunEvent], None]
"""Called with each event of the run, in order; it must not block. An exception it raises is
logged and the listener dropped."""


async def drive(
    handle: RunHandle,
    approver: Approver,
    by: Identity,
    *,
    listener: Listener | None = None,
    after: int | None = None,
) -> RunFinished:
    """Follow ``handle`` from event ``after`` to its end, asking ``approver`` on each
    proposal, and return how it ended. An exception the approver raises is raised here."""
    me = asyncio.current_task()
    failed: list[BaseException] = []
    asking: asyncio.Task[None] | None = None

    async def ask(event: RunEvent) -> None:
        proposal = event.proposal()
        verdict = await approver.decide(proposal)
        if verdict is None:
            return  # no answer: the run expires the proposal on its own
        try:
            await handle.decide(
                verdict.decision, plan_hash=proposal.plan_hash, revision=proposal.revision,
                by=by, feedback=verdict.feedback,
            )  # fmt: skip
        except ChiffonError as exc:  # decided elsewhere first, or expired: its event tells
            log.info("decision refused", run_id=str(handle.id), reason=str(exc))

    def done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and me is not None:
            failed.append(task.exception())  # type: ignore[arg-type]
            me.cancel()

    def stop_asking() -> None:
        if asking is not None and not asking.done():
            asking.cancel()

    try:
        async for event in handle.events(after=after):
            if listener is not None:
                try:
                    listener(event)
                except Exception:
                    log.exception("run listener failed; dropped", run_id=str(handle.id))
                    listener = None
            if event.kind == "plan.proposed":
                stop_asking()
                asking = asyncio.create_task(ask(event))
                asking.add_done_callback(done)
            elif event.kind in ("decision", FINISHED):
                stop_asking()
            if event.kind == FINISHED:
                return event.finished()
    except asyncio.CancelledError:
        if failed:
            raise failed[0] from None
        raise
    finally:
        stop_asking()
    return await handle.result()
