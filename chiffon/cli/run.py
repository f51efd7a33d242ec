"""``chiffon plan`` and ``chiffon run``: a request to a validated plan, and to an audited change.

Both go through the application layer (``chiffon.runs``): ``plan`` is a preview, ``run`` is
``System.run`` — submit, then follow the run's events while the terminal prompt is one of the
channels that may decide (``chiffon approve`` in another terminal is another).

Start-up is part of speed: with the catalog planner the plan is computed and shown before
the database, SQLAlchemy or the actor system are even imported; the run then starts the
system, plans again inside the run (same catalog, same answer, same hash: nothing is shown
twice) and asks for approval.
"""

from __future__ import annotations

import functools
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from chiffon.cli.runner import fail
from chiffon.errors import ChiffonError

if TYPE_CHECKING:
    from rich.console import Console

    from chiffon.catalog import Catalog
    from chiffon.cli.prompt import CheckOnly
    from chiffon.protocol import Plan, RunFinished
    from chiffon.runs import Channel, PlanPreview
    from chiffon.settings import Settings

EXIT = {"succeeded": 0, "failed": 1, "rejected": 2, "expired": 3, "interrupted": 3, "cancelled": 3}

CatalogOption = Annotated[
    Path | None,
    typer.Option("--catalog", help="Catalog directory (catalog.yml, playbooks, inventory)."),
]
PlannerOption = Annotated[
    str,
    typer.Option(
        "--planner",
        help="catalog (offline), llm (a configured model), or auto (llm if configured).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
CheckOption = Annotated[
    bool,
    typer.Option(
        "--check",
        help="Show what the plan would change (ansible-playbook --check --diff on the plan's "
        "hosts) and stop: nothing is changed, no terminal needed. Exit 1 if a dry run failed.",
    ),
]


def _setup(catalog_dir: Path | None, planner: str) -> tuple[Settings, Catalog, str]:
    from chiffon.catalog import load_catalog
    from chiffon.errors import ChiffonError
    from chiffon.settings import Settings

    try:
        settings = Settings.load()
        root = catalog_dir or settings.catalog
        if root is None:
            raise fail("no catalog: pass --catalog DIR or set CHIFFON_CATALOG")
        catalog = load_catalog(root)
    except ChiffonError as exc:
        raise fail(str(exc)) from None
    if planner not in ("auto", "catalog", "llm"):
        raise fail(f"--planner must be catalog, llm or auto, not {planner!r}")
    configured = settings.llm_local_model or settings.llm_external_model
    if planner == "llm" and not configured:
        raise fail("--planner llm needs a model: set CHIFFON_LLM_LOCAL_MODEL (or _EXTERNAL_MODEL)")
    effective = "llm" if planner == "llm" or (planner == "auto" and configured) else "catalog"
    return settings, catalog, effective


def _catalog_plan(catalog: Catalog, request: str, settings: Settings) -> PlanPreview:
    """The catalog planner's validated plan, question or reasons (no database), its secrets
    sealed as a run keeps them (so that its hash is the run's)."""
    import anyio

    from chiffon.runs.preview import plan_offline
    from chiffon.sealing import Sealer

    try:
        sealer = Sealer.from_file(settings.sealing_key_path)
    except ChiffonError as exc:
        raise fail(str(exc)) from None
    return anyio.run(plan_offline, catalog, request, sealer)


def plan(
    request: Annotated[str, typer.Argument(help="What you want, in plain words.")],
    catalog: CatalogOption = None,
    planner: PlannerOption = "auto",
    json_output: JsonOption = False,
    check: CheckOption = False,
) -> None:
    """Plan a request against the catalog and show the validated plan. Nothing is executed.

    With --check, the plan's check-mode preview (its diff) is run here, with no database.
    """
    from chiffon.cli.console import make_console

    settings, cat, effective = _setup(catalog, planner)
    if effective == "catalog":
        preview = _catalog_plan(cat, request, settings)
    else:
        from chiffon.cli.runner import with_runs

        chosen: Any = planner
        preview = with_runs(
            lambda runs: runs.preview(request, planner=chosen), configured=settings,
            catalog=cat, code=1,
        )  # fmt: skip
    console = make_console(stderr=json_output)
    if preview.status == "invalid":
        if json_output:
            typer.echo(_dumps({"status": "invalid", "reasons": list(preview.reasons)}))
        raise fail("the plan is invalid: " + "; ".join(preview.reasons))
    if preview.status == "needs_clarification":
        assert preview.question is not None
        if json_output:
            typer.echo(
                _dumps(
                    {
                        "status": "needs_clarification",
                        "question": preview.question,
                        "candidates": list(preview.candidates),
                    }
                )
            )
        else:
            from chiffon.cli.render import print_question

            print_question(console, preview.question, preview.candidates)
        raise typer.Exit(2)
    assert preview.plan is not None
    assert preview.plan_hash is not None
    dry_run: tuple[str, ...] | None = None
    if not json_output:
        from chiffon.cli.render import print_plan

        print_plan(console, preview.plan, preview.plan_hash, cat)
    if check:
        dry_run = _check_here(settings, cat, preview.plan)
    if json_output:
        shown = _shown(preview.plan, cat)
        out: dict[str, Any] = {"status": "planned", "plan_hash": preview.plan_hash, "plan": shown}
        # Per step, where each variable's value comes from (the plan itself stays a Plan).
        out["variable_sources"] = [
            cat.variable_sources(s.playbook, s.hosts, s.variables) for s in preview.plan.steps
        ]
        if dry_run is not None:
            out["dry_run"] = list(dry_run)
        typer.echo(_dumps(out))
    elif dry_run is not None:
        from chiffon.cli.render import print_dry_run

        print_dry_run(console, preview.plan, dry_run)
    if dry_run is not None:
        from chiffon.runs.preview import dry_run_failed

        raise typer.Exit(1 if dry_run_failed(dry_run) else 0)


def _check_here(settings: Settings, catalog: Catalog, plan: Plan) -> tuple[str, ...]:
    import anyio

    from chiffon.errors import ChiffonError
    from chiffon.runs.preview import check_offline

    async def go() -> tuple[str, ...]:
        from chiffon.sealing import Sealer

        return await check_offline(
            catalog, plan, target_root=settings.target_root_dir,
            work_dir=settings.home / "work" / "check", output_cap=settings.output_cap_bytes,
            sealer=Sealer.from_file(settings.sealing_key_path),
        )  # fmt: skip

    try:
        return anyio.run(go)
    except ChiffonError as exc:
        raise fail(f"the dry run could not start: {exc}", 1) from None


def run(
    request: Annotated[str | None, typer.Argument(help="What you want, in plain words.")] = None,
    catalog: CatalogOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Approve the plan without asking (recorded as such).")
    ] = False,
    planner: PlannerOption = "auto",
    high_value: Annotated[
        bool, typer.Option("--high-value", help="Plan with the external model.")
    ] = False,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Resume a stopped run (id or unique prefix).")
    ] = None,
    json_output: JsonOption = False,
    check: CheckOption = False,
) -> None:
    """Plan a request, ask for approval, execute it, and record everything.

    With --check the run is planned and previewed by the agents, the preview shown and the
    run recorded as declined (check only): nothing is executed.

    Exit status: 0 succeeded (with --check: previewed), 1 failed (a dry run failed), 2
    rejected or invalid, 3 expired or interrupted.
    """
    from chiffon.cli.console import make_console

    if (request is None) == (resume is None):
        raise fail("give a REQUEST, or --resume RUN_ID")
    if check and yes:
        raise fail("--check previews and stops; --yes approves: give one of them")
    settings, cat, effective = _setup(catalog, planner)
    if not yes and not check and not sys.stdin.isatty():
        if resume is not None:
            # A resumed run may need a decision (its approval expired, or it never had one).
            raise fail(
                "stdin is not a terminal, so no one here can be asked to approve what the "
                f"resumed run may need: pass --yes (chiffon run --resume {resume} --yes) to "
                "approve it explicitly, or resume it at a terminal"
            )
        raise fail(
            "stdin is not a terminal, so no one can be asked to approve: pass --yes to approve "
            "explicitly, or --check to see what the plan would change"
        )
    console = make_console(stderr=json_output)
    shown: str | None = None
    terminal = sys.stdin.isatty()
    if request is not None and effective == "catalog":
        if terminal:
            request = _clarified(console, cat, request, settings)
        shown = _show_early(console, cat, request, settings)
    from chiffon.cli.runner import run as run_async

    checker = None
    if check:
        from chiffon.cli.prompt import CheckOnly

        checker = CheckOnly(console, show=not json_output)
    elif yes and not json_output:
        # Said, not skipped silently: --yes approves without the check-mode preview.
        console.print(
            "[dim]--yes: approved without the check-mode preview "
            "(chiffon run --check shows it, changing nothing)[/]"
        )
    while True:
        run_id = uuid.uuid4()
        try:
            summary = run_async(
                functools.partial(_run, settings, cat, console, request, resume, run_id, yes,
                                  planner, high_value, shown, checker)
            )  # fmt: skip
        except KeyboardInterrupt:
            which = resume or str(run_id)
            raise fail(f"interrupted; resume with: chiffon run --resume {which}", 3) from None
        question = _question(summary)
        if question is None or request is None or not terminal:
            break
        # The model asked (the catalog planner's questions were answered before the run):
        # the run is recorded as rejected with its question, and a new one plans the
        # request with the answer.
        request = f"{request}. {_ask(console, question)}"
    if checker is not None:
        raise typer.Exit(_checked(console, summary, checker, json_output))
    if json_output:
        from chiffon.cli.render import summary_json

        typer.echo(_dumps(summary_json(summary)))
    else:
        from chiffon.cli.render import print_summary

        print_summary(console, summary)
    from chiffon.cli.playbooks import review_after_run

    review_after_run(settings, cat, summary, console)
    if _question(summary) is not None:
        # Without a terminal no one can answer: say so, beside the recorded rejection.
        typer.echo(
            "chiffon: the planner needs an answer to plan this request, and without a "
            "terminal no one can be asked: run it at a terminal, or say more in the request.",
            err=True,
        )
    raise typer.Exit(EXIT.get(summary.status, 1))


