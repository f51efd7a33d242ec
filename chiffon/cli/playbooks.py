"""``chiffon playbooks``: check the catalog's playbooks, accept or dismiss a suggestion; and
``chiffon audit suggestions``, and the short review printed after ``chiffon run``.

Every command opens the store ``Settings`` describe (the embedded server when
``CHIFFON_DATABASE_URL`` is unset); everything heavy is imported inside the functions.
ansible-lint's results are cached under ``CHIFFON_HOME/cache/lint``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from chiffon.cli import playbooks_new
from chiffon.cli.runner import fail

if TYPE_CHECKING:
    from rich.console import Console

    from chiffon.catalog import Catalog
    from chiffon.database import Database
    from chiffon.playbooks.store import Suggestion
    from chiffon.playbooks.suggestions import CheckReport
    from chiffon.protocol import RunFinished
    from chiffon.settings import Settings

T = TypeVar("T")
REVIEW_LINES = 5

app = typer.Typer(
    help="Review the catalog's playbooks: suggestions, and what became of them.",
    no_args_is_help=True,
)
app.command("new")(playbooks_new.new)
app.command("new")(playbooks_new.new)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
IdArgument = Annotated[int, typer.Argument(metavar="ID", help="The suggestion's id.")]


def _with_database(settings: Settings, ask: Callable[[Database], Awaitable[T]]) -> T:
    """Open the record, run ``ask`` on its database, close; a Chiffon error becomes one
    sentence, exit 2."""
    from chiffon.cli.runner import with_runs

    return with_runs(lambda runs: ask(runs.db), configured=settings)


def _settings() -> Settings:
    from chiffon.errors import ChiffonError
    from chiffon.settings import Settings

    try:
        return Settings.load()
    except ChiffonError as exc:
        raise fail(str(exc)) from None


def _lint_cache(settings: Settings) -> Path:
    return settings.home / "cache" / "lint"


@app.command()
def check(
    ids: Annotated[
        list[str] | None, typer.Argument(metavar="[ID]...", help="Entry ids (default: all).")
    ] = None,
    catalog: Annotated[
        Path | None,
        typer.Option("--catalog", help="Catalog directory (default: CHIFFON_CATALOG)."),
    ] = None,
    pin: Annotated[
        list[str] | None,
        typer.Option("--pin", metavar="IMAGE=TAG", help="A tag to pin an image to (repeatable)."),
    ] = None,
    no_lint: Annotated[bool, typer.Option("--no-lint", help="Skip ansible-lint.")] = False,
    diffs: Annotated[bool, typer.Option("--diff", help="Show each suggestion's diff.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Check playbooks (Chiffon's rules, ansible-lint, the runs' records) and list the open
    suggestions. Exit status: 0 none open, 1 some open, 2 bad input."""
    from chiffon.catalog import load_catalog
    from chiffon.errors import ChiffonError

    settings = _settings()
    root = catalog or settings.catalog
    if root is None:
        raise fail("no catalog: pass --catalog DIR or set CHIFFON_CATALOG")
    try:
        loaded = load_catalog(root)
    except ChiffonError as exc:
        raise fail(str(exc)) from None
    pins: dict[str, str] = {}
    for value in pin or ():
        image, sep, tag = value.rpartition("=")
        if not sep or not image or not tag:
            raise fail(f"--pin {value!r} is not IMAGE=TAG (e.g. --pin nginx=1.27.3)")
        pins[image] = tag

    async def ask(db: Database) -> CheckReport:
        from chiffon.playbooks.suggestions import check_catalog

        return await check_catalog(
            db, loaded, ids or None, pins=pins, lint_cache=_lint_cache(settings),
            use_lint=not no_lint,
        )  # fmt: skip

    report = _with_database(settings, ask)
    if json_output:
        _print_json(_report_json(report))
    else:
        _print_report(_console(), report, diffs=diffs)
    raise typer.Exit(1 if report.suggestions else 0)


