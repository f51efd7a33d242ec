"""kill -9 in the middle of sync appends: every acknowledged message survives, none twice."""

from __future__ import annotations

import contextlib
import random
import signal
import sys
import uuid
from pathlib import Path

import anyio
import asyncpg
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

CHILD = Path(__file__).with_name("crash_child.py")
pytestmark = pytest.mark.slow


async def test_every_id_acknowledged_before_a_kill_9_is_stored_exactly_once(
    pg_dsn: str,
) -> None:
    target = random.randint(200, 2000)
    acknowledged: list[int] = []
    process = await anyio.open_process(
        [sys.executable, str(CHILD), pg_dsn], stderr=None, cwd=Path(__file__).parents[2]
    )
    async with process:
        assert process.stdout is not None
        lines = BufferedByteReceiveStream(process.stdout)
        try:
            with anyio.fail_after(60):
                while len(acknowledged) < target:
                    acknowledged.append(int(await lines.receive_until(b"\n", 64)))
        except (anyio.EndOfStream, anyio.IncompleteRead):
            pytest.fail(f"the child exited early with status {await process.wait()}")
        finally:
            process.send_signal(signal.SIGKILL)
            await process.wait()
        # Lines the child printed between our last read and the kill are acknowledged too.
        with contextlib.suppress(anyio.EndOfStream, anyio.IncompleteRead):
            while True:
                acknowledged.append(int(await lines.receive_until(b"\n", 64)))

    connection = await asyncpg.connect(pg_dsn)
    try:
        rows = await connection.fetch(
            "SELECT id, count(*) AS n FROM messages WHERE id = ANY($1::uuid[]) GROUP BY id",
            [uuid.UUID(int=i) for i in acknowledged],
        )
    finally:
        await connection.close()
    assert len(acknowledged) == len(set(acknowledged))
    assert {row["id"].int for row in rows} == set(acknowledged)
    assert all(row["n"] == 1 for row in rows)
