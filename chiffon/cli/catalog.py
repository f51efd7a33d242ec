"""``chiffon catalog``: draft a catalog from an Ansible repository as it is (``import``) and
validate a catalog, every problem with its file and line (``check``). Neither starts the
store nor imports Ansible."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chiffon.cli.runner import fail

app = typer.Typer(
    help="Draft a catalog from an Ansible repository, and validate a catalog.",
    no_args_is_help=True,
)


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="The Ansible repository (its root directory).")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the draft to this file (default: standard output)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the --output file if it exists.")
    ] = False,
) -> None:
    """Draft catalog.yml entries from a repository's playbooks, roles (defaults, meta,
    README), feature flags, inventory and requirements.yml, for you to review. The
    repository's files are only read."""
    from chiffon.catalog.importing import import_repository
    from chiffon.errors import ChiffonError

    try:
        text, draft, repo = import_repository(path)
    except ChiffonError as exc:
        raise fail(str(exc)) from None
    if output is None:
        typer.echo(text, nl=False)
        return
    if output.exists() and not force:
        raise fail(f"{output} exists: pass --force to replace it, or choose another file")
    try:
        output.write_text(text)
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc}") from None
    place = repo.root / "catalog.yml"
    typer.echo(f"{len(draft.entries)} entries drafted to {output}", err=True)
    if output.resolve() != place:
        typer.echo(
            f"its paths are relative to {repo.root}: use it as {place} (chiffon catalog check "
            "validates it there)",
            err=True,
        )


@app.command()
def check(
    path: Annotated[
        Path | None,
        typer.Argument(help="A catalog directory or its catalog.yml (default: CHIFFON_CATALOG)."),
    ] = None,
) -> None:
    """Validate a catalog: every problem with its file and line. Exit status: 0 valid, 1
    problems found, 2 no catalog."""
    from chiffon.catalog.checking import check_catalog_file
    from chiffon.errors import ChiffonError

    if path is None:
        from chiffon.settings import Settings

        try:
            path = Settings.load().catalog
        except ChiffonError as exc:
            raise fail(str(exc)) from None
        if path is None:
            raise fail("no catalog: pass PATH or set CHIFFON_CATALOG")
    try:
        problems, count = check_catalog_file(path)
    except ChiffonError as exc:
        raise fail(str(exc)) from None
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        typer.echo(f"{len(problems)} {noun}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{path}: {count} entries, no problems")