@app.command()
def accept(suggestion_id: IdArgument, json_output: JsonOption = False) -> None:
    """Apply a suggestion's diff on a new branch (chiffon/suggestion-ID) of the playbook
    repository and commit it; your checked-out branch and files are not touched."""
    settings = _settings()

    async def ask(db: Database) -> Suggestion:
        from chiffon.playbooks.accept import commit_message, commit_on_branch
        from chiffon.playbooks.errors import NoMechanicalFix
        from chiffon.playbooks.store import change_status, get_suggestion

        found = await get_suggestion(db, suggestion_id)
        if found.status != "open":
            from chiffon.playbooks.errors import SuggestionNotOpen

            raise SuggestionNotOpen(suggestion_id, found.status)
        if not found.diff:
            raise NoMechanicalFix(suggestion_id, found.fix)
        message = commit_message(
            found.id, found.rule, found.where, found.message, found.why, found.fix
        )
        done = await commit_on_branch(
            Path(found.catalog), suggestion_id=found.id, diff=found.diff, message=message
        )
        return await change_status(db, found.id, "accepted", branch=done.branch, commit=done.commit)

    accepted = _with_database(settings, ask)
    if json_output:
        _print_json(accepted.as_json())
        return
    typer.echo(
        f"suggestion {accepted.id} accepted: commit {accepted.commit} on branch "
        f"{accepted.branch}\nreview it with: git diff HEAD...{accepted.branch}"
    )


@app.command()
def dismiss(suggestion_id: IdArgument, json_output: JsonOption = False) -> None:
    """Dismiss a suggestion: later checks keep it dismissed instead of opening it again."""
    settings = _settings()

    async def ask(db: Database) -> Suggestion:
        from chiffon.playbooks.store import change_status

        return await change_status(db, suggestion_id, "dismissed")

    dismissed = _with_database(settings, ask)
    if json_output:
        _print_json(dismissed.as_json())
        return
    typer.echo(f"suggestion {dismissed.id} dismissed")


def suggestions(
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="open, accepted, dismissed, implemented (repeatable).",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 200,
    offset: Annotated[
        int, typer.Option("--offset", min=0, help="Skip this many (the next page).")
    ] = 0,
    json_output: JsonOption = False,
) -> None:
    """Playbook improvement suggestions and their status, by catalog, file and line: a page
    of them (--limit, --offset), and how many there are."""
    from chiffon.playbooks.tables import STATUSES

    for name in status or ():
        if name not in STATUSES:
            raise fail(f"--status {name!r} is not a status ({', '.join(STATUSES)})")
    settings = _settings()

    async def ask(db: Database) -> tuple[list[Suggestion], int]:
        from chiffon.playbooks.store import count_suggestions, list_suggestions

        chosen = status or None
        page = await list_suggestions(db, status=chosen, limit=limit, offset=offset)
        return page, await count_suggestions(db, status=chosen)

    found, total = _with_database(settings, ask)
    if json_output:
        _print_json({
            "total": total, "offset": offset, "suggestions": [s.as_json() for s in found]
        })  # fmt: skip
        return
    console = _console()
    if not found:
        console.print("no suggestions match" if not total else f"none from {offset} ({total})")
    catalog = None
    for item in found:
        if item.catalog != catalog:
            catalog = item.catalog
            console.print(f"{catalog}:")
        _print_suggestion(console, item, status=True)
    if found and (offset or len(found) < total):
        last = offset + len(found)
        more = f": --offset {last} for the next page" if last < total else ""
        console.print(f"showing {offset + 1}-{last} of {total}{more}")


