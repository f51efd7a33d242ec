"""A RabbitMQ node of the test session's own, for the tests that stop, kill or reconfigure a
broker: never the machine's (whatever answers on port 5672 belongs to someone else).

The node shares nothing with a broker already on the machine: its own name, its own AMQP and
distribution ports (free ones, picked at start), its own ``epmd`` on a port of its own, its own
home (so its own Erlang cookie), data and log directories, configuration, environment file
and plugins file (none enabled: no management listener). It runs as the user running the
tests — root included: ``rabbitmq-server`` from RabbitMQ's own ``bin`` directory, not the
distribution's wrapper, which would switch to the ``rabbitmq`` user and its cookie.

Every process of it (``epmd``, the server script and the Erlang VM under it) runs in a
session of its own, so a stop or a kill reaches all of it and nothing else. Each is started
with a parent-death signal: if the test process dies without stopping the node (SIGKILL, a
timeout), the server script is told SIGTERM — and stops RabbitMQ properly — and ``epmd`` is
killed. (Linux sends it when the *thread* that started the process ends: start and boot
the node from the main thread, as synchronous fixtures and tests do.) ``close`` stops
everything and removes the directory, whatever state a test left the node in.

The environment naming the node is handed to its own commands only (``env``), never put in
``os.environ``: ``rabbitmqctl`` run by anything else still means the machine's broker.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
"""Where Debian and Ubuntu (and RabbitMQ's own packages) put the unwrapped scripts."""
BOOT_S = 120.0
"""How long the node may take to boot (a bound, never a timing)."""
_PR_SET_PDEATHSIG = 1


class NodeUnavailable(Exception):
    """The node cannot be started here: the message says why, in one sentence."""


class NodeCommandError(AssertionError):
    """A command on the node failed: the message names it."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _dies_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to send ``sig`` to the child when this process dies."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def arm() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return arm


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = BOOT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise NodeCommandError(f"gave up waiting for {what}")
        time.sleep(0.1)


class RabbitNode:
    """One throwaway RabbitMQ node: ``RabbitNode.start()``, use ``amqp_url``, ``close()``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = f"chiffon-test-{os.getpid()}-{secrets.token_hex(3)}@localhost"
        self.port = _free_port()
        self.dist_port = _free_port()
        self.epmd_port = _free_port()
        self.amqp_url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.epmd: subprocess.Popen[bytes] | None = None
        self.server: subprocess.Popen[bytes] | None = None
        self.accepted_at = 0.0
        """When the AMQP port last accepted again after a boot (wall clock, ``time.time()``)."""
        (root / "home").mkdir(mode=0o700)
        (root / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "loopback_users.guest = true\n"
            # A test machine's disk may be fuller than RabbitMQ's default 50 MB alarm allows
            # for; the node holds a few test messages.
            "disk_free_limit.absolute = 1MB\n"
        )
        (root / "enabled_plugins").write_text("[].\n")
        (root / "rabbitmq-env.conf").write_text("")

    @classmethod
    def start(cls) -> RabbitNode:
        """A new node, booted and ready. Raises ``NodeUnavailable`` when RabbitMQ is not
        installed here."""
        for program in ("rabbitmq-server", "rabbitmqctl"):
            if not (RABBITMQ_BIN / program).exists():
                raise NodeUnavailable(f"{RABBITMQ_BIN / program} is not installed")
        if shutil.which("epmd") is None:
            raise NodeUnavailable("epmd (Erlang's port mapper) is not on PATH")
        node = cls(Path(tempfile.mkdtemp(prefix="chiffon-test-rabbitmq-")))
        try:
            node._start_epmd()
            node.boot()
        except BaseException:
            node.close()
            raise
        return node

    # -- its environment ---------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The environment of this node's commands: ``rabbitmqctl`` with it means this node."""
        root = self.root
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(root / "home"),
            ERL_EPMD_PORT=str(self.epmd_port),
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(root / "mnesia"),
            RABBITMQ_LOG_BASE=str(root / "log"),
            RABBITMQ_CONFIG_FILE=str(root / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(root / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(root / "rabbitmq-env.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(root / "enabled_plugins"),
            RABBITMQ_PID_FILE=str(root / "rabbitmq.pid"),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        )
        return env

    def ctl(self, *args: str, timeout: float = BOOT_S) -> subprocess.CompletedProcess[str]:
        """``rabbitmqctl *args`` on this node; raises ``NodeCommandError`` when it fails."""
        done = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), *args], capture_output=True, text=True,
            timeout=timeout, check=False, cwd=self.root, env=self.env(),
        )  # fmt: skip
        if done.returncode != 0:
            raise NodeCommandError(
                f"rabbitmqctl {' '.join(args)} on {self.name} exited {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()[-2000:]}"
            )
        return done

    # -- its processes -------------------------------------------------------------------------

    def _start_epmd(self) -> None:
        self.epmd = subprocess.Popen(
            ["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"],
            cwd=self.root, env=self.env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_dies_with_parent(signal.SIGKILL),
        )  # fmt: skip
        _wait_until(lambda: _accepts(self.epmd_port), f"epmd on port {self.epmd_port}", 30)

    def boot(self) -> float:
        """Start the server and wait until it is ready; the wall-clock time it was."""
        if self.running():
            raise NodeCommandError(f"{self.name} is already running")
        with (self.root / "server.log").open("ab") as log:
            self.server = subprocess.Popen(
                [str(RABBITMQ_BIN / "rabbitmq-server")], cwd=self.root, env=self.env(),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_dies_with_parent(signal.SIGTERM),
            )  # fmt: skip
        return self.wait_ready()

    def running(self) -> bool:
        """Whether the server process (the script and its VM) is alive."""
        return self.server is not None and self.server.poll() is None

    def accepting(self) -> bool:
        """Whether the AMQP port accepts a connection."""
        return _accepts(self.port)

    def ready(self) -> bool:
        """The port accepts and the node says the application has started."""
        if not (self.running() and self.accepting()):
            return False
        try:
            self.ctl("await_startup", "--timeout", "10", timeout=30)
        except (NodeCommandError, subprocess.TimeoutExpired):
            return False
        return True

    def wait_ready(self) -> float:
        """Wait until the application has started and the port accepts; when it was (also
        kept in ``accepted_at``)."""

        def up() -> bool:
            if not self.running():
                raise NodeCommandError(f"{self.name} exited while booting: {self.log_tail()}")
            return self.accepting()

        _wait_until(up, f"{self.name} to accept on port {self.port}: {self.log_tail()}")
        self.accepted_at = time.time()
        self.ctl("await_startup", "--timeout", str(int(BOOT_S)))
        return time.time()

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "server.log").read_text(errors="replace")[-2000:]
        return "(no server log)"

    def stop_app(self) -> float:
        """``rabbitmqctl stop_app``: every connection closed, the port shut, the VM left
        running. The wall-clock time it returned."""
        self.ctl("stop_app")
        return time.time()

    def start_app(self) -> float:
        """``rabbitmqctl start_app``, then wait until it is ready; when it was."""
        self.ctl("start_app")
        return self.wait_ready()

    def kill(self) -> float:
        """SIGKILL the server script and its VM (their own session), and wait until they are
        gone and the port refuses; the wall-clock time it did."""
        server = self.server
        if server is None or server.poll() is not None:
            raise NodeCommandError(f"{self.name} is not running")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        _wait_until(lambda: not _session_alive(server.pid), f"{self.name}'s VM to be gone", 30)
        _wait_until(lambda: not self.accepting(), f"port {self.port} to refuse", 30)
        return time.time()

    def ensure_running(self) -> None:
        """Bring the node back to a started application, whatever state a test left it in."""
        if self.ready():
            return
        if self.running():
            with contextlib.suppress(NodeCommandError, subprocess.TimeoutExpired):
                self.start_app()
                return
            self.kill()  # a VM that cannot start its application: boot afresh
        self.boot()

    def queue_depths(self) -> dict[str, int]:
        """Messages (ready and unacknowledged) in each queue of the default vhost."""
        done = self.ctl("list_queues", "--quiet", "--formatter", "json", "name", "messages")
        return {q["name"]: int(q["messages"]) for q in json.loads(done.stdout or "[]")}

    def close(self) -> None:
        """Stop the node and its epmd, and remove its directory. Idempotent."""
        server, self.server = self.server, None
        if server is not None:
            if server.poll() is None:
                with contextlib.suppress(NodeCommandError, subprocess.TimeoutExpired):
                    self.ctl("stop", timeout=60)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    server.wait(timeout=30)
            # Whatever is left of its session (a VM that would not stop): killed.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        epmd, self.epmd = self.epmd, None
        if epmd is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(epmd.pid, signal.SIGKILL)
            epmd.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except OSError:
        return False
    return True


def _session_alive(session_id: int) -> bool:
    """Whether any process of session ``session_id`` is still alive (not a zombie)."""
    import psutil

    for process in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error, OSError):
            if os.getsid(process.pid) == session_id and process.info["status"] != "zombie":
                return True
    return False
