"""``chiffon playbooks new SERVICE --image IMAGE --port N``: a playbook and role for a service
the catalog lacks, checked (syntax check and ansible-lint) before it is added to the catalog.

Only typer is imported at the top; generation is imported inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from chiffon.cli.runner import fail

if TYPE_CHECKING:
    from rich.console import Console

    from chiffon.playbooks.generation.new_entry import NewEntry

ServiceArgument = Annotated[
    str,
    typer.Argument(
        metavar="SERVICE", help="The service's name: lowercase letters, digits and dashes."
    ),
]


def new(
    service: ServiceArgument,
    image: Annotated[
        str,
        typer.Option(
            "--image", metavar="IMAGE", help="Container image, pinned: NAME:TAG (not latest)."
        ),
    ],
    port: Annotated[
        int, typer.Option("--port", metavar="N", help="Host port the service listens on.")
    ],
    container_port: Annotated[
        int | None,
        typer.Option(
            "--container-port", metavar="N", help="Port inside the container (default: --port)."
        ),
    ] = None,
    volume: Annotated[
        list[str] | None,
        typer.Option(
            "--volume",
            metavar="HOST:CONTAINER",
            help="HOST:CONTAINER[:ro], repeatable. A relative HOST is a directory under the "
            "service's own; an absolute one is under homelab_prefix.",
        ),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env",
            metavar="KEY=VALUE",
            help="KEY=VALUE, repeatable. Secret-looking values become secret variables.",
        ),
    ] = None,
    hosts: Annotated[
        str | None,
        typer.Option(
            "--hosts",
            metavar="TARGET",
            help="Inventory group or host it targets by default (default: the group most "
            "entries target).",
        ),
    ] = None,
    description: Annotated[
        str | None,
        typer.Option("--description", metavar="TEXT", help="The catalog entry's description."),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", metavar="TAG", help="A catalog tag, repeatable.")
    ] = None,
    synonym: Annotated[
        list[str] | None,
        typer.Option(
            "--synonym", metavar="WORDS", help="Another name requests may use, repeatable."
        ),
    ] = None,
    catalog: Annotated[
        Path | None,
        typer.Option(
            "--catalog", metavar="DIR", help="Catalog directory (default: CHIFFON_CATALOG)."
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Generate a playbook and role for SERVICE, check them, and add them to the catalog.

    Exit status: 0 added; 1 the checks failed or could not run; 2 bad arguments or catalog.
    Nothing is written to the catalog unless every check passes.
    """
    from chiffon.cli.runner import run
    from chiffon.errors import ChiffonError
    from chiffon.playbooks.generation.errors import ChecksFailed
    from chiffon.playbooks.generation.new_entry import new_entry
    from chiffon.playbooks.generation.spec import service_spec
    from chiffon.settings import Settings

    try:
        settings = Settings.load()
        root = catalog or settings.catalog
        if root is None:
            raise fail("no catalog: pass --catalog DIR or set CHIFFON_CATALOG")
        spec = service_spec(
            service,
            image=image,
            port=port,
            container_port=container_port,
            volumes=volume or (),
            env=env or (),
            description=description,
            tags=tag or (),
            synonyms=synonym or (),
            hosts=hosts,
        )
    except ChiffonError as exc:
        raise fail(str(exc)) from None

    try:
        result = run(lambda: new_entry(spec, root, lint_cache=settings.home / "cache" / "lint"))
    except ChiffonError as exc:
        checks = isinstance(exc, ChecksFailed) or exc.code == "lint_unavailable"
        raise fail(str(exc), 1 if checks else 2) from None
    except OSError as exc:
        raise fail(f"cannot write the generated files: {exc}", 1) from None
    if json_output:
        typer.echo(_dumps(_as_json(result)))
        return
    from chiffon.cli.console import make_console

    _print(make_console(), result)


def _as_json(result: NewEntry) -> dict[str, Any]:
    entry = result.entry
    return {
        "status": "added",
        "entry": entry.id,
        "catalog": str(result.root),
        "playbook": entry.playbook,
        "hosts": entry.hosts,
        "risk": entry.risk,
        "variables": {
            name: ("***" if v.secret else v.default) for name, v in entry.variables.items()
        },
        "secret": [name for name, v in entry.variables.items() if v.secret],
        "files": [str(f) for f in result.files],
        "digest": result.digest,
        "checks": {"syntax_s": result.checks.syntax_s, "lint_s": result.checks.lint_s},
        "seconds": result.seconds,
        "warnings": list(result.warnings),
    }


def _print(console: Console, result: NewEntry) -> None:
    entry = result.entry
    console.print(
        f"[bold green]added[/] [bold]{entry.id}[/] to {result.root / 'catalog.yml'} "
        f"(hosts {entry.hosts}, risk {entry.risk})"
    )
    console.print(
        f"checked in {result.seconds:.1f} s: syntax check passed "
        f"({result.checks.syntax_s:.1f} s), ansible-lint found nothing "
        f"({result.checks.lint_s:.1f} s)"
    )
    for path in result.files:
        console.print(f"  {path}", highlight=False)
    shown = ", ".join(
        f"{name}={'***' if v.secret else v.default}" for name, v in entry.variables.items()
    )
    console.print(f"variables: {shown}", highlight=False)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f'next: chiffon run --catalog {result.root} "Deploy {entry.id}"', highlight=False)


def _dumps(data: Any) -> str:
    import json

    return json.dumps(data, indent=2, default=str)
