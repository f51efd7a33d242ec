"""The ``persisted`` scenario: sync-durability sends through the PostgreSQL journal.

``concurrency`` senders each ``await ref.tell(record)`` with ``Durability.SYNC``: a send
returns only after its row is committed, so throughput comes from group commit. The
baseline writes the very same rows with raw asyncpg ``copy_records_to_table``, one
transaction per ``batch_size`` rows, on one connection set up as the journal's are
(``use_row_codecs``): what the journal does with no actor, no waiting senders and no
batching decisions. Rows of both are deleted afterwards, so benchmarking does not grow the
user's database.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import anyio

from chiffon.actors import Actor, ActorSystem, Durability, Envelope, handler, new_id
from chiffon.actors.journal import encode_body
from chiffon.bench.report import Result, percentiles

KIND = "bench.record"


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    """A small command-sized message."""

    kind = KIND
    durability = Durability.SYNC
    sender: int
    n: int
    note: str = "deploy uptime-kuma to host nas-1"


class Sink(Actor):
    def __init__(self) -> None:
        self.count = 0

    @handler(Record)
    def record(self, _: Record) -> None:
        self.count += 1


async def _baseline(store: Any, records: list[Record], batch_size: int) -> float:
    import asyncpg

    from chiffon.journal.rows import MESSAGE_COLUMNS, message_row, use_row_codecs

    rows = [
        message_row(Envelope(new_id(), KIND, r, "chiffon://bench/sink"), encode_body(KIND, r))
        for r in records
    ]
    connection = await asyncpg.connect(store.dsn)
    try:
        await use_row_codecs(connection)  # as the journal's connections: the same encoding
        start = time.perf_counter()
        for i in range(0, len(rows), batch_size):
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "messages", records=rows[i : i + batch_size], columns=MESSAGE_COLUMNS
                )
        return time.perf_counter() - start
    finally:
        await connection.close()


async def _cleanup(store: Any) -> None:
    import asyncpg

    connection = await asyncpg.connect(store.dsn)
    try:
        await connection.execute("DELETE FROM messages WHERE kind = $1", KIND)
    finally:
        await connection.close()


async def persisted(
    messages: int, concurrency: int, capacity: int, store: Any, batch_size: int
) -> Result:
    # Exactly ``messages``: the remainder goes one each to the first senders (a whole share
    # each dropped 208 of 2,000 at 256 senders), and never more senders than messages.
    concurrency = max(1, min(concurrency, messages))
    share, extra = divmod(messages, concurrency)
    parts = [[Record(c, i) for i in range(share + (c < extra))] for c in range(concurrency)]
    records = [record for part in parts for record in part]
    total = len(records)
    try:
        baseline_s = await _baseline(store, records, batch_size)
        samples: list[int] = []
        clock = time.perf_counter_ns
        async with ActorSystem(journal=store.journal, mailbox_capacity=capacity) as system:
            ref = await system.spawn(Sink)

            async def send(part: list[Record]) -> None:
                for record in part:
                    t0 = clock()
                    await ref.tell(record)
                    samples.append(clock() - t0)

            start = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for part in parts:
                    tg.start_soon(send, part)
            seconds = time.perf_counter() - start
    finally:
        await _cleanup(store)
    p50, p99 = percentiles(samples)
    return Result(
        "persisted", total, concurrency, seconds, total / seconds, total / baseline_s,
        baseline_s, p50, p99,
        {"latency": "sync send, until committed", "batch_size": batch_size},
    )  # fmt: skip
