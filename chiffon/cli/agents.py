"""``chiffon agents``: the agents the orchestrators know, from the ``agents`` table.

Asks the application layer over the store ``Settings`` describe (the embedded server when
``CHIFFON_DATABASE_URL`` is unset), like ``chiffon audit``. Everything heavy is imported
inside the command.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from chiffon.agents.store import AgentRecord
    from chiffon.runs import Runs

STALE_AFTER = 2
"""Heartbeat intervals after which an agent still recorded online is shown as stale (no
registry is watching it: no orchestrator runs)."""


def agents(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """List agents: status, last heartbeat, capabilities and resources (CPU, memory, GPU)."""
    from chiffon.cli.runner import with_runs

    async def ask(runs: Runs) -> Sequence[AgentRecord]:
        return await runs.agents()

    found: list[AgentRecord] = list(with_runs(ask))
    now = dt.datetime.now(dt.UTC)
    if json_output:
        import json

        typer.echo(json.dumps([_json(a, now) for a in found], indent=2, ensure_ascii=False))
        return
    _table(found, now)


def _age(record: AgentRecord, now: dt.datetime) -> float:
    return max((now - record.last_heartbeat_at).total_seconds(), 0.0)


def _stale(record: AgentRecord, now: dt.datetime) -> bool:
    return record.status == "online" and _age(record, now) > (
        STALE_AFTER * record.heartbeat_interval_s
    )


def _json(record: AgentRecord, now: dt.datetime) -> dict[str, Any]:
    return {
        "name": record.name,
        "kind": record.kind,
        "status": record.status,
        "stale": _stale(record, now),
        "version": record.version,
        "address": record.address,
        "capabilities": list(record.capabilities),
        "last_heartbeat_at": record.last_heartbeat_at.isoformat(),
        "last_heartbeat_age_s": round(_age(record, now), 1),
        "heartbeat_interval_s": record.heartbeat_interval_s,
        "announced_at": record.announced_at.isoformat(),
        "offline_at": None if record.offline_at is None else record.offline_at.isoformat(),
        "offline_reason": record.offline_reason,
        "resources": None if record.resources is None else record.resources.model_dump(mode="json"),
    }


def _table(found: list[AgentRecord], now: dt.datetime) -> None:
    from rich.table import Table

    from chiffon.cli.console import make_console

    console = make_console(highlight=False, soft_wrap=False, markup=False, emoji=False)
    if not console.is_terminal:
        console.width = max(console.width, 160)
    if not found:
        console.print("no agent has announced itself yet")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("agent", "kind", "status", "last heartbeat", "capabilities", "CPU", "memory"):
        table.add_column(name, no_wrap=True)
    table.add_column("GPU", overflow="fold")
    for record in found:
        status = record.status + (" (stale)" if _stale(record, now) else "")
        sample = record.resources
        cpu = memory = gpu = "-"
        if sample is not None:
            cpu = (
                f"{sample.cpu_count} cores, {sample.cpu_percent:.0f}% busy, load {sample.load_1m:g}"
            )
            memory = f"{_gib(sample.memory_available_mb)} of {_gib(sample.memory_total_mb)} free"
            gpu = "; ".join(
                f"{g.name}: {_gib(g.vram_free_mb)} of {_gib(g.vram_total_mb)} VRAM free, "
                f"{g.utilisation_percent:.0f}% busy"
                for g in sample.gpus
            ) or (sample.gpu_note or "none")
        table.add_row(
            record.name, record.kind, status, _ago(_age(record, now)),
            ", ".join(record.capabilities) or "-", cpu, memory, gpu,
        )  # fmt: skip
    console.print(table)


def _gib(mb: int) -> str:
    return f"{mb / 1024:.1f} GiB"


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"
