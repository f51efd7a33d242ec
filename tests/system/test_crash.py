"""kill -9 a process in the middle of sync sends through chiffon.System: every send that
returned is committed, exactly once."""

from __future__ import annotations

import contextlib
import random
import signal
import sys
from pathlib import Path

import anyio
import asyncpg
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

CHILD = Path(__file__).with_name("send_child.py")
pytestmark = pytest.mark.slow


async def test_every_send_that_returned_before_a_kill_9_is_stored_exactly_once(
    machine_dsn: str, tmp_path: Path
) -> None:
    target = random.randint(300, 3000)
    acknowledged: list[str] = []
    process = await anyio.open_process(
        [sys.executable, str(CHILD), machine_dsn, str(tmp_path)],
        stderr=None,
        cwd=Path(__file__).parents[2],
    )
    async with process:
        assert process.stdout is not None
        lines = BufferedByteReceiveStream(process.stdout)
        try:
            with anyio.fail_after(60):
                while len(acknowledged) < target:
                    acknowledged.append((await lines.receive_until(b"\n", 64)).decode())
        except (anyio.EndOfStream, anyio.IncompleteRead):
            pytest.fail(f"the child exited early with status {await process.wait()}")
        finally:
            process.send_signal(signal.SIGKILL)
            await process.wait()
        with contextlib.suppress(anyio.EndOfStream, anyio.IncompleteRead):
            while True:
                acknowledged.append((await lines.receive_until(b"\n", 64)).decode())

    connection = await asyncpg.connect(machine_dsn)
    try:
        rows = await connection.fetch(
            "SELECT body->>'token' AS token, count(*) AS n FROM messages"
            " WHERE kind = 'crash.deploy' AND body->>'token' = ANY($1::text[])"
            " GROUP BY body->>'token'",
            acknowledged,
        )
    finally:
        await connection.close()
    assert len(acknowledged) == len(set(acknowledged)) >= target
    assert {row["token"] for row in rows} == set(acknowledged)
    assert all(row["n"] == 1 for row in rows)
