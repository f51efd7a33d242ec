"""The HTTP load generator of ``chiffon bench api``: a process of its own, so that it does not
share an event loop (or the GIL) with the server it measures.

``python -m chiffon.bench.load`` reads one JSON job on standard input and writes its figures
as one JSON object on standard output. It speaks HTTP/1.1 over raw keep-alive sockets (asyncio
streams): a client library would cost more per request than the servers it measures.

- ``get``: ``connections`` clients, each sending ``GET path`` and reading the answer, again
  and again, until ``requests`` answers are in (after ``warmup`` untimed ones); each answer's
  latency, and how many were not 200.
- ``sse``: ``subscribers`` event streams on ``path``; once all are open it writes ``open``
  on a line of its own (standard error), then each reads until it has ``events`` events of
  kind ``kind``. Each event's ``data`` carries ``sent`` (``time.time()`` when the producer
  wrote it: one machine, one clock), so the delivery lag of each event to each subscriber is
  its arrival time less that; ids are checked for gaps and duplicates per subscriber.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Mapping
from typing import Any

_EVENT = re.compile(rb"id: (\d+)\nevent: ([^\n]*)\ndata: ([^\n]*)\n\n")


def _request(host: str, port: int, path: str, headers: Mapping[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One response: its status and body (``Content-Length`` or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    if b"content-length" in fields:
        return status, await reader.readexactly(int(fields[b"content-length"]))
    body = bytearray()
    while True:  # chunked
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        body += await reader.readexactly(size + 2)
        if size == 0:
            return status, bytes(body)


async def get(job: Mapping[str, Any]) -> dict[str, Any]:
    host, port, path = job["host"], int(job["port"]), job["path"]
    request = _request(host, port, path, job.get("headers", {}))
    total, warmup = int(job["requests"]), int(job.get("warmup", 0))
    latencies: list[int] = []
    failures: dict[int, int] = {}
    remaining = {"warmup": warmup, "timed": total}
    started: list[float] = []

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                if remaining["warmup"] > 0:
                    remaining["warmup"] -= 1
                    timed = False
                elif remaining["timed"] > 0:
                    remaining["timed"] -= 1
                    timed = True
                    if not started:
                        started.append(time.perf_counter())
                else:
                    return
                t0 = time.perf_counter_ns()
                writer.write(request)
                status, _ = await _answer(reader)
                if timed:
                    latencies.append(time.perf_counter_ns() - t0)
                if status != 200:
                    failures[status] = failures.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(int(job["connections"]))))
    seconds = time.perf_counter() - started[0] if started else 0.0
    return {"latencies_ns": latencies, "seconds": seconds, "not_ok": failures}


async def sse(job: Mapping[str, Any]) -> dict[str, Any]:
    host, port, path = job["host"], int(job["port"]), job["path"]
    request = _request(host, port, path, {"Accept": "text/event-stream", **job.get("headers", {})})
    wanted, kind = int(job["events"]), job["kind"].encode()
    count = int(job["subscribers"])
    opened = 0
    all_open = asyncio.Event()
    lags: list[float] = []
    problems: list[str] = []

    async def subscriber(n: int) -> None:
        nonlocal opened
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            first = head.split(b"\r\n", 1)[0].decode()
            if " 200 " not in first or b"chunked" not in head.lower():
                problems.append(f"subscriber {n}: {first}")
                all_open.set()
                return
            opened += 1
            if opened == count:
                all_open.set()
            buffer = b""
            seen: list[int] = []
            got = 0
            while got < wanted:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                if size == 0:
                    problems.append(f"subscriber {n}: the stream ended after {got} events")
                    return
                buffer += (await reader.readexactly(size + 2))[:-2]
                now = time.time()
                end = buffer.rfind(b"\n\n")
                if end < 0:
                    continue
                complete, buffer = buffer[: end + 2], buffer[end + 2 :]
                for match in _EVENT.finditer(complete):
                    seen.append(int(match.group(1)))
                    if match.group(2) == kind:
                        lags.append(now - json.loads(match.group(3))["data"]["sent"])
                        got += 1
            if seen != list(range(seen[0], seen[0] + len(seen))):
                problems.append(f"subscriber {n}: ids with a gap or a duplicate")
        finally:
            writer.close()

    tasks = [asyncio.create_task(subscriber(n)) for n in range(count)]
    await all_open.wait()
    sys.stderr.write("open\n")
    sys.stderr.flush()
    await asyncio.gather(*tasks)
    return {"lags_s": lags, "problems": problems[:20]}


def main() -> None:
    job = json.loads(sys.stdin.readline())
    found = asyncio.run(get(job) if job["mode"] == "get" else sse(job))
    sys.stdout.write(json.dumps(found) + "\n")


if __name__ == "__main__":
    main()
