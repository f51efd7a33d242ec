"""The kinds of agent, listed once, and the executors they run.

An agent is the agent core (``chiffon.agents.core.Agent``: ledger, attempts, capacity holds,
status answers, presence) around one *executor* (``chiffon.agents.executor.Executor``): the
part that knows how to carry a step out. A catalog entry names the executor its steps need
(``executor: ansible``, the default, or ``executor: shell-check``); that name is also the
capability an agent running that executor declares, so the registry routes a step to an agent
that declares what the step needs — no kind is special there.

A new kind of agent is an executor (a module implementing the port) and a line in ``KINDS``
(and, for a new executor, one in ``EXECUTORS``). Nothing else lists kinds: the wire protocol
carries a kind as a name, the CLI offers these, the composition builds from them.

Importing this module imports nothing of Chiffon's (an executor's module is imported when one
is built): ``chiffon --help`` reads it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from chiffon.agents.executor import Executor
    from chiffon.catalog import Catalog

Where = Literal["inventory", "itself"]


@dataclasses.dataclass(frozen=True, slots=True)
class Workplace:
    """What an executor is built from: the catalog, where localhost targets write, the
    directory holding each attempt's work directory, the output kept per step, and the names
    of the machine it runs on (for an executor that works only there)."""

    catalog: Catalog
    target_root: Path
    work_dir: Path
    output_cap: int
    hosts: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class ExecutorSpec:
    """An executor as routing sees it. ``where``: ``inventory`` — it reaches a step's hosts
    itself (Ansible over SSH), so any agent running it can take any host; ``itself`` — it
    works only on the machine it runs on, so a step goes to an agent that *is* each of the
    step's hosts (it declares ``host:<name>`` for each name it answers to)."""

    name: str
    where: Where
    description: str
    build: Callable[[Workplace], Executor]


@dataclasses.dataclass(frozen=True, slots=True)
class Kind:
    """A kind of agent: the executor it runs and the capabilities it declares on top of that
    executor's name (a desktop declares ``gpu``: steps needing VRAM go only to it, and then
    only when its measured VRAM fits)."""

    name: str
    executor: str
    extra: tuple[str, ...]
    description: str

    @property
    def capabilities(self) -> tuple[str, ...]:
        """What an agent of this kind declares (before any ``host:`` capabilities)."""
        return (self.executor, *self.extra)


def _ansible(place: Workplace) -> Executor:
    from chiffon.agents.infra.executor import AnsibleExecutor

    return AnsibleExecutor(
        place.catalog, target_root=place.target_root, work_dir=place.work_dir,
        output_cap=place.output_cap,
    )  # fmt: skip


def _probes(place: Workplace) -> Executor:
    from chiffon.agents.probes.executor import ProbeExecutor

    return ProbeExecutor(
        place.catalog, work_dir=place.work_dir, hosts=place.hosts, output_cap=place.output_cap
    )


EXECUTORS: dict[str, ExecutorSpec] = {
    spec.name: spec
    for spec in (
        ExecutorSpec(
            "ansible", "inventory", "runs catalog playbooks with ansible-playbook", _ansible
        ),
        ExecutorSpec(
            "shell-check", "itself",
            "runs a catalog entry's declared read-only probes on its own machine", _probes,
        ),
    )
}  # fmt: skip

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("infra", "ansible", (), "Ansible playbooks"),
        Kind("desktop", "ansible", ("gpu",), "Ansible playbooks on a machine with a GPU"),
        Kind("shell-check", "shell-check", (), "read-only probes of its own machine"),
    )
}

DEFAULT_EXECUTOR = "ansible"
"""The executor of a catalog entry that names none."""


def other_local_kinds(catalog: Catalog, first: str) -> list[Kind]:
    """The kinds an orchestrator's local agents need besides ``first``: one for each other
    executor the catalog's entries name (the first kind listed that runs it), so that every
    entry has an agent in a process without remote ones."""
    have = kind_named(first).executor
    wanted = sorted({entry.executor for entry in catalog.entries.values()} - {have})
    by_executor: dict[str, Kind] = {}
    for kind in KINDS.values():
        by_executor.setdefault(kind.executor, kind)
    return [by_executor[name] for name in wanted if name in by_executor]


def executor_for(kind: Kind, place: Workplace) -> Executor:
    """A new executor for an agent of ``kind``."""
    return EXECUTORS[kind.executor].build(place)


def kind_named(name: str) -> Kind:
    """The kind called ``name``. Raises ``ValueError`` naming the kinds there are."""
    kind = KINDS.get(name)
    if kind is None:
        raise ValueError(f"an agent's kind is one of {', '.join(KINDS)}, not {name!r}")
    return kind


def host_capability(host: str) -> str:
    """The capability of an agent that is ``host`` (for executors that work on themselves)."""
    return f"host:{host}"
