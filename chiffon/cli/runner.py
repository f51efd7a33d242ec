"""How every command runs async code, opens the record, and fails: one readable sentence on
stderr and an exit status, never a traceback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from chiffon.errors import ChiffonError, ConfigError

if TYPE_CHECKING:
    from chiffon.catalog import Catalog
    from chiffon.runs import Runs
    from chiffon.settings import Settings

T = TypeVar("T")


def fail(sentence: str, code: int = 2) -> typer.Exit:
    """Print ``chiffon: <sentence>`` on stderr; the caller raises the returned ``Exit``."""
    typer.echo(f"chiffon: {sentence}", err=True)
    return typer.Exit(code)


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main`` on an event loop; a ``ConfigError`` prints its sentence and exits with 2."""
    import anyio

    try:
        return anyio.run(main)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def settings() -> Settings:
    """The settings, or exit 2 saying what is wrong with them."""
    from chiffon.settings import Settings

    try:
        return Settings.load()
    except ChiffonError as exc:
        raise fail(str(exc)) from None


def with_runs(
    ask: Callable[[Runs], Awaitable[T]],
    *,
    configured: Settings | None = None,
    catalog: Catalog | None = None,
    code: int = 2,
) -> T:
    """Open the record (``chiffon.assembly.open_runs``: the store alone, planning with
    ``catalog`` if given), ask, close. A Chiffon error (no such run, a refused decision)
    becomes one sentence and exit ``code``, like start-up errors."""
    from chiffon.assembly import open_runs

    chosen = configured if configured is not None else settings()

    async def main() -> T:
        async with open_runs(chosen, catalog=catalog) as runs:
            return await ask(runs)

    try:
        return run(main)
    except ChiffonError as exc:
        raise fail(str(exc), code) from None
