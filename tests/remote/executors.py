"""The remote fault tests hold whatever the executor: each runs once for Ansible (an ``infra``
agent) and once for the shell-check probes (a ``shell-check`` agent on the NAS), each
described here by a ``RemoteExecutor`` — its agent, a request whose first step waits until the
test lets it go (``RemoteLab.release``), and how to find the processes of an attempt.
"""

from __future__ import annotations

import dataclasses
import subprocess
import uuid
from collections import Counter
from typing import Any

import psutil

from chiffon.agents.infra.processes import attempt_marker, processes_naming
from tests.recovery.lab import README_REQUEST, wait_until

from .lab import RemoteLab


@dataclasses.dataclass(frozen=True)
class RemoteExecutor:
    name: str
    kind: str
    """The agent's kind (``chiffon agent --kind``)."""
    base: str
    """What its agent's name starts with."""
    hosts: tuple[str, ...]
    """The hosts its agent declares (``--host``)."""
    request: str
    """A request planned as ``held`` then ``rest``."""
    held: str
    """The first step: it waits for the lab's release file."""
    rest: tuple[str, ...]
    """The steps after it, each quick."""
    counted: bool
    """Whether its steps count their executions (``RemoteLab.executions``): Ansible's
    instrumented playbooks do; probes only read."""

    def prepare(self, lab: RemoteLab) -> None:
        """What the lab's catalog needs for the request."""
        if self.kind == "shell-check":
            lab.probe_entries()

    def start_agent(self, lab: RemoteLab, name: str, **options: Any) -> subprocess.Popen[bytes]:
        """Its agent, whose held steps wait for the lab's release file."""
        return lab.start_agent(
            name, kind=self.kind, hosts=self.hosts, release=lab.release_file, **options
        )

    def running(self, lab: RemoteLab, run_id: uuid.UUID) -> dict[str, Any]:
        """Wait until the held step runs on its agent (its execution counted, if it counts);
        its step row."""

        def running() -> dict[str, Any] | None:
            if self.counted and self.held not in lab.executions():
                return None
            return next(
                (s for s in lab.records.steps(run_id)
                 if s["playbook"] == self.held and s["status"] == "running"),
                None,
            )  # fmt: skip

        return wait_until(
            running,
            lambda: f"{self.held} to run: {lab.records.steps(run_id)}, {lab.executions()}",
        )

    def workers(self, lab: RemoteLab, name: str, step: dict[str, Any]) -> list[psutil.Process]:
        """Wait until the attempt ``step`` on agent ``name`` waits for the release file;
        the processes working on it."""
        if self.kind != "shell-check":
            return lab.sleeping_module(name)
        # Once the worker said it waits: one whose agent is killed before its first line dies
        # writing it (nobody reads its pipe), and would pass for taken over.
        wait_until(
            lambda: lab.records.fetch(
                "SELECT 1 FROM run_events WHERE run_id = $1 AND kind = 'step.output'"
                " AND data ->> 'step_id' = $2 AND data ->> 'event' = 'probe_waiting'",
                step["run_id"], str(step["id"]),
            ),
            f"{name}'s probe worker to wait",
        )  # fmt: skip
        # The attempt's worker (not a dry run's, which names the agent's work directory too).
        marker = attempt_marker(step["id"], step["attempt"])
        return wait_until(lambda: processes_naming(marker) or None, f"{name}'s probe worker to run")

    def executed(self, held: int, *, rest: int = 1) -> Counter[str]:
        """What ``RemoteLab.executions`` says once the held step ran ``held`` times and each
        of the rest ``rest`` times (nothing, for an executor that counts nothing)."""
        if not self.counted:
            return Counter()
        return Counter({self.held: held, **dict.fromkeys(self.rest, rest)}) - Counter()


ANSIBLE = RemoteExecutor(
    name="ansible", kind="infra", base="infra", hosts=(), request=README_REQUEST,
    held="uptime-kuma", rest=("uptime-kuma-monitors",), counted=True,
)  # fmt: skip

SHELL_CHECK = RemoteExecutor(
    name="shell-check", kind="shell-check", base="nas", hosts=("nas",),
    request="wait for the release file on the nas", held="nas-arrival", rest=(), counted=False,
)  # fmt: skip

EXECUTORS = [ANSIBLE, SHELL_CHECK]
