"""``chiffon db``: the schema, and where the database lives.

Each command reads ``Settings`` once and imports the journal (asyncpg, SQLAlchemy, Alembic)
inside its function, so that ``chiffon --help`` stays fast. With no ``CHIFFON_DATABASE_URL``
the commands start (or join) the embedded server under ``CHIFFON_HOME`` for their duration.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import typer

from chiffon.cli.runner import run

if TYPE_CHECKING:
    from chiffon.journal.retention import Pruned

app = typer.Typer(help="The database: schema upgrades and where it lives.", no_args_is_help=True)


async def _dsn(stack: AsyncExitStack) -> tuple[str, str]:
    from chiffon.journal.store import resolve_dsn
    from chiffon.settings import Settings

    settings = Settings.load()
    url = settings.database_url.get_secret_value() if settings.database_url else None
    return await resolve_dsn(url, settings.embedded_data_dir, stack)


async def _unreachable_to_config_error(dsn: str) -> None:
    """Connect once, so that a refused connection becomes one sentence, not a traceback."""
    from chiffon.journal.store import connect_pool

    pool = await connect_pool(dsn, size=1)
    await pool.close()


@app.command()
def upgrade() -> None:
    """Upgrade the schema to this version's head (Chiffon also does it at start)."""

    async def main() -> str | None:
        from chiffon.journal import migrate

        async with AsyncExitStack() as stack:
            dsn, _ = await _dsn(stack)
            await _unreachable_to_config_error(dsn)
            return await migrate.upgrade(dsn)

    typer.echo(f"schema at revision {run(main)} (head)")


@app.command()
def current() -> None:
    """Print the schema revision of the database ("none" before the first upgrade)."""

    async def main() -> tuple[str | None, str]:
        from chiffon.journal import migrate

        async with AsyncExitStack() as stack:
            dsn, _ = await _dsn(stack)
            await _unreachable_to_config_error(dsn)
            return await migrate.current(dsn), migrate.HEAD

    revision, head = run(main)
    if revision is None:
        typer.echo(f"none (head is {head}: run `chiffon db upgrade`)")
    elif revision == head:
        typer.echo(f"{revision} (head)")
    else:
        typer.echo(f"{revision} (head is {head})")


@app.command()
def url() -> None:
    """Print the database URL in use, password masked (the embedded server's socket URL when
    CHIFFON_DATABASE_URL is unset; it answers while some Chiffon process runs it)."""

    async def main() -> str:
        async with AsyncExitStack() as stack:
            _, display = await _dsn(stack)
            return display

    typer.echo(run(main))


@app.command()
def prune(
    older_than: str = typer.Option(
        ..., "--older-than", help="Age of what to delete: 30d, 12h, 90m, 2w."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count only; delete nothing."),
) -> None:
    """Delete journaled messages and inbox entries older than an age (transitions are kept:
    they are the entities' history)."""
    import datetime as dt

    from chiffon.journal.retention import parse_age

    try:
        age = parse_age(older_than)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--older-than") from None
    before = dt.datetime.now(dt.UTC) - age

    async def main() -> Pruned:
        from chiffon.journal.retention import prune as prune_journal

        async with AsyncExitStack() as stack:
            dsn, _ = await _dsn(stack)
            await _unreachable_to_config_error(dsn)
            return await prune_journal(dsn, before, dry_run=dry_run)

    pruned = run(main)
    verb = "would delete" if dry_run else "deleted"
    typer.echo(
        f"{verb} {pruned.messages} messages and {pruned.inbox} inbox entries "
        f"made before {before:%Y-%m-%d %H:%M} UTC"
    )
