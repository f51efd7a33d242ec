"""``chiffon serve``: the long-running orchestrator."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from chiffon.settings import Settings


def serve(
    catalog: Annotated[
        Path | None, typer.Option("--catalog", help="Catalog directory. Default: CHIFFON_CATALOG.")
    ] = None,
) -> None:
    """Run the orchestrator until SIGTERM/SIGINT: journal, start-up reconciliation, the agents'
    registry and, with CHIFFON_AMQP_URL, the bridge to remote agents (local agents otherwise).
    """
    from chiffon.cli.runner import run
    from chiffon.errors import ChiffonError
    from chiffon.settings import Settings

    try:
        settings = Settings.load()
        root = catalog or settings.catalog
        if root is None:
            typer.echo("chiffon: no catalog: pass --catalog DIR or set CHIFFON_CATALOG", err=True)
            raise typer.Exit(2)
        run(lambda: _serve(settings, root))
    except ChiffonError as exc:
        typer.echo(f"chiffon: {exc}", err=True)
        raise typer.Exit(2) from None


async def _serve(settings: Settings, catalog: Path) -> None:
    import signal

    import anyio

    from chiffon.assembly import System

    async with System(settings, catalog=catalog) as system:
        where = system.remote_queue or "local agents only (CHIFFON_AMQP_URL is not set)"
        typer.echo(f"chiffon serve: ready on {system.database_url}; {where}", err=True)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for received in signals:
                typer.echo(f"chiffon serve: {signal.Signals(received).name}, stopping", err=True)
                break
