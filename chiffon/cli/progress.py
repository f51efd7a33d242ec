"""The live display of a run in the terminal: the plan as it is ready, a spinner per running
step showing its current task, and one line per finished task (changes and failures stand
out)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chiffon.assembly.domain import LOCAL_AGENT
from chiffon.cli.render import print_plan
from chiffon.protocol import StepOutput, StepResult

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from chiffon.catalog import Catalog
    from chiffon.runs import RunEvent

MARK = {
    "ok": "[green]ok[/]",
    "changed": "[yellow]changed[/]",
    "failed": "[bold red]failed[/]",
    "unreachable": "[bold red]unreachable[/]",
    "skipped": "[dim]skipped[/]",
}
FAILED = ("failed", "unreachable")


DECIDED = {
    "approve": "[green]approved[/]", "reject": "[red]rejected[/]",
    "modify": "[yellow]modify[/]", "expired": "[yellow]expired[/]",
    "cancelled": "[red]cancelled[/]",
}  # fmt: skip


class RunDisplay:
    """A run listener (``chiffon.runs.driving.Listener``) drawing its ``RunEvent``s on
    ``console``."""

    def __init__(
        self, console: Console, catalog: Catalog, *, shown_hash: str | None = None
    ) -> None:
        self.console = console
        self.catalog = catalog
        self.shown_hash = shown_hash
        self.status: Status | None = None
        self.step: dict[str, Any] | None = None

    def __call__(self, event: RunEvent) -> None:
        data = event.data
        if event.kind == "plan.ready":
            if data["plan_hash"] != self.shown_hash:
                print_plan(self.console, event.plan(), data["plan_hash"], self.catalog)
                self.shown_hash = data["plan_hash"]
        elif event.kind == "decision":
            said = DECIDED.get(data["decision"], data["decision"])
            who = (
                "nobody decided in time"
                if data["channel"] == "timer"
                else (f"by {data['by']} via {data['channel']}")
            )
            feedback = f": {data['feedback']}" if data.get("feedback") else ""
            self.console.print(f"{said} {who}{feedback}", highlight=False)
        elif event.kind == "step.started":
            self.step = data
            hosts = ", ".join(data["hosts"])
            title = (
                f"step {data['position'] + 1}/{data['total']} [bold]{data['playbook']}[/] on "
                f"{hosts}"
            )
            if data["agent"] and data["agent"] != LOCAL_AGENT:
                title += f" by agent {data['agent']}"
            if data["attempt"] > 1:
                title += f" (attempt {data['attempt']})"
            self.console.rule(title, align="left")
            self.status = self.console.status(f"{data['playbook']}: starting", spinner="dots")
            self.status.start()
        elif event.kind == "step.output":
            self.output(StepOutput.model_validate(data))
        elif event.kind == "run.paused":
            self.stop()
            self.console.print(
                f"[yellow]paused[/]: {data['reason']} (waiting up to {data['wait_s']:g} s)",
                highlight=False,
            )
        elif event.kind == "run.resumed":
            self.console.print(f"[green]resumed[/] on agent {data['agent']}", highlight=False)
        elif event.kind == "step.result":
            self.result(StepResult.model_validate(data))

    def result(self, event: StepResult) -> None:
        self.stop()
        recap = "  ".join(
            f"{host}: ok={s.ok} changed={s.changed} failed={s.failed} unreachable={s.unreachable}"
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
            self.status.update(f"{self.step['playbook']}: {event.task}")
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
