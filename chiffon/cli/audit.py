"""``chiffon audit``: which runs, what one run did, what changed a service, what failed,
what was refused over RabbitMQ.

Each command asks the application layer (``chiffon.runs.Runs`` over the store ``Settings``
describe: the embedded server when ``CHIFFON_DATABASE_URL`` is unset) and prints a rich
table, or with ``--json`` the same records as JSON. Everything heavy is imported inside the
command.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from chiffon.cli.runner import fail, with_runs

if TYPE_CHECKING:
    from rich.console import Console

    from chiffon.audit.dead_letters import DeadLetterRecord
    from chiffon.audit.records import FailureRecord, RunTimeline, ServiceChange, StepRecord
    from chiffon.runs import Runs

app = typer.Typer(
    help="Query the record: runs, a run's timeline, changes to a service, failures, dead letters.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
SinceOption = Annotated[
    str | None, typer.Option("--since", metavar="AGE", help="Only the last 30m, 12h, 7d, 2w…")
]
LimitOption = Annotated[int, typer.Option("--limit", min=1, metavar="N", help="At most this many.")]


def _since(text: str | None) -> dt.timedelta | None:
    if text is None:
        return None
    from chiffon.journal.retention import parse_age

    try:
        return parse_age(text)
    except ValueError:
        raise fail(f"--since {text!r} is not an age like 30m, 12h, 7d or 2w") from None


def _print_json(value: Any) -> None:
    import json

    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _console() -> Console:
    """Rich output with markup off (playbook output has [brackets]); piped output is not cut
    to 80 columns, so ids and errors survive ``| grep``."""
    from chiffon.cli.console import make_console

    console = make_console(highlight=False, soft_wrap=False, markup=False, emoji=False)
    if not console.is_terminal:
        console.width = max(console.width, 160)
    return console


def _address(address: str | None) -> str:
    return "-" if address is None else address.removeprefix("chiffon://")


def _time(moment: dt.datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}"


@app.command()
def runs(
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATE",
            help="Only runs in this state (repeatable).",
            show_default=False,
        ),
    ] = None,
    since: SinceOption = None,
    service: Annotated[
        str | None,
        typer.Option("--service", metavar="NAME", help="Only runs touching this service."),
    ] = None,
    limit: LimitOption = 50,
    json_output: JsonOption = False,
) -> None:
    """List runs, newest first (times in UTC)."""
    from chiffon.run_records import RUN_STATES

    for name in status or ():
        if name not in RUN_STATES:
            raise fail(f"--status {name!r} is not a run state ({', '.join(RUN_STATES)})")
    age = _since(since)

    async def ask(runs: Runs) -> Any:
        return await runs.records(status=status or None, since=age, service=service, limit=limit)

    found = with_runs(ask)
    if json_output:
        _print_json([run.model_dump(mode="json") for run in found])
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("run", no_wrap=True, min_width=36)
    table.add_column("created (UTC)", no_wrap=True, min_width=16)
    table.add_column("status", no_wrap=True, min_width=9)
    table.add_column("services", overflow="fold")
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("request", overflow="ellipsis", no_wrap=True, min_width=12)
    for run in found:
        table.add_row(
            str(run.id),
            _time(run.created_at)[:16],
            run.status,
            ", ".join(run.services) or "-",
            f"${run.cost_usd:.4f}",
            run.request,
        )
    _console().print(table if found else "no runs match")


@app.command()
def show(
    run_id: Annotated[
        str, typer.Argument(metavar="RUN_ID", help="A run id, or a unique prefix of one.")
    ],
    output: Annotated[
        bool, typer.Option("--output", help="Include every step.output event in the timeline.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """One run in full: request, plan, approval, steps, failures, model calls and cost, and
    its messages and state transitions in order."""

    async def ask(runs: Runs) -> RunTimeline:
        return await runs.timeline(run_id, output_lines=output)

    timeline = with_runs(ask)
    if json_output:
        _print_json(timeline.model_dump(mode="json"))
        return
    _render_timeline(_console(), timeline)


@app.command()
def changes(
    service: Annotated[
        str, typer.Option("--service", metavar="NAME", help="The service, as the catalog names it.")
    ],
    since: SinceOption = None,
    limit: LimitOption = 50,
    json_output: JsonOption = False,
) -> None:
    """Every run that touched a service, newest first, with what each step changed per
    host."""
    age = _since(since)

    async def ask(runs: Runs) -> Sequence[ServiceChange]:
        return await runs.changes(service, since=age, limit=limit)

    found = with_runs(ask)
    if json_output:
        _print_json([change.model_dump(mode="json") for change in found])
        return
    _render_changes(_console(), service, found)


@app.command()
def failures(
    since: SinceOption = None,
    service: Annotated[
        str | None,
        typer.Option("--service", metavar="NAME", help="Only failures of runs touching it."),
    ] = None,
    limit: LimitOption = 50,
    json_output: JsonOption = False,
) -> None:
    """Failure records, newest first: run, step, host, task, error (the post-mortem's start)."""
    age = _since(since)

    async def ask(runs: Runs) -> Any:
        return await runs.failures(since=age, service=service, limit=limit)

    found = with_runs(ask)
    if json_output:
        _print_json([failure.model_dump(mode="json") for failure in found])
        return
    _render_failures(_console(), found)


@app.command("dead-letters")
def dead_letters(
    since: SinceOption = None,
    code: Annotated[
        str | None,
        typer.Option(
            "--code", metavar="CODE", help="Only this reason: unsigned, forged, replayed, …"
        ),
    ] = None,
    reported_by: Annotated[
        str | None,
        typer.Option(
            "--reported-by",
            metavar="WHO",
            help="Only those reported by: orchestrator, agent:NAME, unverified.",
        ),
    ] = None,
    limit: LimitOption = 100,
    json_output: JsonOption = False,
) -> None:
    """Messages refused over RabbitMQ, newest first: why (code and reason), who refused them
    (the orchestrator, or an agent reporting what it refused: the broker vouches for the
    reporter's login), on which queue, the kind and sender they claimed."""
    age = _since(since)

    async def ask(runs: Runs) -> Sequence[DeadLetterRecord]:
        return await runs.dead_letters(since=age, code=code, reported_by=reported_by, limit=limit)

    found = with_runs(ask)
    if json_output:
        _print_json([letter.model_dump(mode="json") for letter in found])
        return
    _render_dead_letters(_console(), found)


# Rendering. Times are UTC; ids are printed whole, since UUIDv7 ids made close together share
# long prefixes.

TAIL_LINES = 20


def _hosts_run(step: StepRecord) -> str:
    """The hosts Ansible ran on, ``= approved`` when they are the approved ones."""
    if not step.stats:
        return "-"
    if step.outside_plan:
        return ", ".join(step.hosts_run) + " (NOT the approved hosts)"
    if set(step.hosts_run) == set(step.hosts):
        return ", ".join(step.hosts_run) + " (= approved)"
    return ", ".join(step.hosts_run)


def _stats(step: StepRecord) -> str:
    if not step.stats:
        return "-"
    return "\n".join(
        f"{host} ok={s.ok} changed={s.changed} failed={s.failed} "
        f"unreachable={s.unreachable} skipped={s.skipped}"
        for host, s in step.stats.items()
    )


def _header(timeline: RunTimeline) -> Any:
    from rich.table import Table

    run = timeline.run
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    status = run.status + (f" ({run.reason})" if run.reason else "")
    plan = timeline.plan
    approval = timeline.approval
    end = run.finished_at or run.updated_at
    rows = [
        ("run", str(run.id)),
        ("request", run.request),
        ("requested by", f"{run.requested_by}, planner {run.planner}"),
        ("status", status),
        ("services", ", ".join(run.services) or "-"),
        (
            "plan",
            f"{plan.plan_hash} (revision {plan.revision} of {len(timeline.plans)})"
            if plan
            else "none",
        ),
        (
            "approval",
            f"{approval.decision} by {approval.approver} via {approval.channel} at "
            f"{_time(approval.decided_at)} (until {_time(approval.expires_at)})"
            if approval
            else "none",
        ),
        (
            "cost",
            f"${run.cost_usd:.4f} (budget ${run.budget_usd:.2f}); "
            f"{len(timeline.llm_calls)} model call(s) ${timeline.llm_cost_usd:.4f}",
        ),
        (
            "time",
            f"{_time(run.created_at)} → {_time(run.finished_at)} UTC, "
            f"{(end - run.created_at).total_seconds():.1f} s",
        ),
    ]
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def _render_timeline(console: Console, timeline: RunTimeline) -> None:
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    console.print(_header(timeline))
    for plan in timeline.plans[:-1]:
        console.print(f"  earlier plan revision {plan.revision}: {plan.plan_hash}")
    if timeline.steps:
        steps = Table(title="steps", title_justify="left", box=None, header_style="bold")
        for name in ("#", "playbook", "attempt", "status", "hosts approved", "hosts run",
                     "per-host stats"):  # fmt: skip
            steps.add_column(name)
        for step in timeline.steps:
            steps.add_row(
                str(step.position + 1),
                step.playbook,
                str(step.attempt),
                step.status + (f" ({step.reason})" if step.reason else ""),
                ", ".join(step.hosts),
                _hosts_run(step),
                _stats(step),
            )
        console.print(steps)
    labels = {s.id: f"step {s.position + 1} {s.playbook} a{s.attempt}" for s in timeline.steps}
    for failure in timeline.failures:
        where = labels.get(failure.step_id) if failure.step_id else None
        title = f"failure: {where or failure.playbook or 'run'}"
        if failure.host or failure.task:
            title += f" on {failure.host or '?'}, task {failure.task or '?'}"
        tail = "\n".join(failure.output_tail.splitlines()[-TAIL_LINES:])
        body = failure.error + (f"\n\n{tail}" if tail else "")
        console.print(Panel(Text(body), title=Text(title), title_align="left", expand=False))
    if timeline.llm_calls:
        calls = Table(title="model calls", title_justify="left", box=None, header_style="bold")
        for name in ("time", "purpose", "model", "route", "ok", "tokens", "ms", "cost"):
            calls.add_column(name, justify="right" if name in ("tokens", "ms", "cost") else "left")
        for call in timeline.llm_calls:
            calls.add_row(
                _time(call.created_at),
                call.purpose,
                call.model,
                call.route,
                "yes" if call.ok else f"no: {call.error or '?'}",
                f"{call.prompt_tokens}+{call.completion_tokens}",
                f"{call.latency_ms:.0f}",
                f"${call.cost_usd:.4f}",
            )
        calls.add_row("", "", "", "", "", "", "total", f"${timeline.llm_cost_usd:.4f}")
        console.print(calls)
    events = Table(title="timeline (UTC)", title_justify="left", box=None, header_style="bold")
    for name in ("#", "time", "event", "from → to", "detail"):
        events.add_column(name, no_wrap=name in ("#", "time"), overflow="fold")
    numbers = {e.message_id: n for n, e in enumerate(timeline.events, 1) if e.source == "message"}
    for n, event in enumerate(timeline.events, 1):
        at = f"{event.at.astimezone(dt.UTC):%H:%M:%S.%f}"[:-3]
        if event.source == "message":
            route = f"{_address(event.sender)} → {_address(event.recipient)}"
            events.add_row(str(n), at, event.kind or "", route, event.summary)
        else:
            cause = ""
            if event.message_id is not None:
                cause = f" ← #{numbers[event.message_id]}" if event.message_id in numbers else ""
            events.add_row(str(n), at, event.entity or "", "", event.summary + cause)
    console.print(events)
    if timeline.output_events and not any(e.kind == "step.output" for e in timeline.events):
        console.print(f"{timeline.output_events} step.output events not shown (--output)")


def _render_changes(console: Console, service: str, found: Sequence[ServiceChange]) -> None:
    from rich.table import Table

    if not found:
        console.print(f"no run touched {service}")
        return
    table = Table(box=None, header_style="bold")
    for name in ("run", "created (UTC)", "status", "step", "step status", "changed per host"):
        table.add_column(name, no_wrap=name != "changed per host")
    for change in found:
        first = (str(change.run_id), _time(change.created_at), change.status)
        if not change.steps:
            table.add_row(*first, "-", "-", "-")
        for n, step in enumerate(change.steps):
            table.add_row(
                *(first if n == 0 else ("", "", "")),
                f"{step.position + 1} {step.playbook} a{step.attempt}",
                step.status,
                ", ".join(f"{h}={c}" for h, c in step.changed.items()) or "-",
            )
    console.print(table)


def _render_failures(console: Console, found: Sequence[FailureRecord]) -> None:
    from rich.table import Table

    if not found:
        console.print("no failures match")
        return
    table = Table(box=None, header_style="bold")
    for name in ("when (UTC)", "run", "step", "host", "task", "error"):
        table.add_column(name, no_wrap=name in ("when (UTC)", "run"))
    for f in found:
        step = f"{f.playbook or '-'} a{f.attempt}" if f.attempt else f.playbook or "-"
        table.add_row(
            _time(f.created_at), str(f.run_id), step, f.host or "-", f.task or "-", f.error
        )
    console.print(table)


def _render_dead_letters(console: Console, found: Sequence[DeadLetterRecord]) -> None:
    from rich.table import Table

    if not found:
        console.print("no dead letters match")
        return
    table = Table(box=None, header_style="bold")
    columns = ("when (UTC)", "code", "reported by", "queue", "kind", "sender", "size", "reason")
    for name in columns:
        table.add_column(
            name, no_wrap=name != "reason", justify="right" if name == "size" else "left"
        )
    for d in found:
        table.add_row(
            _time(d.at), d.code, d.reported_by or "-", d.queue, d.kind or "-", d.sender or "-",
            str(d.body_size), d.reason,
        )  # fmt: skip
    console.print(table)
