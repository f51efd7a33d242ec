"""Agents for the capacity tests, in the test's own process: a desktop agent with the GPU a
resource file says, the network between an agent and the registry (which a test can cut, or
point at another registry), and a listener that lets a test wait for a run's events."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import anyio

from chiffon.actors import ActorRef, ActorSystem, LocalRef, handler
from chiffon.actors.actor import Actor
from chiffon.agents.infra import ansible_agent
from chiffon.agents.resources import FileSampler
from chiffon.catalog import Catalog
from chiffon.protocol import StepOutput, StepResult, StepStatusReport
from chiffon.runs import RunEvent

GPU = {"index": 0, "name": "Test GPU", "utilisation_percent": 3, "vram_total_mb": 24576}


def resource_file(path: Path, *, vram_free_mb: int | None = None, **fields: Any) -> Path:
    """A resource file: a GPU with ``vram_free_mb`` free (none if ``None``) and ``fields``."""
    gpus = [] if vram_free_mb is None else [{**GPU, "vram_free_mb": vram_free_mb}]
    note = None if gpus else "no GPU in this test"
    path.write_text(json.dumps({"gpus": gpus, "gpu_note": note, **fields}))
    return path


@dataclasses.dataclass
class Cut:
    """The link stops forwarding."""


@dataclasses.dataclass
class Reconnect:
    """The link forwards again, to ``registry``."""

    registry: ActorRef


class Link(Actor):
    """The network between an agent and a registry: forwards what the agent says (keeping its
    sender) while it is up."""

    def __init__(self, registry: ActorRef) -> None:
        self.registry: ActorRef | None = registry

    @handler
    def cut(self, _: Cut) -> None:
        self.registry = None

    @handler
    def reconnect(self, message: Reconnect) -> None:
        self.registry = message.registry

    @handler(object)
    async def forward(self, message: object) -> None:
        if self.registry is not None:
            await self.registry.tell(message, sender=self.context.sender)


async def desktop(
    actors: ActorSystem, catalog: Catalog, root: Path, registry: ActorRef, name: str, *,
    vram_free_mb: int | None = 16384, memory_available_mb: int = 64000,
    interval_s: float = 30.0,
) -> LocalRef:  # fmt: skip
    """Desktop agent ``name`` working under ``root/name`` (its own target root), announcing
    itself to ``registry`` (a link, usually)."""
    sampler = FileSampler(
        resource_file(
            root / f"{name}.json", vram_free_mb=vram_free_mb,
            memory_available_mb=memory_available_mb,
        )
    )  # fmt: skip
    return await actors.spawn(
        lambda: ansible_agent(
            catalog, target_root=root / name / "target", work_dir=root / name / "work",
            output_cap=8192, name=name, kind="desktop", registry=registry, sampler=sampler,
            heartbeat_interval_s=interval_s,
        ),
        name=name,
    )  # fmt: skip


MODELS: dict[type, str] = {
    StepOutput: "step.output", StepResult: "step.result", StepStatusReport: "step.status",
}  # fmt: skip


class Events:
    """A run listener whose events a test can wait for."""

    def __init__(self) -> None:
        self.seen: list[RunEvent] = []
        self._changed = anyio.Event()

    def __call__(self, event: RunEvent) -> None:
        self.seen.append(event)
        self._changed.set()
        self._changed = anyio.Event()

    def of(self, kind: str | type) -> list[Any]:
        """The events of ``kind`` (a ``RunEvent`` kind), or the messages they carry (a
        protocol model: ``StepOutput``, ``StepResult``, ``StepStatusReport``)."""
        if isinstance(kind, str):
            return [e for e in self.seen if e.kind == kind]
        model: Any = kind
        return [model.model_validate(e.data) for e in self.seen if e.kind == MODELS[kind]]

    async def until(self, kind: str | type, count: int = 1, timeout: float = 60.0) -> Any:
        """Wait for the ``count``-th event of ``kind``; returns it."""
        with anyio.fail_after(timeout):
            while len(self.of(kind)) < count:
                await self._changed.wait()
        return self.of(kind)[count - 1]
