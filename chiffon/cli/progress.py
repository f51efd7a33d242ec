"""The live display of a run in the terminal: the plan as it is ready, a spinner per running
step showing its current task, and one line per finished task (changes and failures stand
out)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chiffon.assembly.domain import LOCAL_AGENT
from chiffon.cli.render import print_plan
from chiffon.orchestrator.events import PlanReady, RunPaused, RunResumed, StepStarted
from chiffon.protocol import StepOutput, StepResult

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from chiffon.catalog import Catalog

MARK = {
    "ok": "[green]ok[/]",
    "changed": "[yellow]changed[/]",
    "failed": "[bold red]failed[/]",
    "unreachable": "[bold red]unreachable[/]",
    "skipped": "[dim]skipped[/]",
}
FAILED = ("failed", "unreachable")


class RunDisplay:
    """A run listener (``chiffon.orchestrator.events.Listener``) drawing on ``console``."""

    def __init__(
        self, console: Console, catalog: Catalog, *, shown_hash: str | None = None
    ) -> None:
        self.console = console
        self.catalog = catalog
        self.shown_hash = shown_hash
        self.status: Status | None = None
        self.step: StepStarted | None = None

    def __call__(self, event: Any) -> None:
        if isinstance(event, PlanReady):
            if event.plan_hash != self.shown_hash:
                print_plan(self.console, event.plan, event.plan_hash, self.catalog)
                self.shown_hash = event.plan_hash
        elif isinstance(event, StepStarted):
            self.step = event
            hosts = ", ".join(event.hosts)
            title = f"step {event.position + 1}/{event.total} [bold]{event.playbook}[/] on {hosts}"
            if event.agent and event.agent != LOCAL_AGENT:
                title += f" by agent {event.agent}"
            if event.attempt > 1:
                title += f" (attempt {event.attempt})"
            self.console.rule(title, align="left")
            self.status = self.console.status(f"{event.playbook}: starting", spinner="dots")
            self.status.start()
        elif isinstance(event, StepOutput):
            self.output(event)
        elif isinstance(event, RunPaused):
            self.stop()
            self.console.print(
                f"[yellow]paused[/]: {event.reason} (waiting up to {event.wait_s:g} s)",
                highlight=False,
            )
        elif isinstance(event, RunResumed):
            self.console.print(f"[green]resumed[/] on agent {event.agent}", highlight=False)
        elif isinstance(event, StepResult):
            self.stop()
            recap = "  ".join(
                f"{host}: ok={s.ok} changed={s.changed} failed={s.failed} "
                f"unreachable={s.unreachable}"
                for host, s in event.stats.items()
            )
            style = "green" if event.status == "succeeded" else "bold red"
            self.console.print(f"[{style}]{event.status}[/] in {event.seconds:.1f} s  {recap}")
            if event.failure is not None:
                f = event.failure
                where = " / ".join(x for x in (f.host, f.task) if x)
                self.console.print(f"[red]{where}: {f.error}[/]")

    def output(self, event: StepOutput) -> None:
        if event.task and self.status is not None and self.step is not None:
            self.status.update(f"{self.step.playbook}: {event.task}")
        mark = MARK.get(event.status)
        if mark is None or not event.task:
            return
        # A loop reports each item, then the task: the task's line says it once. A failed
        # item is kept, for its error (the task's own failure only says the loop failed).
        if event.event.startswith("runner_item_on_") and event.status not in FAILED:
            return
        line = f"  {mark} {event.host or ''} | {event.task}"
        if event.status in FAILED and event.text:
            line += f"\n    [red]{event.text}[/]"
        self.console.print(line, highlight=False)

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None
