"""Run by test_embedded.py: join the embedded server of a data directory, print its pid, wait
for a line on stdin, then leave (stopping the server if this was its last user)."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from chiffon.journal.embedded import EmbeddedServer


async def main(data_dir: str) -> None:
    server = await EmbeddedServer.start(Path(data_dir))
    print(server.pid, flush=True)
    await anyio.to_thread.run_sync(sys.stdin.readline)
    await server.release()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