def _checked(console: Console, summary: RunFinished, checker: CheckOnly, json_output: bool) -> int:
    """The exit status of ``run --check``: 0 previewed, 1 a dry run failed, else the run's."""
    from chiffon.runs.preview import dry_run_failed

    previewed = checker.plan_hash is not None and summary.status == "rejected"
    if json_output:
        from chiffon.cli.render import summary_json

        out = summary_json(summary)
        out["check"] = True
        out["plan_hash"] = checker.plan_hash
        out["dry_run"] = list(checker.dry_run)
        typer.echo(_dumps(out))
    elif previewed:
        console.print(f"run {summary.run_id}: previewed, nothing executed (recorded)")
    else:
        from chiffon.cli.render import print_summary

        print_summary(console, summary)
    if not previewed:
        return EXIT.get(summary.status, 1)
    return 1 if dry_run_failed(checker.dry_run) else 0


_QUESTION = "needs clarification: "
_MAX_QUESTIONS = 5


def _question(summary: RunFinished) -> str | None:
    """The planner's question when the run ended for want of an answer, else None."""
    reason = summary.reason or ""
    if summary.status == "rejected" and reason.startswith(_QUESTION):
        return reason[len(_QUESTION) :]
    return None


def _ask(console: Console, question: str, candidates: tuple[str, ...] = ()) -> str:
    """The answer typed at the terminal to the planner's question; an empty answer or the
    end of input ends the command (exit 2): nothing was planned."""
    from chiffon.cli.render import print_question

    print_question(console, question, candidates)
    try:
        answer = console.input("[bold]Your answer?[/] (empty to stop) ")
    except EOFError:
        answer = ""
    if not answer.strip():
        raise fail("no answer: nothing was planned", 2)
    return answer.strip()


