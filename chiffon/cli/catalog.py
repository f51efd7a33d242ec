"""``chiffon catalog``: draft a catalog from an Ansible repository as it is (``import``) and
validate a catalog, every problem with its file and line (``check``). Neither starts the
store nor imports Ansible."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chiffon.cli.runner import fail

app = typer.Typer(
    help="Draft a catalog from an Ansible repository, validate a catalog, and install its "
    "requirements.yml.",
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


@app.command()
def requirements(
    path: Annotated[
        Path | None,
        typer.Argument(help="The catalog directory (default: CHIFFON_CATALOG)."),
    ] = None,
    install: Annotated[
        bool,
        typer.Option(
            "--install",
            help="Install the requirements.yml roles and collections into Chiffon's own "
            "directory (.chiffon/requirements in the catalog, ignored by git), where runs "
            "look first.",
        ),
    ] = False,
) -> None:
    """List the repository's requirements.yml and what each entry's playbook needs that is
    not installed; with --install, install them (ansible-galaxy). Exit status: 0 nothing
    missing, 1 something missing or an install failed, 2 no catalog."""
    from chiffon.catalog import load_catalog
    from chiffon.catalog.requirements import (
        fix_command,
        install_requirements,
        read_requirements,
    )
    from chiffon.errors import ChiffonError

    try:
        if path is None:
            from chiffon.settings import Settings

            path = Settings.load().catalog
            if path is None:
                raise fail("no catalog: pass PATH or set CHIFFON_CATALOG")
        catalog = load_catalog(path)
        wanted = read_requirements(catalog.root)
    except ChiffonError as exc:
        raise fail(str(exc)) from None
    if install:
        if not wanted:
            raise fail(f"{catalog.root} has no requirements.yml: nothing to install")
        try:
            for command, output in install_requirements(catalog.root, catalog.requirements_dir):
                typer.echo(f"$ {command}")
                if output:
                    typer.echo(output)
        except ChiffonError as exc:
            raise fail(str(exc), 1) from None
    for item in wanted:
        typer.echo(
            f"{item.kind} {item.name} ({item.source}) "
            f"{item.file.relative_to(catalog.root)}:{item.line}"
        )
    missing = 0
    for entry_id, entry in catalog.entries.items():
        if entry.executor != "ansible":
            continue
        try:
            needs = catalog.missing_requirements(entry_id)
        except ChiffonError as exc:
            typer.echo(f"{entry_id}: {exc}", err=True)
            missing += 1
            continue
        for need in needs:
            missing += 1
            typer.echo(
                f"{entry_id}: {need.kind} {need.name} is not installed (used at "
                f"{need.used_at}): {need.reason}\n  fix: {fix_command(catalog.root, need)}"
            )
    if missing:
        raise typer.Exit(1)
    typer.echo(f"{catalog.root}: every role and collection the playbooks use is installed")
