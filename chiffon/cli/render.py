"""How plans, questions and run summaries look in the terminal (rich), and as JSON."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from chiffon.catalog import Catalog
    from chiffon.protocol import Plan, RunFinished, StepSummary

RISK_STYLE = {"low": "green", "medium": "yellow", "high": "bold red"}
STATUS_STYLE = {
    "succeeded": "bold green", "failed": "bold red", "rejected": "yellow",
    "expired": "yellow", "interrupted": "yellow", "cancelled": "yellow",
}  # fmt: skip


def shown_variables(plan: Plan, catalog: Catalog) -> list[dict[str, Any]]:
    """Each step's variables with secret values replaced by ``***`` (and secrets left at
    their catalog default said to be: ``render_variables``)."""
    from chiffon.planning.validation import render_variables

    return [render_variables(step, catalog) for step in plan.steps]


def print_plan(console: Console, plan: Plan, digest: str, catalog: Catalog) -> None:
    """The plan as a table: steps, hosts, variables (secrets hidden), risk, confidence."""
    from rich.table import Table

    table = Table(title=f"Plan: {plan.summary or plan.request}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("playbook", style="bold")
    table.add_column("hosts")
    table.add_column("variables", overflow="fold")  # a source path is never cut
    table.add_column("why", style="dim")
    for n, (step, variables) in enumerate(
        zip(plan.steps, shown_variables(plan, catalog), strict=True)
    ):
        sources = catalog.variable_sources(step.playbook, step.hosts, step.variables)
        shown = "\n".join(
            [f"{k}={v}" + _from(sources.get(k)) for k, v in variables.items()]
            + [f"{k}: {where}" for k, where in sources.items() if k not in variables]
        )
        table.add_row(str(n + 1), step.playbook, ", ".join(step.hosts), shown, step.reason)
    console.print(table)
    risk = RISK_STYLE.get(plan.risk, "")
    console.print(
        f"risk [{risk}]{plan.risk}[/]  confidence {plan.confidence:.2f}  "
        f"planner {plan.planner}  plan {digest[:19]}…"
    )
    print_generated(console, plan, catalog)


def _from(source: str | None) -> str:
    # A value the repository sets is left to it (not an extra var): say where it is set.
    if source is None or source in ("plan", "catalog default"):
        return "" if source is None else f" [dim]({source})[/]"
    return f" [dim](from {source.rsplit(' (', 1)[0]})[/]"  # the file:line; the scope is in --json


def print_generated(console: Console, plan: Plan, catalog: Catalog) -> None:
    """For each step whose playbook was generated for this plan (staged, not yet in the
    catalog): its files, and its tasks file in full — what an approval installs."""
    from rich.syntax import Syntax

    for step in plan.steps:
        root = catalog.staged(step.playbook)
        if root is None:
            continue
        files = catalog.files(step.playbook)
        console.rule(
            f"generated {step.playbook}: installed into the catalog on approval",
            align="left",
            style="yellow",
        )
        for path in files:
            console.print(f"  {path.relative_to(root)}", highlight=False)
        tasks = next((p for p in files if p.parts[-2:] == ("tasks", "main.yml")), files[0])
        console.print(f"[dim]{tasks.relative_to(root)}[/]")
        console.print(Syntax(tasks.read_text(), "yaml", theme="ansi_dark", word_wrap=True))


def print_question(console: Console, question: str, candidates: Sequence[str] = ()) -> None:
    console.print(f"[yellow]Chiffon needs more to go on:[/] {question}", highlight=False)
    if candidates:
        console.print("candidates: " + ", ".join(candidates), highlight=False)


def print_dry_run(console: Console, plan: Plan, dry_run: tuple[str, ...]) -> None:
    """Each step's check-mode diff, highlighted, long ones cut."""
    from rich.syntax import Syntax

    for n, (step, diff) in enumerate(zip(plan.steps, dry_run, strict=False)):
        console.rule(f"dry run {n + 1}: {step.playbook}", align="left", style="dim")
        text = diff.strip() or "(no changes reported)"
        lines = text.splitlines()
        if len(lines) > 60:
            text = "\n".join([*lines[:60], f"… {len(lines) - 60} more lines"])
        console.print(Syntax(text, "diff", theme="ansi_dark", word_wrap=True))


def print_summary(console: Console, summary: RunFinished) -> None:
    from rich.table import Table

    style = STATUS_STYLE.get(summary.status, "")
    table = Table(title_justify="left", show_edge=False)
    for column in ("#", "playbook", "status", "hosts", "ok", "changed", "failed", "unreachable"):
        table.add_column(column)
    for n, step in enumerate(summary.steps):
        s = step.stats
        table.add_row(
            str(n + 1), step.playbook, step.status, _touched(step), str(s.ok),
            str(s.changed), str(s.failed), str(s.unreachable),
        )  # fmt: skip
    if summary.steps:
        console.print(table)
    reason = f" — {summary.reason}" if summary.reason else ""
    console.print(
        f"run {summary.run_id} [{style}]{summary.status}[/]{reason}  "
        f"{summary.seconds:.1f} s  ${summary.cost_usd:.4f}"
    )
    left = left_for_you(summary)
    if left:
        # "succeeded" says the playbooks ran; this says what they did not do.
        console.print(
            f"[bold yellow]Left for you[/] — {len(left)} thing(s) the playbooks did not do, "
            "with the command for each:",
            highlight=False,
        )
        for line in left:
            console.print(f"  {line}", highlight=False, markup=False)


def left_for_you(summary: RunFinished) -> list[str]:
    """What the run's steps left for a person to do, each once, in step order."""
    return list(dict.fromkeys(line for step in summary.steps for line in step.left_for_you))


def _touched(step: StepSummary) -> str:
    """The hosts Ansible ran the step on (its recap); the approved ones until it has run.
    A host the plan does not name is marked, though the run's ``--limit`` keeps it out."""
    if not step.touched:
        return ", ".join(step.hosts)
    return ", ".join(
        h if h in step.hosts else f"[bold red]{h} (not approved)[/]" for h in step.touched
    )


def summary_json(summary: RunFinished) -> dict[str, Any]:
    """The ``--json`` object of ``chiffon run``."""
    return {
        "run_id": str(summary.run_id),
        "status": summary.status,
        "reason": summary.reason,
        "steps": [
            {
                "playbook": s.playbook, "status": s.status, "hosts": list(s.hosts),
                "touched": list(s.touched), "attempt": s.attempt,
                "stats": {
                    "ok": s.stats.ok, "changed": s.stats.changed, "failed": s.stats.failed,
                    "unreachable": s.stats.unreachable,
                },
            }
            for s in summary.steps
        ],
        "left_for_you": left_for_you(summary),
        "cost_usd": summary.cost_usd,
        "seconds": summary.seconds,
    }  # fmt: skip


def until(expires_at: dt.datetime) -> str:
    seconds = max(0, int((expires_at - dt.datetime.now(dt.UTC)).total_seconds()))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"
