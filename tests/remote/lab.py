"""A homelab spread over processes: ``chiffon serve``, ``chiffon agent``s and ``chiffon run``
joined by the machine's RabbitMQ, on the session's PostgreSQL.

``RemoteLab`` extends the recovery ``Lab`` (instrumented playbooks that count their executions
and can be slowed down) with agent and serve processes, each in a session of its own with its
output in a file, and a ``TcpProxy`` that can cut an agent off from the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import urllib.parse
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import yaml

from chiffon.bridge.topology import Topology
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
        self.added: list[str] = []

    def close(self) -> None:
        """Stop what the lab started, then take its queues off the broker: its agents' (which
        never expire) and those of its orchestrators that could not delete their own."""
        super().close()
        queues = [Topology().agent_queue(name) for name in self.added]
        for log in [*self.logs.values(), *self.root.glob("chiffon-*.log")]:
            with contextlib.suppress(OSError):
                queues += [
                    str(e["queue"]) for e in json_events(log.read_text(errors="replace"))
                    if e.get("event") == "bridge connected"
                    and str(e.get("queue", "")).startswith("chiffon.orchestrator.")
                ]  # fmt: skip
        with contextlib.suppress(Exception):
            asyncio.run(delete_queues(self.amqp_url, sorted(set(queues))))

    def queue_exists(self, name: str) -> bool:
        """Whether the broker has queue ``name``."""
        return asyncio.run(queue_exists(self.amqp_url, name))

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
        self.added.append(name)
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

        wait_until(seen, lambda: f"{text!r} in the output of {process.args!r}")

    def start_agent(
        self,
        name: str,
        *,
        kind: str = "infra",
        connect: str | None = None,
        extra_env: dict[str, str] | None = None,
        hosts: tuple[str, ...] = (),
        **env: Any,
    ) -> subprocess.Popen[bytes]:
        """``chiffon agent`` in its own session (``--host`` for each of ``hosts``); returns
        once it consumes its queue."""
        options = [option for host in hosts for option in ("--host", host)]
        process = self.spawn(
            f"agent-{name}",
            ["agent", "--kind", kind, "--name", name, "--connect", connect or self.amqp_url,
             *options],
            extra_env, **env,
        )  # fmt: skip
        self.wait_for_output(process, "agent ready")
        return process

    def start_serve(
        self, extra_env: dict[str, str] | None = None, **env: Any
    ) -> subprocess.Popen[bytes]:
        process = self.spawn("serve", ["serve"], extra_env, **env)
        self.wait_for_output(process, "chiffon serve: ready")
        return process

    def start_run(
        self, *args: str, extra_env: dict[str, str] | None = None, **env: Any
    ) -> subprocess.Popen[bytes]:
        return self.spawn("run", ["run", *args], extra_env, **env)

    def run_of(self, process: subprocess.Popen[bytes], since: dt.datetime) -> uuid.UUID:
        """The run a ``chiffon run`` process created (waiting until it has)."""
        return wait_until(
            lambda: self.records.run_of(process.pid, since),
            lambda: f"the run of {process.args!r} to be created: {self.output(process)}",
        )

    def finished(self, process: subprocess.Popen[bytes], timeout: float = 3 * WAIT_S) -> str:
        """Wait for ``process`` to end; its output."""
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{process.args!r} still runs: {self.output(process)}") from None
        return self.output(process)

    def terminate(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM the process (not its group) and wait for it to end."""
        os.kill(process.pid, signal.SIGTERM)
        self.finished(process)

    def summary(self, process: subprocess.Popen[bytes]) -> dict[str, Any]:
        """The ``--json`` object a finished ``chiffon run --json`` printed (the last JSON
        object of its output: stdout and stderr share the log)."""
        text = self.finished(process)
        start = text.rfind('\n{\n  "run_id"')
        assert start >= 0, f"no JSON summary in: {text}"
        found: dict[str, Any] = json.JSONDecoder().raw_decode(text[start + 1 :])[0]
        return found

    def agents(self) -> dict[str, dict[str, Any]]:
        done = self.cli("agents", "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        return {a["name"]: a for a in json.loads(done.stdout)}

    def agent_status(self, name: str) -> str | None:
        found = self.records.fetch("SELECT status FROM agents WHERE name = $1", name)
        return found[0]["status"] if found else None

    def agent_row(self, name: str) -> dict[str, Any] | None:
        """The agent's row in the ``agents`` table, its JSON columns decoded."""
        found = self.records.fetch("SELECT * FROM agents WHERE name = $1", name)
        if not found:
            return None
        row = found[0]
        for column in ("capabilities", "resources"):
            if isinstance(row[column], str):
                row[column] = json.loads(row[column])
        return row

    def agent_when(self, name: str, status: str) -> dict[str, Any]:
        """Wait until the agent's row has ``status``; the row."""

        def row() -> dict[str, Any] | None:
            found = self.agent_row(name)
            return found if found is not None and found["status"] == status else None

        return wait_until(row, lambda: f"{name} to be {status}: {self.agent_row(name)}")

    # -- an agent's side -------------------------------------------------------------------

    def agent_home(self, name: str) -> Path:
        """The agent's state directory (``CHIFFON_HOME/agent/NAME``): ledger, inbox, work."""
        return self.root / "home" / "agent" / name

    def ledger(self, name: str) -> dict[tuple[uuid.UUID, int], dict[str, Any]]:
        """The agent's ledger: (step id, attempt) -> state and result (decoded)."""
        path = self.agent_home(name) / f"ledger-{name}.sqlite3"
        if not path.exists():
            return {}
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
        try:
            rows = db.execute("SELECT step_id, attempt, state, result, owner FROM attempts")
            return {
                (uuid.UUID(step), attempt): {
                    "state": state,
                    "owner": owner,
                    "result": json.loads(result) if result is not None else None,
                }
                for step, attempt, state, result, owner in rows.fetchall()
            }
        finally:
            db.close()

    def agent_ansible(self, name: str) -> list[psutil.Process]:
        """Live processes working in the agent's work directory (its Ansible)."""
        return self._naming(str(self.agent_home(name) / "work"))

    def sleeping_module(self, name: str) -> list[psutil.Process]:
        """Wait until the agent's Ansible is in the instrumented sleep (the ``wait_for`` module
        runs); everything then working in the agent's work directory."""

        def sleeping() -> list[psutil.Process] | None:
            found = self.agent_ansible(name)
            asleep = any("wait_for" in arg for p in found for arg in _cmdline(p))
            return found if asleep else None

        return wait_until(
            sleeping,
            f"{name}'s Ansible to sleep in the wait_for module",
        )

    def ansible_processes(self) -> list[psutil.Process]:
        """Live processes working in this lab's work directories: the local agent's and every
        remote agent's (ansible-playbook, its forked workers, their modules)."""
        return self._naming(str(self.work), str(self.root / "home" / "agent"))

    @staticmethod
    def _naming(*markers: str) -> list[psutil.Process]:
        found = []
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if process.status() != psutil.STATUS_ZOMBIE and any(
                    marker in arg for arg in process.cmdline() for marker in markers
                ):
                    found.append(process)
        return found

    # -- what survived ---------------------------------------------------------------------

    def assert_survived(self, *run_ids: uuid.UUID) -> None:
        """What every fault test checks at the end, for each run and all of them together:

        - every attempt went through an unbroken chain to exactly one terminal state;
        - every attempt dispatched to an agent is in that agent's ledger (the execute was not
          lost), finished there with the state the database holds (the result was not lost);
        - nothing is in a ledger that the database has no such dispatched attempt for;
        - no playbook was executed more often than it has attempts that reached an agent.
        """
        attempts: dict[tuple[uuid.UUID, int], dict[str, Any]] = {}
        for run_id in run_ids:
            self.records.assert_attempts_consistent(run_id)
            for step in self.records.steps(run_id):
                attempts[(step["id"], step["attempt"])] = step
        agents = {s["agent"] for s in attempts.values() if s["agent"] is not None}
        reached: Counter[str] = Counter()
        for name in agents:
            for key, entry in self.ledger(name).items():
                found = attempts.get(key)
                if found is None:
                    continue  # another run of this lab's (checked by its own test)
                step = found
                label = f"{step['playbook']} attempt {step['attempt']} on {name}: {entry}"
                assert step["agent"] == name, label
                assert entry["state"] == "finished", label
                assert entry["result"]["status"] == step["status"], label
                reached[step["playbook"]] += 1
        for key, step in attempts.items():
            if step["agent"] is not None:
                assert key in self.ledger(step["agent"]), f"not in its agent's ledger: {step}"
        executed = self.executions()
        assert all(executed[p] <= reached[p] for p in executed), (executed, reached)

    # -- catalog ---------------------------------------------------------------------------

    def gpu_entry(self) -> GpuEntry:
        """The catalog entry that needs GPU memory — the homelab's ``ollama`` — instrumented
        like the others (counted in ``executions.log``, slowed by ``sleep_s``). When the
        homelab has no such entry, one is added to the lab's copy of the catalog."""
        catalog = self.catalog / "catalog.yml"
        data = yaml.safe_load(catalog.read_text())
        entry: dict[str, Any] | None = next(
            (e for e in data["entries"] if e["id"] == "ollama"), None
        )
        if entry is None:
            entry = self._add_ollama(data)
            catalog.write_text(yaml.safe_dump(data, sort_keys=False))
        self._instrument(self.catalog / entry["playbook"], entry["id"])
        return GpuEntry(entry["id"], int(entry["resources"]["gpu_vram_mb"]))

    def _add_ollama(self, data: dict[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": "ollama",
            "playbook": "playbooks/ollama.yml",
            "description": "Deploy Ollama, a local LLM server, on a machine with a GPU.",
            "tags": ["llm", "gpu"],
            "services": ["ollama"],
            "synonyms": ["ollama", "local llm", "llm server"],
            "hosts": "monitoring",
            "resources": {"gpu_vram_mb": 4096, "memory_mb": 256},
        }
        play = [{
            "name": "Deploy Ollama",
            "hosts": "{{ chiffon_hosts | default('monitoring') }}",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Create Ollama's directory",
                    "ansible.builtin.file": {
                        "path": "{{ homelab_srv }}/ollama", "state": "directory", "mode": "0755",
                    },
                },
                {
                    "name": "Write Ollama's compose file",
                    "ansible.builtin.copy": {
                        "dest": "{{ homelab_srv }}/ollama/compose.yaml", "mode": "0644",
                        "content": "services:\n  ollama:\n    image: ollama/ollama:0.4.7\n",
                    },
                },
            ],
        }]  # fmt: skip
        (self.catalog / entry["playbook"]).write_text(yaml.safe_dump(play, sort_keys=False))
        data["entries"].append(entry)
        return entry

    def probe_entries(self) -> tuple[str, str]:
        """Two ``shell-check`` entries added to the lab's copy of the catalog, on the NAS
        (``storage``): ``nas-space`` (is there free space under the lab's root?) and
        ``nas-arrival`` (wait up to ten minutes for ``release_file``); their ids."""
        catalog = self.catalog / "catalog.yml"
        data = yaml.safe_load(catalog.read_text())
        (self.catalog / "checks").mkdir(exist_ok=True)
        (self.catalog / "checks" / "nas-space.yml").write_text(
            "- probe: disk\n  path: ${path}\n  min_free_mb: 1\n"
        )
        (self.catalog / "checks" / "nas-arrival.yml").write_text(
            "- probe: path\n  path: ${file}\n  wait_s: 600\n"
        )
        data["entries"] += [
            {
                "id": "nas-space", "playbook": "checks/nas-space.yml",
                "executor": "shell-check", "hosts": "storage",
                "description": "Check that the NAS has free disk space.",
                "synonyms": ["disk space", "free space"],
                "variables": {"path": {"type": "str", "default": str(self.root)}},
            },
            {
                "id": "nas-arrival", "playbook": "checks/nas-arrival.yml",
                "executor": "shell-check", "hosts": "storage",
                "description": "Wait on the NAS until the release file arrives.",
                "synonyms": ["release file", "arrival"],
                "variables": {"file": {"type": "str", "default": str(self.release_file)}},
            },
        ]  # fmt: skip
        catalog.write_text(yaml.safe_dump(data, sort_keys=False))
        return "nas-space", "nas-arrival"

    @property
    def release_file(self) -> Path:
        """What ``nas-arrival`` waits for, and an instrumented playbook run by an agent
        started with ``release=release_file``."""
        return self.root / "release"

    def release(self) -> None:
        """Let every step that waits for ``release_file`` go."""
        self.release_file.write_text("")

    @staticmethod
    def desktop_file(path: Path, *, vram_free_mb: int, vram_total_mb: int = 24564) -> Path:
        """A ``CHIFFON_RESOURCE_FILE`` for a desktop agent: one GPU with ``vram_free_mb`` of
        free VRAM, and a desktop's CPU and memory (so what the step needs besides VRAM never
        depends on how loaded this shared machine is)."""
        gpu = {
            "index": 0, "name": "Test GPU (from a file)", "utilisation_percent": 3.0,
            "vram_total_mb": vram_total_mb, "vram_free_mb": vram_free_mb,
        }  # fmt: skip
        figures = {"cpu_count": 16, "memory_total_mb": 65536, "memory_available_mb": 49152}
        path.write_text(json.dumps({**figures, "gpus": [gpu]}))
        return path

    def deployed(self, entry: GpuEntry) -> list[Path]:
        """The compose files the entry's playbook wrote, on whichever host it targets."""
        return sorted(self.target.glob(f"*/srv/{entry.id}/compose.yaml"))


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


@dataclasses.dataclass(frozen=True, slots=True)
class GpuEntry:
    """A catalog entry whose steps need GPU memory."""

    id: str
    vram_mb: int


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


def json_events(text: str) -> list[dict[str, Any]]:
    """The JSON log lines of ``text``."""
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                item = json.loads(line)
                if isinstance(item, dict):
                    found.append(item)
    return found


async def queue_exists(amqp_url: str, name: str) -> bool:
    import aio_pika
    from aiormq.exceptions import ChannelNotFoundEntity

    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        try:
            await channel.declare_queue(name, passive=True)
        except ChannelNotFoundEntity:
            return False
        return True


async def delete_queues(amqp_url: str, names: list[str]) -> None:
    import aio_pika

    async with await aio_pika.connect(amqp_url) as connection:
        for name in names:
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(name)
