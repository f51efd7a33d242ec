"""A homelab spread over processes: ``chiffon serve``, ``chiffon agent``s and ``chiffon run``
joined by the machine's RabbitMQ, on the session's PostgreSQL.

``RemoteLab`` extends the recovery ``Lab`` (instrumented playbooks that count their executions
and can be slowed down) with agent and serve processes, each in a session of its own with its
output in a file, and a ``TcpProxy`` that can cut an agent off from the broker.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path
from typing import Any

from tests.recovery.lab import REPO, WAIT_S, Lab, wait_until

HEARTBEAT_S = 1.0
"""The agents' heartbeat interval in these tests (offline after two missed)."""


class RemoteLab(Lab):
    """One test's homelab with remote agents. Agent names are unique per lab, so their
    queues never mix with another test's."""

    def __init__(self, root: Path, dsn: str, amqp_url: str) -> None:
        super().__init__(root, dsn)
        self.amqp_url = amqp_url
        self.suffix = secrets.token_hex(3)
        self.logs: dict[int, Path] = {}

    def name(self, base: str) -> str:
        return f"{base}-{self.suffix}"

    def env(self, **kwargs: Any) -> dict[str, str]:
        env = super().env(**kwargs)
        env.update(
            CHIFFON_AMQP_URL=self.amqp_url,
            CHIFFON_CATALOG=str(self.catalog),
            CHIFFON_AGENT_KEYS_DIR=str(self.root / "keys"),
            CHIFFON_HEARTBEAT_INTERVAL_S=str(HEARTBEAT_S),
            CHIFFON_LOG_LEVEL="info",
            CHIFFON_LOG_FORMAT="json",
        )
        return env

    def cli(
        self, *args: str, timeout: float = WAIT_S, **env: Any
    ) -> subprocess.CompletedProcess[str]:
        """``chiffon *args`` to its end, in this lab's environment."""
        extra = env.pop("extra_env", {})
        return subprocess.run(
            [sys.executable, "-m", "chiffon", *args], capture_output=True, text=True,
            env={**self.env(**env), **extra}, cwd=REPO, timeout=timeout, check=False,
        )  # fmt: skip

    def add_agent(self, base: str = "infra") -> str:
        """``chiffon agent add`` a new agent (logging in as the broker's guest user)."""
        name = self.name(base)
        done = self.cli("agent", "add", name, "--amqp-user", "guest")
        assert done.returncode == 0, done.stdout + done.stderr
        return name

    def spawn(self, label: str, args: list[str], extra_env: dict[str, str] | None = None,
              **env: Any) -> subprocess.Popen[bytes]:  # fmt: skip
        log_path = self.root / f"{label}-{len(self.started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "chiffon", *args],
                env={**self.env(**env), **(extra_env or {})}, cwd=REPO,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.started.append(process)
        self.logs[process.pid] = log_path
        return process

    def output(self, process: subprocess.Popen[bytes]) -> str:
        return self.logs[process.pid].read_text(errors="replace")

    def wait_for_output(self, process: subprocess.Popen[bytes], text: str) -> None:
        def seen() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"process exited {process.returncode}: {self.output(process)}")
            return text in self.output(process)

        wait_until(seen, lambda: f"{text!r} in the output of {process.args}")

    def start_agent(
        self,
        name: str,
        *,
        kind: str = "infra",
        connect: str | None = None,
        extra_env: dict[str, str] | None = None,
        **env: Any,
    ) -> subprocess.Popen[bytes]:
        """``chiffon agent`` in its own session; returns once it consumes its queue."""
        process = self.spawn(
            f"agent-{name}",
            ["agent", "--kind", kind, "--name", name, "--connect", connect or self.amqp_url],
            extra_env, **env,
        )  # fmt: skip
        self.wait_for_output(process, "agent ready")
        return process

    def start_serve(self, **env: Any) -> subprocess.Popen[bytes]:
        process = self.spawn("serve", ["serve"], **env)
        self.wait_for_output(process, "chiffon serve: ready")
        return process

    def start_run(self, *args: str, **env: Any) -> subprocess.Popen[bytes]:
        return self.spawn("run", ["run", *args], **env)

    def agents(self) -> dict[str, dict[str, Any]]:
        done = self.cli("agents", "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        return {a["name"]: a for a in json.loads(done.stdout)}

    def agent_status(self, name: str) -> str | None:
        found = self.records.fetch("SELECT status FROM agents WHERE name = $1", name)
        return found[0]["status"] if found else None


class TcpProxy:
    """A TCP forwarder to the broker that a test can cut (close every connection and refuse
    new ones) and restore: an agent cut off from the broker, for real, at the socket."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.open = True
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @classmethod
    def to(cls, amqp_url: str) -> TcpProxy:
        parts = urllib.parse.urlsplit(amqp_url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5672)

    def url(self, amqp_url: str) -> str:
        parts = urllib.parse.urlsplit(amqp_url)
        netloc = parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{self.port}"
        return urllib.parse.urlunsplit(
            parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host)
        )

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not self.open:
                    break
                sink.sendall(data)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every connection through the proxy and refuse new ones."""
        self.open = False
        with self.lock:
            for s in self.connections:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()
            self.connections.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.server.close()
