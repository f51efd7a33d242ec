"""``ProbeExecutor``: the executor of the ``shell-check`` kind (see the port,
``chiffon.agents.executor``, and the probe file format, ``declared``).

- ``check``: the catalog's checks, the step's hosts all names of this machine, and a probe
  file that declares only probes this executor knows.
- ``run``: the probes in a worker process (``worker``) whose command line names the attempt's
  work directory; each observation is an output line (``probe_ok``, ``probe_failed``,
  ``probe_waiting``, after a first ``probes_start``). The step succeeds when every probe
  holds; else it fails, its failure the first probe that did not (a fact a plan stops on).
  Halted (cancelled), it kills the worker before the cancellation goes on.
- ``preview``: the probes once, without waiting (they only read): the facts as they are now.
- ``leftovers``: the worker of an attempt, found by its command line.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from anyio.abc import ByteReceiveStream, Process
from anyio.streams.text import TextReceiveStream

from chiffon.agents.core import Agent
from chiffon.agents.executor import Output, approved_entry, capped, entry_needs
from chiffon.agents.infra.processes import attempt_dir_name, attempt_marker, kill_processes_naming
from chiffon.agents.probes.declared import Probe, load_probes
from chiffon.agents.probes.errors import NotThisMachine, ProbeRunFailed
from chiffon.catalog import Catalog
from chiffon.protocol import (
    HostStats,
    Needs,
    StepExecute,
    StepFailure,
    StepOutput,
    StepPreview,
    StepPreviewResult,
    StepResult,
)

_STATUS = {"ok": "ok", "failed": "failed", "waiting": "info"}
_MARK = {"ok": "✓", "failed": "✗"}


class ProbeExecutor:
    """Runs the probes of ``catalog``'s ``shell-check`` entries on this machine, known as
    ``hosts``; each attempt works in a directory of its own under ``work_dir``;
    ``output_cap`` bounds the output kept in a failure."""

    name = "shell-check"

    def __init__(
        self, catalog: Catalog, *, work_dir: Path, hosts: Sequence[str], output_cap: int
    ) -> None:
        self.catalog = catalog
        self.work_dir = work_dir
        self.output_cap = output_cap
        self._hosts = tuple(hosts)

    @property
    def hosts(self) -> tuple[str, ...]:
        return self._hosts

    def check(
        self,
        playbook: str,
        hosts: Sequence[str],
        variables: Mapping[str, Any],
        digest: str | None,
    ) -> None:
        approved_entry(self.catalog, self.name, playbook, variables, digest)
        others = [host for host in hosts if host not in self._hosts]
        if others:
            raise NotThisMachine(self._hosts, others)
        self.probes(playbook, variables)

    def probes(self, playbook: str, variables: Mapping[str, Any]) -> list[Probe]:
        """The entry's probes with the step's variables (over the declared defaults)."""
        entry = self.catalog.entries[playbook]
        merged = {n: v.default for n, v in entry.variables.items() if v.default is not None}
        merged.update(variables)
        return load_probes(self.catalog.playbook_path(playbook), merged)

    def needs(self, playbook: str) -> Needs:
        return entry_needs(self.catalog, playbook)

    async def run(self, step: StepExecute, output: Output) -> StepResult:
        probes = self.probes(step.playbook, step.variables)
        host = step.hosts[0] if step.hosts else self._hosts[0]
        seq = 0

        def say(event: str, status: str, task: str | None, text: str) -> None:
            nonlocal seq
            output(
                StepOutput(
                    run_id=step.run_id, step_id=step.step_id, seq=seq, event=event, host=host,
                    task=task, status=status,
                    text=text[:8192],
                )
            )  # fmt: skip
            seq += 1

        started = time.monotonic()
        directory = self.work_dir / attempt_dir_name(step.step_id, step.attempt)
        say("probes_start", "info", None, f"{len(probes)} probe(s) on {host}")
        lines = await observe(
            probes, directory,
            lambda line: say(f"probe_{line['state']}", _STATUS[line["state"]], line["title"],
                             line["fact"]),
        )  # fmt: skip
        return self.result(step, host, lines, time.monotonic() - started)

    def result(
        self, step: StepExecute, host: str, lines: list[dict[str, Any]], seconds: float
    ) -> StepResult:
        final = [line for line in lines if line["state"] != "waiting"]
        ok = sum(1 for line in final if line["state"] == "ok")
        failed = len(final) - ok
        failure = None
        if failed:
            first = next(line for line in final if line["state"] == "failed")
            tail = "\n".join(f"{_MARK[line['state']]} {line['fact']}" for line in final)
            failure = StepFailure(
                host=host, task=first["title"], error=first["fact"][:4000],
                output_tail=tail[-min(self.output_cap, 16384) :],
            )  # fmt: skip
        return StepResult(
            run_id=step.run_id, step_id=step.step_id, attempt=step.attempt,
            status="failed" if failure is not None else "succeeded",
            stats={host: HostStats(ok=ok, failed=failed)}, seconds=seconds, failure=failure,
        )  # fmt: skip

    async def preview(self, step: StepPreview) -> StepPreviewResult:
        declared = self.probes(step.playbook, step.variables)
        probes = [probe.model_copy(update={"wait_s": 0.0}) for probe in declared]
        directory = self.work_dir / "preview" / uuid.uuid4().hex
        try:
            lines = await observe(probes, directory, lambda line: None)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        facts = "\n".join(f"{_MARK[line['state']]} {line['fact']}" for line in lines)
        return StepPreviewResult(text=capped(f"nothing changes; the probes see now:\n{facts}"))

    def leftovers(self, step_id: uuid.UUID, attempt: int) -> list[int]:
        return kill_processes_naming(attempt_marker(step_id, attempt))


async def observe(
    probes: list[Probe], directory: Path, on_line: Callable[[dict[str, Any]], None]
) -> list[dict[str, Any]]:
    """Run ``probes`` in a worker process working in ``directory``; each line it prints, to
    ``on_line`` as it comes; all of them. Cancelled, the worker is killed first. Raises
    ``ProbeRunFailed`` when the worker could not run or ended without saying anything."""
    probes_file = directory / "probes.json"
    await anyio.to_thread.run_sync(_write, probes_file, probes)
    command = [sys.executable, "-m", "chiffon.agents.probes.worker", str(probes_file)]
    lines: list[dict[str, Any]] = []
    # A session of its own, like ansible-playbook's workers: a signal to the agent's process
    # group does not stop it halfway through; the agent's halt and leftovers do.
    process = await anyio.open_process(command, start_new_session=True)
    try:
        assert process.stdout is not None
        pending = ""
        async for chunk in TextReceiveStream(process.stdout):
            pending += chunk
            *complete, pending = pending.split("\n")
            for text in complete:
                line = json.loads(text)
                lines.append(line)
                on_line(line)
        await process.wait()
    except BaseException:
        with anyio.CancelScope(shield=True):
            await _kill(process)
        raise
    if len([line for line in lines if line["state"] != "waiting"]) < len(probes):
        errors = b"" if process.stderr is None else await _drain(process.stderr)
        raise ProbeRunFailed(process.returncode, errors.decode(errors="replace")[-2000:])
    return lines


async def _drain(stream: ByteReceiveStream) -> bytes:
    data = b""
    with contextlib.suppress(anyio.EndOfStream, anyio.ClosedResourceError):
        while True:
            data += await stream.receive()
    return data


def _write(probes_file: Path, probes: list[Probe]) -> None:
    probes_file.parent.mkdir(parents=True, exist_ok=True)
    probes_file.write_text(json.dumps([{"title": p.title, **p.model_dump()} for p in probes]))


async def _kill(process: Process) -> None:
    if process.returncode is None:
        process.kill()
    await process.wait()


def probe_agent(
    catalog: Catalog,
    *,
    work_dir: Path,
    hosts: Sequence[str] = ("localhost",),
    output_cap: int = 65536,
    state_dir: Path | None = None,
    **core: Any,
) -> Agent:
    """A ``shell-check`` agent probing this machine (``hosts``) for ``catalog``'s entries; its
    ledger in ``state_dir`` (default ``work_dir``); ``core``: the rest of ``Agent``'s
    arguments (``name``, ``registry``, ``sampler``, …)."""
    executor = ProbeExecutor(catalog, work_dir=work_dir, hosts=hosts, output_cap=output_cap)
    return Agent(executor, state_dir=state_dir or work_dir, kind="shell-check", **core)
