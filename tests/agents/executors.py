"""The agent core's guarantees (one attempt at a time, superseding, cancels, the ledger,
take-over after a crash) hold whatever the executor: the fault tests run once per executor,
each described here by a ``Flavour`` — how to build its agent, a step that waits until the
test lets it go (``slow``), one that ends at once (``quick``), and how to tell its processes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from chiffon.actors import Actor
from chiffon.agents.infra import ansible_agent
from chiffon.agents.probes.executor import probe_agent
from chiffon.catalog import Catalog
from chiffon.protocol import StepExecute

from .standin import step


@dataclasses.dataclass(frozen=True)
class Flavour:
    name: str
    build: Callable[..., Actor]
    """``build(catalog, root, **core)``: the agent, working under ``root``."""
    slow_playbook: str
    quick_playbook: str
    start_event: str
    """The output event an attempt starts with (counted: nothing may run twice)."""
    waiting: Callable[[psutil.Process], bool]
    """Whether a process of an attempt is the one that waits."""
    writes: bool
    """Whether its steps leave files under the target root (Ansible's do; probes only read)."""

    def slow(self, catalog: Catalog, root: Path, where: str = "box", **changes: Any) -> StepExecute:
        """A step that waits until ``release(root, where)``."""
        if self.writes:
            return step(catalog, self.slow_playbook, hosts=(where,), **changes)
        release = str(_release_file(root, where))
        return step(
            catalog, self.slow_playbook, hosts=("localhost",), variables={"file": release},
            **changes,
        )  # fmt: skip

    def quick(self, catalog: Catalog, root: Path, **changes: Any) -> StepExecute:
        if self.writes:
            return step(catalog, self.quick_playbook, **changes)
        variables = {"path": str(root)} | changes.pop("variables", {})
        return step(
            catalog, self.quick_playbook, hosts=("localhost",), variables=variables, **changes
        )

    def release(self, root: Path, where: str = "box") -> None:
        """Let the slow step on ``where`` end."""
        path = _release_file(root, where)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")


def _release_file(root: Path, where: str) -> Path:
    # Where slow.yml waits for a file (root is chiffon_target_root/<host>).
    return root / "target" / where / "never"


def _ansible(catalog: Catalog, root: Path, **core: Any) -> Actor:
    return ansible_agent(
        catalog, target_root=root / "target", work_dir=root / "work", output_cap=4096, **core
    )


def _probes(catalog: Catalog, root: Path, **core: Any) -> Actor:
    return probe_agent(catalog, work_dir=root / "work", output_cap=4096, **core)


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


ANSIBLE = Flavour(
    "ansible", _ansible, "slow", "write", "playbook_on_start",
    # Python running the wait_for module (the shells that chmod it name it too, and are gone
    # a moment later).
    lambda p: any(a.endswith("/AnsiballZ_wait_for.py") for a in _cmdline(p)),
    writes=True,
)  # fmt: skip
PROBES = Flavour(
    "shell-check", _probes, "arrival", "room", "probes_start",
    lambda p: "chiffon.agents.probes.worker" in _cmdline(p),
    writes=False,
)  # fmt: skip
FLAVOURS = (ANSIBLE, PROBES)
