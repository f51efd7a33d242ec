"""A real ``chiffon serve`` process on a free loopback port, with a user and token made by
the ``chiffon users`` and ``chiffon tokens`` commands, for tests over a real socket."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

CATALOG = Path(__file__).parents[2] / "examples" / "homelab"
READY = re.compile(r"chiffon serve: ready on (https?://\S+?)/? ")
PASSWORD = "correct horse battery"


@dataclasses.dataclass
class Served:
    base_url: str
    process: subprocess.Popen[str]
    env: dict[str, str]
    lines: list[str]
    token: str = ""

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as a service manager stops it; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def chiffon(env: Mapping[str, str], *args: str, stdin: str | None = None) -> str:
    """Run a ``chiffon`` command to completion; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "chiffon", *args], env=dict(env), input=stdin,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def environment(dsn: str, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    return {**env, "CHIFFON_DATABASE_URL": dsn, "CHIFFON_HOME": str(home),
            "CHIFFON_LOG_FORMAT": "json", **extra}  # fmt: skip


@contextlib.contextmanager
def chiffon_serve(env: Mapping[str, str], *args: str, user: str = "admin") -> Iterator[Served]:
    """``chiffon serve --listen 127.0.0.1:0`` (the kernel picks the port; the ready line says
    which), after adding ``user`` (scope admin) and making them a token."""
    env = dict(env)
    with contextlib.suppress(AssertionError):  # the user may exist from an earlier start
        chiffon(env, "users", "add", user, "--password-stdin", stdin=PASSWORD + "\n")
    token = chiffon(env, "tokens", "create", "--user", user, "--scope", "admin").strip()
    process = subprocess.Popen(
        [sys.executable, "-m", "chiffon", "serve", "--catalog", str(CATALOG),
         "--listen", "127.0.0.1:0", *args],
        env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    lines: list[str] = []
    found: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            match = READY.search(line)
            if match:
                found.put(match.group(1))
        found.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    served = Served("", process, env, lines, token)
    try:
        try:
            base_url = found.get(timeout=120)
        except queue.Empty:
            base_url = None
        if base_url is None:
            raise AssertionError("chiffon serve did not get ready:\n" + "".join(lines))
        served.base_url = base_url
        yield served
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        reader.join(timeout=10)
        assert process.stderr is not None
        process.stderr.close()
