"""``chiffon bench``: measure a hot path next to the raw library doing the same work."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from chiffon.bench.report import Result
    from chiffon.settings import Settings


class Scenario(enum.StrEnum):
    local = "local"
    ask = "ask"
    persisted = "persisted"
    spawn = "spawn"
    all = "all"


_DEFAULT_MESSAGES = {"local": 300_000, "ask": 50_000, "persisted": 100_000, "spawn": 100_000}
_DEFAULT_CONCURRENCY = {"local": 1, "ask": 1, "persisted": 256, "spawn": 1}


def bench(
    scenario: Annotated[Scenario, typer.Argument(help="Which hot path to measure.")],
    messages: Annotated[
        int | None, typer.Option(help="Messages (actors, for spawn). Default per scenario.")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Concurrent senders (default: 256 persisted, else 1).")
    ] = None,
    repeat: Annotated[int, typer.Option(help="Runs per scenario; the median is reported.")] = 1,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Measure Chiffon's hot paths against the raw libraries in the same run.

    Reports ours and the baseline (operations per second), their ratio, p50/p99 latency,
    and bytes per actor for spawn. persisted uses the embedded PostgreSQL unless
    CHIFFON_DATABASE_URL is set.
    """
    from chiffon.cli.runner import run

    names = [s.value for s in Scenario if s is not Scenario.all]
    chosen = names if scenario is Scenario.all else [scenario.value]
    results = run(lambda: _measure(chosen, messages, concurrency, max(1, repeat), json_output))
    if not json_output:
        from chiffon.bench.report import to_table

        typer.echo(to_table(results))


async def _measure(
    chosen: list[str],
    messages: int | None,
    concurrency: int | None,
    repeat: int,
    json_output: bool,
) -> list[Result]:
    from chiffon.bench import scenarios
    from chiffon.bench.report import median_result, to_json
    from chiffon.settings import Settings

    settings = Settings.load()
    results: list[Result] = []
    for name in chosen:
        count = messages or _DEFAULT_MESSAGES[name]
        senders = concurrency or _DEFAULT_CONCURRENCY[name]
        runs: list[Result] = []
        for _ in range(repeat):
            if name == "local":
                runs.append(await scenarios.local(count, senders, settings.mailbox_capacity))
            elif name == "ask":
                runs.append(await scenarios.ask(count, senders))
            elif name == "spawn":
                runs.append(await scenarios.spawn(count, settings.mailbox_capacity))
            else:
                runs.append(await _persisted(settings, count, senders))
        result = median_result(runs)
        results.append(result)
        if json_output:
            typer.echo(to_json(result))
    return results


async def _persisted(settings: Settings, count: int, senders: int) -> Result:
    from chiffon.assembly import store_for
    from chiffon.bench import scenarios

    async with store_for(settings) as store:
        return await scenarios.persisted(
            count, senders, settings.mailbox_capacity, store, settings.journal_batch_size
        )
