"""``/metrics``: Prometheus text through ``prometheus-client``.

Figures of the record (runs by state, run and step durations, approvals waiting, dead letters
by code, model calls and cost) come from ``Runs.statistics`` at each scrape; figures of this
process (journal commits and batch sizes, mailbox depths, the bridge's publishes, confirms and
redeliveries) from the live objects. Each scrape builds its own registry from one snapshot,
so a scrape never sees half of one update and half of the next. Authenticated (``read``)
unless ``chiffon serve --metrics-public``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from chiffon.access import InsufficientScope
from chiffon.api.auth import authenticate, bearer_scheme, cookie_scheme
from chiffon.api.context import ApiContext, context
from chiffon.audit.statistics import Durations, RecordStatistics

router = APIRouter(tags=["health"])


class _Snapshot:
    """A prometheus-client collector over figures gathered beforehand."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                     "description": "Prometheus text exposition format"}},
)  # fmt: skip
async def metrics(
    request: Request,
    ctx: Annotated[ApiContext, Depends(context)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Response:
    if not ctx.options.metrics_public:
        principal = await authenticate(request, ctx, bearer, cookie)
        if not principal.allows("read"):
            raise InsufficientScope(principal.user, "read")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(await gather(ctx)))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def gather(ctx: ApiContext) -> list[Metric]:
    system = ctx.system
    found: list[Metric] = [*_record(await system.runs.statistics())]
    journal_statistics = getattr(system.journal, "statistics", None)  # PostgreSQL's journal
    if journal_statistics is not None:
        found.extend(_journal(journal_statistics()))
    found.extend(_mailboxes(system))
    bridge = system.bridge_statistics()
    if bridge is not None:
        found.extend(_bridge(bridge))
    return found


def _record(stats: RecordStatistics) -> Iterator[Metric]:
    runs = GaugeMetricFamily("chiffon_runs", "Runs by state.", labels=["status"])
    for status, count in sorted(stats.runs_by_status.items()):
        runs.add_metric([status], count)
    yield runs
    yield GaugeMetricFamily(
        "chiffon_approvals_waiting", "Runs whose plan awaits a decision.",
        value=stats.runs_by_status.get("awaiting_approval", 0),
    )  # fmt: skip
    yield _histogram("chiffon_run_duration_seconds", "Finished runs, received to end.",
                     stats.run_durations)  # fmt: skip
    yield _histogram("chiffon_step_duration_seconds", "Finished step attempts, start to end.",
                     stats.step_durations)  # fmt: skip
    dead = CounterMetricFamily(
        "chiffon_dead_letters", "Messages refused, by code.", labels=["code"]
    )
    for code, count in sorted(stats.dead_letters_by_code.items()):
        dead.add_metric([code], count)
    yield dead
    calls = CounterMetricFamily("chiffon_model_calls", "Model calls.", labels=["model", "ok"])
    cost = CounterMetricFamily("chiffon_model_cost_usd", "Model spending.", labels=["model"])
    spent: dict[str, float] = {}
    for (model, ok), (count, usd) in sorted(stats.model_calls.items()):
        calls.add_metric([model, str(ok).lower()], count)
        spent[model] = spent.get(model, 0.0) + usd
    for model, usd in sorted(spent.items()):
        cost.add_metric([model], usd)
    yield calls
    yield cost


def _histogram(name: str, documentation: str, durations: Durations) -> Metric:
    buckets: list[tuple[str, float]] = [
        (repr(bound), count)
        for bound, count in zip(durations.bounds, durations.buckets, strict=True)
    ]
    buckets.append(("+Inf", durations.count))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=durations.total_s)


def _journal(stats: Any) -> Iterator[Metric]:
    yield SummaryMetricFamily(
        "chiffon_journal_commit_seconds", "Journal batch commits: count and time spent.",
        count_value=stats.batches, sum_value=stats.commit_seconds,
    )  # fmt: skip
    yield SummaryMetricFamily(
        "chiffon_journal_batch_records", "Records per committed batch: count and sum.",
        count_value=stats.batches, sum_value=stats.records,
    )  # fmt: skip
    yield CounterMetricFamily(
        "chiffon_journal_failed_batches", "Batches that failed to commit.",
        value=stats.failed_batches,
    )  # fmt: skip
    yield CounterMetricFamily(
        "chiffon_journal_dropped_records", "Async records given up.", value=stats.dropped
    )
    yield GaugeMetricFamily("chiffon_journal_pending", "Records queued now.", value=stats.pending)


def _mailboxes(system: Any) -> Iterator[Metric]:
    depth = GaugeMetricFamily("chiffon_mailbox_depth", "Messages waiting.", labels=["actor"])
    high = GaugeMetricFamily(
        "chiffon_mailbox_high_water", "Most messages ever waiting at once.", labels=["actor"]
    )
    capacity = GaugeMetricFamily("chiffon_mailbox_capacity", "Mailbox size.", labels=["actor"])
    for ref in system.actors.actors:
        stats = ref.statistics()
        depth.add_metric([ref.name], stats.depth)
        high.add_metric([ref.name], stats.high_water)
        capacity.add_metric([ref.name], stats.capacity)
    yield depth
    yield high
    yield capacity


def _bridge(counters: dict[str, int]) -> Iterator[Metric]:
    described = {
        "received": "AMQP messages received.",
        "delivered": "Envelopes delivered to local actors.",
        "duplicates": "Redelivered or retried envelopes dropped as already processed.",
        "dead_lettered": "Messages refused and dead-lettered.",
        "answered": "Asks from remote actors answered.",
        "confirmed_messages": "AMQP messages published and confirmed by the broker.",
        "confirmed_envelopes": "Envelopes in those messages.",
    }
    for name, documentation in described.items():
        yield CounterMetricFamily(f"chiffon_bridge_{name}", documentation, value=counters[name])
