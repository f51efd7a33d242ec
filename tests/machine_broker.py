"""The machine's RabbitMQ (``CHIFFON_TEST_AMQP_URL``), watched over a test session: the suite
uses it and must leave it as it found it — not stopped, not restarted, no queue of someone
else's gone. The tests that stop, kill or reconfigure a broker have one of their own
(``tests/rabbitmq_node.py``).

Two witnesses, taken when a session that will talk to RabbitMQ has collected its tests and
compared when it finishes (``tests/conftest.py``'s hooks fail the session on a difference):

* a connection opened at the start and held, without heartbeats, on a thread of its own:
  the broker closes it if its application is stopped or its VM dies, even for a moment;
* where ``rabbitmqctl`` reaches the broker (it is on this machine and we may manage it):
  its Erlang VM's OS process and start time, and its queues with their properties.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

RABBITMQCTL = "/usr/sbin/rabbitmqctl"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class State:
    """What ``rabbitmqctl`` says of the broker: its VM (OS pid and when it started, to the
    second) and its queues (name → durable, auto-delete, arguments)."""

    pid: int
    started_at: int
    queues: dict[str, tuple[bool, bool, str]] = field(default_factory=dict)


def _ctl(*args: str) -> Any:
    # The distribution's wrapper: it runs as the broker's user, with its cookie. Nothing of
    # a throwaway node's environment may leak in (RABBITMQ_NODENAME would point elsewhere).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
    done = subprocess.run(
        [RABBITMQCTL, *args, "--formatter", "json"], capture_output=True, text=True,
        timeout=60, check=True, env=env, cwd="/",
    )  # fmt: skip
    return json.loads(done.stdout or "null")


def state(amqp_url: str) -> State | None:
    """The broker's state, or ``None`` when ``rabbitmqctl`` cannot reach it from here."""
    import psutil

    if (urllib.parse.urlsplit(amqp_url).hostname or "127.0.0.1") not in LOOPBACK:
        return None
    try:
        status = _ctl("status")
        queues = _ctl("list_queues", "--quiet", "name", "durable", "auto_delete", "arguments")
        pid = int(status["pid"])
        started_at = int(psutil.Process(pid).create_time())
    except (OSError, ValueError, KeyError, TypeError, subprocess.SubprocessError, psutil.Error):
        return None
    return State(
        pid=pid,
        started_at=started_at,
        queues={
            q["name"]: (bool(q["durable"]), bool(q["auto_delete"]),
                        json.dumps(q["arguments"], sort_keys=True))
            for q in queues or []
        },
    )  # fmt: skip


class Witness:
    """The broker as found at the start of a session; ``changes()`` at its end."""

    def __init__(self, amqp_url: str) -> None:
        import aio_pika

        self.amqp_url = amqp_url
        self.before = state(amqp_url)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._connection: Any = None
        try:
            self._connection = asyncio.run_coroutine_threadsafe(
                aio_pika.connect(amqp_url, heartbeat=0, timeout=10), self._loop
            ).result(30)
        except Exception:  # no broker to witness: the tests that need one say so themselves
            self._connection = None

    def changes(self) -> tuple[list[str], list[str]]:
        """What differs from the start, one sentence each: the broker stopped or restarted,
        and queues gone or changed. The second may be another session's doing on a shared
        broker (it removing queues of its own); the first never is."""
        found: list[str] = []
        queues: list[str] = []
        if self._connection is not None and self._connection.is_closed:
            found.append(
                "the connection held since the start of the session was closed by the broker "
                "(stopped or restarted)"
            )
        after = state(self.amqp_url) if self.before is not None else None
        if self.before is not None and after is not None:
            if (after.pid, after.started_at) != (self.before.pid, self.before.started_at):
                found.append(
                    f"its VM was restarted (pid {self.before.pid} → {after.pid}, started "
                    f"{self.before.started_at} → {after.started_at})"
                )
            for name, properties in sorted(self.before.queues.items()):
                now = after.queues.get(name)
                if now is None:
                    queues.append(f"queue {name!r} is gone")
                elif now != properties:
                    queues.append(f"queue {name!r} changed from {properties} to {now}")
        return found, queues

    def observed(self) -> str:
        """What was watched, for the session's summary."""
        parts = []
        if self._connection is not None:
            parts.append("a connection held")
        if self.before is not None:
            parts.append(f"VM pid {self.before.pid}, {len(self.before.queues)} queue(s)")
        return ", ".join(parts) or "nothing (the broker did not answer)"

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._connection.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
