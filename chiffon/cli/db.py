"""``chiffon db``: schema commands (placeholder; the journal work fills it in)."""

from __future__ import annotations

import typer

app = typer.Typer(help="The database: schema upgrades and where it lives.", no_args_is_help=True)
