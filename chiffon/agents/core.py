"""``Agent``: the agent core. Everything an agent does whatever it runs — the ledger,
attempts and their superseding, redelivery, capacity holds, status answers, presence — around
one executor (``chiffon.agents.executor``) that carries steps out: ``AnsibleExecutor`` for the
``infra`` and ``desktop`` kinds, ``ProbeExecutor`` for ``shell-check`` (``chiffon.agents.kinds``).

Messages it handles (every one a protocol model, so a remote orchestrator can send it):

- ``StepExecute`` (told by a run): checked by the executor (catalog id, its executor,
  declared variables, approved digest; a refusal is a failed ``StepResult``), recorded in the
  ledger, then run by a child ``AttemptRunner`` — one per attempt — so the agent keeps
  answering while it runs. Output lines and the result go to the sender (or to whoever asked
  for the attempt's status since).
- ``CapacityQuery`` (asked by the registry) → ``CapacityOffer``: a live sample minus what its
  running and recently accepted steps reserve; an accepted step's capacity is held for
  ``hold_s`` seconds, until its ``StepExecute`` arrives.
- ``StepStatusQuery`` → ``StepStatusReport`` (returned to an asker, told to a sender):
  ``running`` (and the result will go to this sender), ``finished`` with the result, or
  ``unknown``.
- ``StepPreview`` (asked) → ``StepPreviewResult``: the executor's dry run, or why there is
  none. A preview runs in the agent's own handler: it holds other questions for its few
  seconds, never the heartbeats (those come from the agent's ``Presence`` child).
- ``StepCancel`` (told by a run that gave up on an attempt): the attempt, if it still runs
  here, is stopped (see below) and recorded ``interrupted`` with the reason; otherwise
  nothing happens.
- ``AgentsDiscover`` → announces itself again.

Redelivery and restarts (the ledger, ``chiffon.agents.ledger``): an attempt already seen (same
step id and attempt, whatever the envelope) never runs twice — while it runs, the new sender
becomes its recipient; once finished, its stored result is told again. An attempt that a
previous process of this agent started and never finished is taken over at start: what is
left of it is killed (the executor's ``leftovers``) and it is recorded ``interrupted``, which
is what a status question or a redelivery then hears. With a ``journal``, an envelope already
processed (the inbox) is ignored as before.

One attempt of a step at a time (a step is its run and its position in the plan; each
attempt has a step id of its own): the orchestrator sends attempt M only once it has given up
on attempt N < M, but an agent cut off from the broker may still run N when M arrives. N is
then *superseded* before M starts: halted (its executor's ``run`` cancelled), whatever is left
of that attempt (and only that attempt) killed, recorded ``interrupted`` ("superseded by
attempt M"), and that result told to its recipient (the run ignores a result for an attempt
it no longer waits for). An execute older than an attempt of the same step that the ledger
holds is refused with a failed result, and nothing runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.metadata
import time
import uuid
from pathlib import Path
from typing import Any, TypeVar

import structlog

from chiffon.actors import (
    Actor,
    ActorRef,
    Directive,
    Journal,
    LocalRef,
    OneForOne,
    Terminated,
    handler,
)
from chiffon.agents.attempts import AttemptFinished, AttemptRunner, Halt, Recipient, RunAttempt
from chiffon.agents.capacity import NOTHING, free, shortfalls, total
from chiffon.agents.errors import AgentError, AttemptOutdated, LedgerUnavailable
from chiffon.agents.executor import Executor, failed, interrupted
from chiffon.agents.kinds import host_capability, kind_named
from chiffon.agents.ledger import Attempt, Ledger
from chiffon.agents.presence import Identity, Presence, Reannounce
from chiffon.agents.resources import Sampler, SystemSampler
from chiffon.errors import ChiffonError
from chiffon.ownership import is_alive, this_process
from chiffon.protocol import (
    AgentsDiscover,
    CapacityOffer,
    CapacityQuery,
    Needs,
    Plan,
    ResourceSample,
    StepCancel,
    StepExecute,
    StepPreview,
    StepPreviewResult,
    StepResult,
    StepStatusQuery,
    StepStatusReport,
)
from chiffon.sealing import Sealer, Unsealable, is_sealed

log = structlog.get_logger("chiffon.agents")
_WithVariables = TypeVar("_WithVariables", StepExecute, StepPreview)

LEDGER_KEEP_S = 7 * 24 * 3600.0
"""How long finished attempts stay in the ledger for status questions."""


def chiffon_version() -> str:
    try:
        return importlib.metadata.version("chiffon")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@dataclasses.dataclass(slots=True)
class _Running:
    message: StepExecute
    needs: Needs
    recipient: Recipient
    runner: LocalRef
    halt: Halt


class Agent(Actor):
    """Carries out steps with ``executor`` for the orchestrator, on this machine.

    The ledger is ``state_dir/ledger-<name>.sqlite3``. With a ``registry`` the agent
    announces itself there as ``name``, of ``kind`` (one of ``chiffon.agents.kinds.KINDS``),
    declaring the kind's capabilities and a ``host:<name>`` one for each host the executor
    works on, and sends a heartbeat every ``heartbeat_interval_s``; ``sampler`` measures the
    machine (default: ``SystemSampler``). ``journal``, when given, also de-duplicates
    redelivered envelopes by id.

    Raises ``ValueError`` for an unknown kind. ``on_start`` raises ``LedgerUnavailable`` when
    the ledger cannot be opened and ``ResourceFileInvalid`` when a ``FileSampler``'s file is
    invalid: the agent does not start.
    """

    # A runner is never restarted: that would run its step a second time.
    supervisor_strategy = OneForOne(decider=lambda exc: Directive.STOP)

    def __init__(
        self,
        executor: Executor,
        *,
        state_dir: Path,
        journal: Journal | None = None,
        name: str = "infra",
        kind: str = "infra",
        sampler: Sampler | None = None,
        registry: ActorRef | None = None,
        heartbeat_interval_s: float = 5.0,
        hold_s: float = 30.0,
        version: str | None = None,
        sealer: Sealer | None = None,
    ) -> None:
        declared = kind_named(kind).capabilities + tuple(
            host_capability(host) for host in executor.hosts or ()
        )
        self.executor = executor
        self.sealer = sealer
        self.journal = journal
        self.name = name
        self.identity = Identity(name, kind, version or chiffon_version(), declared)
        self.ledger_path = state_dir / f"ledger-{name}.sqlite3"
        self.sampler: Sampler = sampler if sampler is not None else SystemSampler()
        self.registry = registry
        self.heartbeat_interval_s = heartbeat_interval_s
        self.hold_s = hold_s
        self.running: dict[tuple[uuid.UUID, int], _Running] = {}
        self.holds: dict[uuid.UUID, tuple[Needs, float]] = {}
        self.presence: LocalRef | None = None
        self.last_sample: ResourceSample | None = None
        self._ledger: Ledger | None = None

    # -- life ------------------------------------------------------------------------------

    @property
    def ledger(self) -> Ledger:
        assert self._ledger is not None, "the ledger opens in on_start"
        return self._ledger

    async def on_start(self) -> None:
        self.last_sample = self.sampler.sample()
        self._ledger = await asyncio.to_thread(Ledger, self.ledger_path, this_process())
        await asyncio.to_thread(self.ledger.prune, LEDGER_KEEP_S)
        # Nothing runs in this instance yet: an unfinished attempt of this process was cut
        # off by a restart of the agent (its runner stopped with the old instance).
        for attempt in await asyncio.to_thread(self.ledger.unfinished):
            if self.orphaned(attempt):
                await self.take_over(attempt)
        if self.registry is not None:
            self.presence = await self.context.spawn(
                Presence, self.identity, self.context.self_ref, self.registry, self.sampler,
                interval_s=self.heartbeat_interval_s, running=self.running_ids,
                name=f"{self.name}.presence",
            )  # fmt: skip

    async def on_stop(self) -> None:
        if self._ledger is not None:
            self._ledger.close()

    def running_ids(self) -> tuple[uuid.UUID, ...]:
        return tuple(step_id for step_id, _ in self.running)

    # -- execution -------------------------------------------------------------------------

    @handler
    async def execute(self, message: StepExecute) -> None:
        """Start one approved step in a runner of its own; see the module docstring."""
        envelope = self.context.envelope
        sender = self.context.sender
        key = (message.step_id, message.attempt)
        if key in self.running:  # redelivered while it runs: the result goes to the new sender
            if sender is not None:
                self.running[key].recipient.ref = sender
            return
        if (
            self.journal is not None
            and envelope is not None
            and not await self.journal.mark_processed(f"infra:{self.name}", envelope.id)
        ):
            return
        # An older attempt of this step still running here (this agent was cut off when the
        # orchestrator gave up on it) ends before this one is even recorded, so that their
        # times in the ledger never overlap.
        for older, running in list(self.running.items()):
            if _same_step(running.message, message) and running.message.attempt < message.attempt:
                await self.stop_attempt(older, f"superseded by attempt {message.attempt}")
        envelope_id = None if envelope is None else str(uuid.UUID(int=envelope.id))
        try:
            seen = await asyncio.to_thread(
                self.ledger.begin, message.run_id, message.step_id, message.attempt, envelope_id,
                message.position,
            )  # fmt: skip
        except (LedgerUnavailable, AttemptOutdated) as exc:
            # Nothing runs that the ledger cannot vouch for, or knows the orchestrator gave up on.
            await self.tell(Recipient(sender), failed(message, f"refused: {exc}"))
            return
        if seen is not None:
            await self.redelivered(seen, sender)
            return
        try:
            message = self.opened(message)
            self.executor.check(message.playbook, message.hosts, message.variables, message.digest)
        except ChiffonError as exc:
            await self.finished(failed(message, f"refused: {exc}"), Recipient(sender))
            return
        held = self.holds.pop(message.step_id, None)
        needs = held[0] if held is not None else self.executor.needs(message.playbook)
        recipient = Recipient(sender)
        halt = Halt()
        runner = await self.context.spawn(
            AttemptRunner, self.executor, message, recipient, halt,
            name=f"{self.name}.step-{message.step_id}-{message.attempt}",
        )  # fmt: skip
        self.context.watch(runner)
        self.running[key] = _Running(message, needs, recipient, runner, halt)
        await runner.tell(RunAttempt())

    @handler
    async def cancel(self, message: StepCancel) -> None:
        """Stop the attempt if it still runs here; anything else about it stays as it is."""
        key = (message.step_id, message.attempt)
        if key not in self.running:
            log.info(
                "cancel for an attempt not running here ignored",
                step_id=str(message.step_id), attempt=message.attempt,
            )  # fmt: skip
            return
        await self.stop_attempt(key, f"cancelled by the orchestrator: {message.reason}")

    async def stop_attempt(self, key: tuple[uuid.UUID, int], why: str) -> None:
        """Stop a running attempt before anything else happens here: halted (its runner
        waits for the executor to stop what it started), then whatever is left of it killed
        (the executor's ``leftovers``); recorded ``interrupted`` saying ``why`` and told to
        its recipient — or, had it just ended, its own result."""
        running = self.running.pop(key)
        message = running.message
        self.context.unwatch(running.runner)
        running.halt(why)
        await running.runner.stop()
        killed = await asyncio.to_thread(self.executor.leftovers, message.step_id, message.attempt)
        log.warning(
            "attempt stopped", step_id=str(message.step_id), attempt=message.attempt,
            reason=why, leftovers_killed=killed,
        )  # fmt: skip
        result = running.halt.result
        if result is None:
            result = interrupted(message.run_id, message.step_id, message.attempt, why)
        await self.finished(result, running.recipient)

    @handler
    async def on_attempt_finished(self, message: AttemptFinished) -> None:
        result = message.result
        running = self.running.pop((result.step_id, result.attempt), None)
        if running is None:
            return
        self.context.unwatch(running.runner)
        await running.runner.stop()
        await self.finished(result, running.recipient)

    @handler
    async def on_terminated(self, message: Terminated) -> None:
        """A runner stopped without a result (it failed): the attempt failed, and says so."""
        for key, running in list(self.running.items()):
            if running.runner == message.ref:
                del self.running[key]
                why = f"the step's runner stopped: {message.cause!r}"
                await self.finished(failed(running.message, why), running.recipient)

    async def finished(self, result: StepResult, recipient: Recipient) -> None:
        """Record the result, then tell it."""
        try:
            await asyncio.to_thread(self.ledger.finish, result)
        except LedgerUnavailable as exc:  # the result still goes out; only a later question
            log.warning("step result not recorded in the ledger", error=str(exc))
        await self.tell(recipient, result)

    async def tell(self, recipient: Recipient, result: StepResult) -> None:
        """Tell a result. A recipient that cannot be reached loses nothing: the ledger keeps
        the result for a status question (and an exception here would restart the agent,
        stopping every running attempt)."""
        if recipient.ref is None:
            return
        try:
            await recipient.ref.tell(result)
        except Exception as exc:
            log.warning(
                "step result not delivered; kept for a status question",
                step_id=str(result.step_id), attempt=result.attempt, error=str(exc) or repr(exc),
            )  # fmt: skip

    async def redelivered(self, seen: Attempt, sender: ActorRef | None) -> None:
        """An attempt met before: tell its result again (never run it again)."""
        result = seen.result
        if result is None and self.orphaned(seen):
            result = await self.take_over(seen)
        if result is None:
            log.info("attempt is being run by another process", step_id=str(seen.step_id))
            return
        await self.tell(Recipient(sender), result)

    def orphaned(self, attempt: Attempt) -> bool:
        """Started and unfinished, and nobody runs it: not this instance (which knows what it
        runs), and no other live process."""
        if (attempt.step_id, attempt.attempt) in self.running:
            return False
        return attempt.owner == self.ledger.owner or not is_alive(attempt.owner)

    async def take_over(self, attempt: Attempt) -> StepResult:
        """An attempt a dead process of this agent started: kill what is left of it, and
        record it interrupted."""
        killed = await asyncio.to_thread(self.executor.leftovers, attempt.step_id, attempt.attempt)
        if killed:
            log.warning(
                "killed what was left of an interrupted attempt",
                step_id=str(attempt.step_id), pids=killed,
            )  # fmt: skip
        result = interrupted(
            attempt.run_id, attempt.step_id, attempt.attempt,
            f"the agent {self.name} stopped while it ran this attempt "
            f"(in process {attempt.owner})",
        )  # fmt: skip
        await asyncio.to_thread(self.ledger.finish, result)
        return result

    # -- questions -------------------------------------------------------------------------

    @handler
    async def capacity(self, message: CapacityQuery) -> CapacityOffer:
        """Whether the step fits now, by a live sample minus reservations; see the module
        docstring. Holds the capacity for ``hold_s`` seconds when it does."""
        now = time.monotonic()
        self.holds = {k: v for k, v in self.holds.items() if v[1] > now}
        try:
            sample = self.last_sample = self.sampler.sample()
        except AgentError as exc:
            why = f"{self.name} cannot measure its resources: {exc}"
            return self._offer(self.last_sample, NOTHING, why)
        reserved = total(
            [r.needs for r in self.running.values()]
            + [needs for step, (needs, _) in self.holds.items() if step != message.step_id]
        )
        available = free(sample, reserved)
        needs = message.needs
        if needs.gpu_vram_mb and not sample.gpus:
            return self._offer(sample, available, f"{self.name} has no GPU ({sample.gpu_note})")
        short = shortfalls(needs, available)
        if short:
            return self._offer(sample, available, f"{self.name} lacks {', '.join(short)}")
        self.holds[message.step_id] = (needs, now + self.hold_s)
        return self._offer(sample, available, None)

    def _offer(
        self, sample: ResourceSample | None, available: Needs, refusal: str | None
    ) -> CapacityOffer:
        assert sample is not None, "on_start took a first sample"
        return CapacityOffer(
            name=self.name, accepted=refusal is None, reason=refusal, available=available,
            resources=sample,
        )  # fmt: skip

    @handler
    async def status(self, message: StepStatusQuery) -> StepStatusReport:
        """What became of an attempt; told back to a sender that did not ask."""
        envelope = self.context.envelope
        sender = self.context.sender
        report = await self.report(message, sender)
        if sender is not None and envelope is not None and envelope.reply is None:
            await sender.tell(report)
        return report

    async def report(self, message: StepStatusQuery, sender: ActorRef | None) -> StepStatusReport:
        fields: dict[str, Any] = {
            "name": self.name, "run_id": message.run_id, "step_id": message.step_id,
            "attempt": message.attempt,
        }  # fmt: skip
        running = self.running.get((message.step_id, message.attempt))
        if running is not None:
            if sender is not None:
                running.recipient.ref = sender  # the result now goes to who asked last
            return StepStatusReport(state="running", **fields)
        try:
            seen = await asyncio.to_thread(self.ledger.get, message.step_id, message.attempt)
        except LedgerUnavailable as exc:
            return StepStatusReport(state="unknown", reason=str(exc), **fields)
        if seen is not None and seen.result is None and self.orphaned(seen):
            return StepStatusReport(state="finished", result=await self.take_over(seen), **fields)
        if seen is not None and seen.result is not None:
            return StepStatusReport(state="finished", result=seen.result, **fields)
        why = (
            f"{self.name} never started this attempt"
            if seen is None
            else f"another process of {self.name} ({seen.owner}) runs this attempt"
        )
        return StepStatusReport(state="unknown", reason=why, **fields)

    @handler
    async def preview(self, message: StepPreview) -> StepPreviewResult:
        """The step's dry run (the executor's), or why the step would be refused
        (``refused``)."""
        try:
            message = self.opened(message)
            self.executor.check(message.playbook, message.hosts, message.variables, message.digest)
        except ChiffonError as exc:
            return StepPreviewResult(text=f"no dry run: {exc}", refused=True)
        return await self.executor.preview(message)

    def opened(self, message: _WithVariables) -> _WithVariables:
        """``message`` with its sealed variables opened: secrets are opened only here, to run.
        Raises ``Unsealable`` when one cannot be (no key, or another installation's)."""
        if not any(is_sealed(v) for v in message.variables.values()):
            return message
        if self.sealer is None:
            raise Unsealable(
                "a variable is sealed and this agent holds no sealing key "
                "(CHIFFON_SEALING_KEY_FILE: the orchestrator's)"
            )
        return message.model_copy(update={"variables": self.sealer.open_values(message.variables)})

    @handler
    async def discover(self, _: AgentsDiscover) -> None:
        if self.presence is not None:
            await self.presence.tell(Reannounce())


async def preview_plan(agent: ActorRef, plan: Plan, *, timeout: float = 300.0) -> tuple[str, ...]:
    """Each step's dry run, in order, asked of ``agent`` (an ``Agent``): what
    ``PlanProposed.dry_run`` holds. A step the agent refuses gets the reason instead.

    Raises ``AskTimeout`` when one step's dry run takes longer than ``timeout`` seconds.
    """
    answers: list[str] = []
    for step in plan.steps:
        ask = StepPreview(
            playbook=step.playbook, hosts=step.hosts, variables=dict(step.variables),
            digest=step.digest or None,
        )  # fmt: skip
        answer: StepPreviewResult = await agent.ask(ask, timeout=timeout)
        answers.append(answer.text)
    return tuple(answers)


def _same_step(a: StepExecute, b: StepExecute) -> bool:
    """Attempts of one step: the same run, the same place in its plan."""
    return a.run_id == b.run_id and a.position == b.position