def _clarified(console: Console, catalog: Catalog, request: str, settings: Settings) -> str:
    """``request``, with the answers to the catalog planner's questions asked at the
    terminal (as a modify is answered at the approval prompt), once it plans."""
    from chiffon.planning.catalog_planner import CatalogPlanner

    planner = CatalogPlanner(catalog)
    for _ in range(_MAX_QUESTIONS):
        preview = _catalog_plan(catalog, request, settings)
        if preview.status != "needs_clarification":
            return request
        assert preview.question is not None
        request = planner.answered(request, _ask(console, preview.question, preview.candidates))
        console.print(f"[dim]planning again: {request}[/]", highlight=False)
    raise fail(
        f"still unclear after {_MAX_QUESTIONS} answers, so nothing was planned: say it all in "
        "one request",
        2,
    )


def _show_early(console: Console, catalog: Catalog, request: str, settings: Settings) -> str | None:
    """The catalog plan, on screen before the system starts; its hash, or None."""
    from chiffon.cli.render import print_plan

    preview = _catalog_plan(catalog, request, settings)
    if preview.plan is None or preview.plan_hash is None:
        return None  # the run records the rejection and says why
    print_plan(console, preview.plan, preview.plan_hash, catalog)
    return preview.plan_hash


async def _run(
    settings: Settings,
    catalog: Catalog,
    console: Console,
    request: str | None,
    resume: str | None,
    run_id: uuid.UUID,
    yes: bool,
    planner: str,
    high_value: bool,
    shown: str | None,
    checker: CheckOnly | None = None,
) -> RunFinished:
    from chiffon.assembly import System
    from chiffon.cli.progress import RunDisplay
    from chiffon.errors import ChiffonError
    from chiffon.logs import configure_logging
    from chiffon.orchestrator.approval import AutoApprove

    # The display is the CLI's voice; logs only speak up for warnings unless asked to.
    level = settings.log_level if "log_level" in settings.model_fields_set else "warning"
    configure_logging(level, settings.log_format)
    display = RunDisplay(console, catalog, shown_hash=shown)
    approver: Any
    if checker is not None:
        approver = checker
    elif yes:
        approver = AutoApprove()
    else:
        from chiffon.cli.prompt import TerminalApprover

        approver = TerminalApprover(console)
    channel: Channel = "yes" if yes else "terminal"
    try:
        async with System(settings, catalog=catalog) as system:
            try:
                if resume is not None:
                    return await system.resume(
                        resume, approver=approver, listener=display, channel=channel
                    )
                assert request is not None
                return await system.run(
                    request, approver=approver, planner=planner,  # type: ignore[arg-type]
                    high_value=high_value, listener=display, channel=channel, run_id=run_id,
                )  # fmt: skip
            finally:
                display.stop()
    except ChiffonError as exc:
        from chiffon.errors import ConfigError

        if isinstance(exc, ConfigError):
            raise
        # A run id that names nothing, or a run that cannot be resumed, is bad input.
        raise fail(str(exc), 2 if exc.code in ("run_not_found", "not_resumable") else 1) from None


def _shown(plan: Plan, catalog: Catalog) -> dict[str, Any]:
    from chiffon.cli.render import shown_variables

    data = plan.model_dump(mode="json")
    for step, variables in zip(data["steps"], shown_variables(plan, catalog), strict=True):
        step["variables"] = variables
    return data


def _dumps(data: Any) -> str:
    import json

    return json.dumps(data, indent=2, default=str)
