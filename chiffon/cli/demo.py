"""``chiffon demo``: a small supervised actor workload on the real store, then what it left."""

from __future__ import annotations

from typing import Any

import typer


def demo() -> None:
    """Run a small supervised actor workload persisted to PostgreSQL and print what happened."""
    from chiffon.cli.runner import run

    run(_demo)


async def _demo() -> None:
    import time
    import uuid

    import sqlalchemy as sa

    from chiffon.assembly import System
    from chiffon.demo import SERVICES, RunChecks, Supervisor
    from chiffon.journal.schema import messages, transitions

    started = time.perf_counter()
    async with System() as system:
        typer.echo(f"database: {system.database_url}")
        supervisor = await system.spawn(Supervisor, system.journal, name="demo-supervisor")
        request = RunChecks(tuple(SERVICES))
        report: dict[str, Any] = await supervisor.ask(request, timeout=30)
        for line in report["failures"]:
            typer.echo(f"fault:   {line}")
        for result in report["results"]:
            typer.echo(
                f"checked: {result['service']:<15} port {result['port']:<5} by {result['worker']}"
            )
        await system.journal.flush()
        run_id = uuid.UUID(report["run"])
        counted = await system.database.fetch_one(
            sa.select(sa.func.count().label("n"))
            .select_from(messages)
            .where(sa.or_(messages.c.id == run_id, messages.c.correlation_id == run_id))
        )
        moves = await system.database.fetch(
            sa.select(transitions.c.entity_id, transitions.c.to_state).where(
                transitions.c.entity_kind == "job",
                transitions.c.entity_id.startswith(f"{run_id}/"),
            )
        )
        ended = [move["to_state"] for move in moves if move["to_state"] != "running"]
        typer.echo(f"journal: {counted['n'] if counted else 0} messages in this run, committed")
        typer.echo(
            f"journal: {len(moves)} job transitions; {ended.count('succeeded')} jobs succeeded, "
            f"{ended.count('failed')} failed"
        )
        typer.echo(f"run:     {run_id}")
    typer.echo(f"done in {time.perf_counter() - started:.2f} s")