def review_after_run(
    settings: Settings, catalog: Catalog, summary: RunFinished, console: Console
) -> None:
    """After ``chiffon run``: check the run's playbooks and show their open suggestions in a
    few lines. Only ansible-lint's cached results count here (``chiffon playbooks check``
    pays its seconds, once per version of a file). Never raises: a review that cannot be
    made is one line, and the run's exit status stays the run's."""
    entries = list(dict.fromkeys(s.playbook for s in summary.steps if s.status != "skipped"))
    if not entries:
        return
    try:
        report = _review(settings, catalog, summary, entries)
    except (Exception, typer.Exit, KeyboardInterrupt) as exc:
        reason = str(exc) or type(exc).__name__
        console.print(f"playbook review skipped: {reason}", markup=False, highlight=False)
        return
    if report.lint_pending:
        console.print(
            f"ansible-lint has not seen {len(report.lint_pending)} of this run's playbooks as "
            "they are: chiffon playbooks check runs it (once per version of a file)",
            markup=False, highlight=False,
        )  # fmt: skip
    if not report.suggestions:
        return
    count = len(report.suggestions)
    console.print(
        f"{count} open suggestion{'s' if count > 1 else ''} for this run's playbooks "
        "(chiffon playbooks check: why, and how to fix):",
        markup=False, highlight=False,
    )  # fmt: skip
    for item in report.suggestions[:REVIEW_LINES]:
        fixable = "  [diff: chiffon playbooks accept ID]" if item.diff else ""
        console.print(
            f"  #{item.id} {item.rule} {item.where}{fixable}", markup=False, highlight=False
        )
        console.print(f"      {item.message}", markup=False, highlight=False)
    if count > REVIEW_LINES:
        console.print(f"  … and {count - REVIEW_LINES} more", markup=False, highlight=False)


def _review(
    settings: Settings, catalog: Catalog, summary: RunFinished, entries: list[str]
) -> CheckReport:
    import anyio

    async def main() -> CheckReport:
        from chiffon.assembly import store_for
        from chiffon.playbooks.suggestions import check_catalog

        async with store_for(settings) as store:
            # ansible-lint's seconds are not paid after a run: its cached results only.
            return await check_catalog(
                store.database, catalog, entries, lint_cache=_lint_cache(settings),
                lint_cached_only=True, run_id=summary.run_id,
            )  # fmt: skip

    return anyio.run(main)


def _console() -> Console:
    from chiffon.cli.console import make_console

    return make_console(highlight=False, soft_wrap=True, markup=False, emoji=False)


def _print_json(value: Any) -> None:
    import json

    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _report_json(report: CheckReport) -> dict[str, Any]:
    return {
        "catalog": report.catalog,
        "entries": list(report.entries),
        "lint_error": report.lint_error,
        "opened": list(report.recorded.opened),
        "implemented": list(report.recorded.implemented),
        "seconds": {k: round(v, 3) for k, v in report.seconds.items()},
        "suggestions": [s.as_json() for s in report.suggestions],
    }


def _print_report(console: Console, report: CheckReport, *, diffs: bool) -> None:
    for item in report.suggestions:
        _print_suggestion(console, item, diff=diffs)
    recorded = report.recorded
    parts = [f"{len(report.suggestions)} open", f"{len(recorded.opened)} new"]
    if recorded.implemented:
        parts.append(f"{len(recorded.implemented)} implemented since the last check")
    console.print(f"{report.catalog}: {', '.join(parts)}")
    if report.lint_error:
        console.print(f"ansible-lint left out: {report.lint_error}")
    if any(s.diff for s in report.suggestions):
        console.print("chiffon playbooks accept ID commits a [diff] on a branch; --diff shows it")


def _print_suggestion(
    console: Console, item: Suggestion, *, diff: bool = False, status: bool = False
) -> None:
    fixable = " [diff]" if item.diff else ""
    state = f" ({item.status}{', ' + item.branch if item.branch else ''})" if status else ""
    console.print(f"#{item.id} {item.rule} {item.where}{fixable}{state}")
    console.print(f"    {item.message}")
    console.print(f"    why: {item.why}")
    console.print(f"    fix: {item.fix}")
    if diff and item.diff:
        for line in item.diff.splitlines():
            console.print(f"    {line}")
