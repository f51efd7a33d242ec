"""Capacity arithmetic shared by the agent (which answers for itself) and the registry (which
picks whom to ask): what a sample leaves free, whether a step's ``Needs`` fit, and sentences
saying what is short.

What counts as free, per resource:

- **VRAM**: the live figure — the most free VRAM on any one GPU (a model loads on one GPU),
  minus what accepted steps reserve. Something else on the machine (a game, another model)
  takes VRAM that a step then cannot have.
- **Memory**: the live available memory, minus reservations, for the same reason.
- **CPU cores**: the machine's core count minus reservations, *not* the live utilisation. A
  busy CPU slows a step down but does not break it, and utilisation swings from one sample to
  the next: refusing on it would pause runs at random. The live figures (utilisation, load)
  are reported all the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from chiffon.agents.kinds import DEFAULT_EXECUTOR, EXECUTORS, host_capability
from chiffon.catalog import Catalog
from chiffon.protocol import Needs, ResourceSample

NOTHING = Needs()


@dataclasses.dataclass(frozen=True, slots=True)
class Requirement:
    """What a step asks of the agent that takes it: capabilities it must declare, and
    resources it must have free."""

    capabilities: frozenset[str]
    needs: Needs = NOTHING


def capabilities_needed(
    executor: str, needs: Needs = NOTHING, hosts: Sequence[str] = ()
) -> frozenset[str]:
    """The capabilities a step of ``executor`` with ``needs`` on ``hosts`` asks for: the
    executor's name; ``gpu`` when it needs VRAM; and, for an executor that works only on its
    own machine, ``host:<name>`` for each host (see ``chiffon.agents.kinds``)."""
    wanted = {executor}
    if needs.gpu_vram_mb > 0:
        wanted.add("gpu")
    spec = EXECUTORS.get(executor)
    if spec is not None and spec.where == "itself":
        wanted.update(host_capability(host) for host in hosts)
    return frozenset(wanted)


def requirement(catalog: Catalog, playbook: str, hosts: Sequence[str] = ()) -> Requirement:
    """What a step of catalog entry ``playbook`` on ``hosts`` asks of its agent (an entry the
    catalog lacks asks for the default executor only: the agent then refuses it, saying
    why)."""
    entry = catalog.entries.get(playbook)
    if entry is None:
        return Requirement(capabilities_needed(DEFAULT_EXECUTOR))
    needs = Needs(**entry.resources.model_dump())
    return Requirement(capabilities_needed(entry.executor, needs, hosts), needs)


def total(parts: Iterable[Needs]) -> Needs:
    """The sum of several steps' needs (what they reserve together)."""
    cpu, memory, vram = 0.0, 0, 0
    for part in parts:
        cpu += part.cpu_cores
        memory += part.memory_mb
        vram += part.gpu_vram_mb
    return Needs(cpu_cores=cpu, memory_mb=memory, gpu_vram_mb=vram)


def free(sample: ResourceSample, reserved: Needs = NOTHING) -> Needs:
    """What ``sample`` leaves for a new step once ``reserved`` is set aside."""
    return Needs(
        cpu_cores=max(sample.cpu_count - reserved.cpu_cores, 0.0),
        memory_mb=max(sample.memory_available_mb - reserved.memory_mb, 0),
        gpu_vram_mb=max(sample.vram_free_mb - reserved.gpu_vram_mb, 0),
    )


def fits(needs: Needs, available: Needs) -> bool:
    """Whether a step with ``needs`` fits in ``available``."""
    return not shortfalls(needs, available)


def shortfalls(needs: Needs, available: Needs) -> list[str]:
    """What is short, one phrase per resource: ``"8192 MB of VRAM (4096 MB free)"``."""
    out = []
    if needs.gpu_vram_mb > available.gpu_vram_mb:
        out.append(f"{needs.gpu_vram_mb} MB of VRAM ({available.gpu_vram_mb} MB free)")
    if needs.memory_mb > available.memory_mb:
        out.append(f"{needs.memory_mb} MB of memory ({available.memory_mb} MB free)")
    if needs.cpu_cores > available.cpu_cores:
        out.append(f"{_cores(needs.cpu_cores)} CPU cores ({_cores(available.cpu_cores)} free)")
    return out


def best_of(needs: Needs, candidates: Iterable[tuple[str, Needs]]) -> list[str]:
    """Why none of ``candidates`` (name, what it has free) fits, naming the best of each
    short resource: ``"8192 MB of free VRAM (best: desk-1 with 4096 MB)"``."""
    pool = list(candidates)
    reasons = []
    for field, template in _DIMENSIONS:
        wanted = getattr(needs, field)
        if not wanted or not pool:
            continue
        name, most = max(((n, getattr(a, field)) for n, a in pool), key=lambda p: (p[1], p[0]))
        if most < wanted:
            shown = _cores if field == "cpu_cores" else int
            reasons.append(template.format(wanted=shown(wanted), name=name, most=shown(most)))
    return reasons


_DIMENSIONS = (
    ("gpu_vram_mb", "{wanted} MB of free VRAM (best: {name} with {most} MB)"),
    ("memory_mb", "{wanted} MB of free memory (best: {name} with {most} MB)"),
    ("cpu_cores", "{wanted} free CPU cores (best: {name} with {most})"),
)


def _cores(value: float) -> str:
    return f"{value:g}"
