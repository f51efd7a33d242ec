"""The machine's RabbitMQ, stopped and started by a test, for real.

Two outages: the application stopped and started inside its running Erlang VM
(``rabbitmqctl stop_app`` / ``start_app``), and the VM killed with SIGKILL (``beam.smp`` and
what it spawned; ``epmd`` is a daemon of its own and stays) and booted again with
``rabbitmq-server -detached``. The broker counts as up again once port 5672 accepts *and*
``rabbitmqctl await_startup`` succeeds.

The broker is shared with whatever else runs on the machine: each outage is as short as a
test can make it, and ``Broker.ensure_running`` — the ``broker`` fixture's finalizer, run
whatever the test did — brings it back.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import psutil

from tests.recovery.lab import wait_until

RABBITMQCTL = Path("/usr/sbin/rabbitmqctl")
RABBITMQ_SERVER = Path("/usr/sbin/rabbitmq-server")
BOOT_S = 120.0
"""How long the broker may take to come back (a bound, never a timing)."""
GUARD_S = 180
"""After this long, an outage's guard brings the broker back even if the test's own process
died (the fixture's finalizer never ran)."""
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class BrokerControlError(AssertionError):
    """A ``rabbitmqctl`` or ``rabbitmq-server`` command failed: the message names it."""


class Broker:
    """The RabbitMQ node behind ``amqp_url``, on this machine."""

    def __init__(self, amqp_url: str) -> None:
        parts = urllib.parse.urlsplit(amqp_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 5672
        self.accepted_at = 0.0
        """When the port last accepted again after an outage (wall clock, ``time.time()``)."""
        self.guard: subprocess.Popen[bytes] | None = None

    def unusable(self) -> str | None:
        """Why this test run cannot stop and start the broker, or ``None`` when it can."""
        if self.host not in LOOPBACK:
            return f"the broker at {self.host} is not on this machine"
        for tool in (RABBITMQCTL, RABBITMQ_SERVER):
            if not tool.exists():
                return f"{tool} is not installed"
        if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != "rabbitmq":
            return "only root or the rabbitmq user may run rabbitmqctl and rabbitmq-server"
        if not shutil.which("su") and os.geteuid() == 0:
            return "rabbitmq-server needs su to drop to the rabbitmq user"
        if not self.ready():
            return "rabbitmqctl cannot reach the node behind the broker's port"
        return None

    # -- commands ---------------------------------------------------------------------------

    def ctl(self, *args: str, timeout: float = BOOT_S) -> subprocess.CompletedProcess[str]:
        """``rabbitmqctl *args``; raises ``BrokerControlError`` when it fails."""
        done = subprocess.run(
            [str(RABBITMQCTL), *args], capture_output=True, text=True, timeout=timeout,
            check=False, cwd="/",
        )  # fmt: skip
        if done.returncode != 0:
            raise BrokerControlError(
                f"rabbitmqctl {' '.join(args)} exited {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()}"
            )
        return done

    def accepting(self) -> bool:
        """Whether the AMQP port accepts a connection."""
        try:
            socket.create_connection((self.host, self.port), timeout=1.0).close()
        except OSError:
            return False
        return True

    def ready(self) -> bool:
        """The port accepts and the node says the application has started."""
        if not self.accepting():
            return False
        try:
            self.ctl("await_startup", "--timeout", "10", timeout=30)
        except (BrokerControlError, subprocess.TimeoutExpired):
            return False
        return True

    def wait_ready(self) -> float:
        """Wait until the broker is up again; the wall-clock time (``time.time()``) it was.
        Sets ``accepted_at``."""
        self.accepted_at = wait_until(
            lambda: self.accepting() and time.time(), f"RabbitMQ to accept on port {self.port}",
            timeout=BOOT_S,
        )  # fmt: skip
        self.ctl("await_startup", "--timeout", str(int(BOOT_S)))
        return time.time()

    def queue_depths(self) -> dict[str, int]:
        """Messages (ready and unacknowledged) in each queue of the default vhost."""
        done = self.ctl("list_queues", "--quiet", "--no-table-headers", "name", "messages")
        depths = {}
        for line in done.stdout.splitlines():
            name, _, count = line.rpartition("\t")
            if name and count.isdigit():
                depths[name] = int(count)
        return depths

    # -- the application stopped in its VM ---------------------------------------------------

    def stop_app(self) -> float:
        """``rabbitmqctl stop_app``: every connection closed, the port shut. Returns the
        wall-clock time it returned."""
        self.start_guard()
        self.ctl("stop_app")
        return time.time()

    def start_app(self) -> float:
        """``rabbitmqctl start_app``, then wait until it is ready; when it was."""
        self.ctl("start_app")
        ready = self.wait_ready()
        self.stop_guard()
        return ready

    # -- the VM killed ------------------------------------------------------------------------

    def vm(self) -> list[psutil.Process]:
        """The broker's Erlang VM (the ``beam.smp`` booting ``rabbit``) and every process
        under it. Not ``epmd``, and not the short-lived VMs of ``rabbitmqctl`` itself."""
        found: list[psutil.Process] = []
        for process in psutil.process_iter(["name", "cmdline"]):
            with contextlib.suppress(psutil.Error):
                args = process.info["cmdline"] or []
                if process.info["name"] == "beam.smp" and _boots_rabbit(args):
                    found.append(process)
                    found.extend(process.children(recursive=True))
        return found

    def kill(self) -> float:
        """SIGKILL the broker's VM and its children, and wait until they are gone and the
        port refuses; the wall-clock time it did."""
        processes = self.vm()
        if not processes:
            raise BrokerControlError("no RabbitMQ VM (beam.smp booting rabbit) is running")
        self.start_guard()
        for process in processes:
            with contextlib.suppress(psutil.Error):
                process.send_signal(signal.SIGKILL)
        psutil.wait_procs(processes, timeout=30)
        wait_until(lambda: not self.vm(), "RabbitMQ's VM to be gone")
        wait_until(lambda: not self.accepting(), f"port {self.port} to refuse")
        return time.time()

    def start(self) -> float:
        """``rabbitmq-server -detached`` (it drops to the rabbitmq user by itself), then wait
        until it is ready; when it was."""
        done = subprocess.run(
            [str(RABBITMQ_SERVER), "-detached"], capture_output=True, text=True,
            timeout=BOOT_S, check=False, cwd="/", start_new_session=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise BrokerControlError(
                f"rabbitmq-server -detached exited {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()}"
            )
        ready = self.wait_ready()
        self.stop_guard()
        return ready

    # -- always leave it running --------------------------------------------------------------

    def start_guard(self) -> None:
        """A detached shell, outliving this process, that starts the broker again after
        ``GUARD_S`` unless it is up by then (or ``stop_guard`` ended the guard)."""
        if self.guard is not None and self.guard.poll() is None:
            return
        ctl, server = RABBITMQCTL, RABBITMQ_SERVER
        script = (
            f"sleep {GUARD_S}; {ctl} await_startup --timeout 3 || {ctl} start_app"
            f" || {server} -detached"
        )
        self.guard = subprocess.Popen(
            ["sh", "-c", script], cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    def stop_guard(self) -> None:
        """End the guard (its shell and the sleep under it: its own process group)."""
        guard, self.guard = self.guard, None
        if guard is not None and guard.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(guard.pid, signal.SIGKILL)
            guard.wait()

    def ensure_running(self) -> None:
        """Bring the broker back, whatever state a test left it in: the application started
        in a VM that runs, or a VM booted where none runs."""
        if self.ready():
            self.stop_guard()
            return
        if self.vm():
            with contextlib.suppress(BrokerControlError, subprocess.TimeoutExpired):
                self.start_app()
                return
            # A VM that cannot start its application (half dead): start afresh.
            for process in self.vm():
                with contextlib.suppress(psutil.Error):
                    process.kill()
            wait_until(lambda: not self.vm(), "RabbitMQ's VM to be gone")
        self.start()
        self.stop_guard()


def _boots_rabbit(args: list[str]) -> bool:
    """Whether a ``beam.smp`` command line boots the ``rabbit`` application (``-s rabbit
    boot``): the broker's node, not a CLI tool's."""
    return any(args[i : i + 3] == ["-s", "rabbit", "boot"] for i in range(len(args) - 2))
