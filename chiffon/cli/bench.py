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
    amqp = "amqp"
    api = "api"
    all = "all"


_DEFAULT_MESSAGES = {
    "local": 300_000, "ask": 50_000, "persisted": 100_000, "spawn": 100_000, "amqp": 8192,
    "api": 5000,
}  # fmt: skip
_DEFAULT_CONCURRENCY = {
    "local": 1, "ask": 1, "persisted": 256, "spawn": 1, "amqp": 64, "api": 8,
}  # fmt: skip
_DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
_ASKS_PER_TELL = 8
"""amqp: one ask round trip for this many tells (sequential round trips are slow)."""


def bench(
    scenario: Annotated[Scenario, typer.Argument(help="Which hot path to measure.")],
    messages: Annotated[
        int | None, typer.Option(help="Messages (actors, for spawn). Default per scenario.")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(help="Concurrent senders (default: 256 persisted, 64 amqp, else 1)."),
    ] = None,
    repeat: Annotated[int, typer.Option(help="Runs per scenario; the median is reported.")] = 1,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    runs: Annotated[int, typer.Option(help="api: runs in the database while listing.")] = 10_000,
    subscribers: Annotated[int, typer.Option(help="api: clients of one run's events.")] = 100,
    events: Annotated[int, typer.Option(help="api: events streamed (100 a second).")] = 300,
    starts: Annotated[int, typer.Option(help="api: timed starts of chiffon serve.")] = 3,
) -> None:
    """Measure Chiffon's hot paths against the raw libraries in the same run.

    Reports ours and the baseline (operations per second), their ratio, p50/p99 latency,
    and bytes per actor for spawn. persisted uses the embedded PostgreSQL unless
    CHIFFON_DATABASE_URL is set. amqp reports two results, amqp-tell and amqp-ask (an
    eighth as many round trips as tells), against CHIFFON_AMQP_URL (default: guest on
    127.0.0.1:5672); `all` includes it when that URL is set or the default broker answers.
    api reports api-runs (GET /api/v1/runs?limit=50 with --runs runs in the database, --messages
    requests from --concurrency clients), api-sse (one run's events to --subscribers clients:
    delivery lag) and api-ready (chiffon serve to /ready), each against a bare FastAPI/uvicorn
    app; it seeds the runs in the configured database and deletes them afterwards, so `all`
    leaves it out.
    """
    from chiffon.cli.runner import run

    names = [s.value for s in Scenario if s not in (Scenario.all, Scenario.api)]
    chosen = names if scenario is Scenario.all else [scenario.value]
    if scenario is Scenario.api:
        results = run(
            lambda: _api(
                messages, concurrency, max(1, repeat), runs, subscribers, events, max(1, starts)
            )
        )
        if json_output:
            from chiffon.bench.report import to_json

            for result in results:
                typer.echo(to_json(result))
            return
    else:
        results = run(
            lambda: _measure(
                chosen, messages, concurrency, max(1, repeat), json_output,
                scenario is Scenario.all,
            )
        )  # fmt: skip
    if not json_output:
        from chiffon.bench.report import to_table

        typer.echo(to_table(results))


async def _measure(
    chosen: list[str],
    messages: int | None,
    concurrency: int | None,
    repeat: int,
    json_output: bool,
    everything: bool,
) -> list[Result]:
    from chiffon.bench import scenarios
    from chiffon.bench.report import median_result, to_json
    from chiffon.settings import Settings

    settings = Settings.load()
    results: list[Result] = []
    for name in chosen:
        count = messages or _DEFAULT_MESSAGES[name]
        senders = concurrency or _DEFAULT_CONCURRENCY[name]
        if name == "amqp":
            for result in await _amqp(settings, count, senders, repeat, everything):
                results.append(result)
                if json_output:
                    typer.echo(to_json(result))
            continue
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


async def _api(
    messages: int | None,
    concurrency: int | None,
    repeat: int,
    runs: int,
    subscribers: int,
    events: int,
    starts: int,
) -> list[Result]:
    from chiffon.bench.api import api
    from chiffon.logs import configure_logging
    from chiffon.settings import Settings

    settings = Settings.load()
    level = settings.log_level if "log_level" in settings.model_fields_set else "warning"
    configure_logging(level, settings.log_format)  # the system's notes go to stderr, quietly
    return await api(
        settings, requests=messages or _DEFAULT_MESSAGES["api"],
        connections=concurrency or _DEFAULT_CONCURRENCY["api"], runs=runs,
        subscribers=subscribers, events=events, starts=starts, repeat=repeat,
    )  # fmt: skip


async def _persisted(settings: Settings, count: int, senders: int) -> Result:
    from chiffon.assembly import store_for
    from chiffon.bench import scenarios

    async with store_for(settings) as store:
        return await scenarios.persisted(
            count, senders, settings.mailbox_capacity, store, settings.journal_batch_size
        )


async def _amqp(
    settings: Settings, count: int, senders: int, repeat: int, optional: bool
) -> list[Result]:
    """amqp-tell and amqp-ask, each the median of ``repeat`` runs. ``optional`` (under
    ``all``): nothing, with a note, when no broker is configured and none answers on the
    default address."""
    import logging

    from chiffon.assembly.broker import ssl_context
    from chiffon.bench.amqp import amqp, broker_reachable
    from chiffon.bench.report import median_result
    from chiffon.bridge.errors import BrokerUnavailable
    from chiffon.errors import ConfigError
    from chiffon.logs import configure_logging

    level = settings.log_level if "log_level" in settings.model_fields_set else "warning"
    configure_logging(level, settings.log_format)  # the bridges' notes go to stderr, quietly
    # A failed connection is reported once, as the sentence below, not also by aiormq's log.
    logging.getLogger("aiormq.connection").setLevel(logging.CRITICAL)
    configured = settings.amqp_url is not None
    url = settings.amqp_url.get_secret_value() if settings.amqp_url else _DEFAULT_AMQP_URL
    if optional and not configured and not broker_reachable(url):
        typer.echo("amqp: skipped (no CHIFFON_AMQP_URL, and no broker on 127.0.0.1:5672)", err=True)
        return []
    tells: list[Result] = []
    asks: list[Result] = []
    try:
        for _ in range(repeat):
            tell, ask = await amqp(
                url, count, max(1, count // _ASKS_PER_TELL), senders,
                settings.mailbox_capacity, ssl_context=ssl_context(settings),
            )  # fmt: skip
            tells.append(tell)
            asks.append(ask)
    except BrokerUnavailable as exc:
        raise ConfigError(str(exc)) from None
    return [median_result(tells), median_result(asks)]
