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
) -> None:
    """Plan a request against the catalog and show the validated plan. Nothing is executed."""
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
    if json_output:
        shown = _shown(preview.plan, cat)
        typer.echo(_dumps({"status": "planned", "plan_hash": preview.plan_hash, "plan": shown}))
        return
    from chiffon.cli.render import print_plan

    print_plan(console, preview.plan, preview.plan_hash, cat)


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
) -> None:
    """Plan a request, ask for approval, execute it, and record everything.

    Exit status: 0 succeeded, 1 failed, 2 rejected or invalid, 3 expired or interrupted.
    """
    from chiffon.cli.console import make_console

    if (request is None) == (resume is None):
        raise fail("give a REQUEST, or --resume RUN_ID")
    settings, cat, effective = _setup(catalog, planner)
    if not yes and not sys.stdin.isatty():
        if resume is not None:
            # A resumed run may need a decision (its approval expired, or it never had one).
            raise fail(
                "stdin is not a terminal, so no one here can be asked to approve what the "
                f"resumed run may need: pass --yes (chiffon run --resume {resume} --yes) to "
                "approve it explicitly, or resume it at a terminal"
            )
        raise fail(
            "stdin is not a terminal, so no one can be asked to approve: pass --yes to approve "
            "explicitly"
        )
    console = make_console(stderr=json_output)
    shown: str | None = None
    if request is not None and effective == "catalog":
        shown = _show_early(console, cat, request, settings)
    run_id = uuid.uuid4()
    from chiffon.cli.runner import run as run_async

    try:
        summary = run_async(
            lambda: _run(settings, cat, console, request, resume, run_id, yes, planner,
                         high_value, shown)
        )  # fmt: skip
    except KeyboardInterrupt:
        which = resume or str(run_id)
        raise fail(f"interrupted; resume with: chiffon run --resume {which}", 3) from None
    if json_output:
        from chiffon.cli.render import summary_json

        typer.echo(_dumps(summary_json(summary)))
    else:
        from chiffon.cli.render import print_summary

        print_summary(console, summary)
    from chiffon.cli.playbooks import review_after_run

    review_after_run(settings, cat, summary, console)
    raise typer.Exit(EXIT.get(summary.status, 1))


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
    if yes:
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
