"""How every command runs async code and turns start-up errors into one readable line."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

from chiffon.errors import ConfigError

T = TypeVar("T")


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main`` on an event loop; a ``ConfigError`` prints its sentence and exits with 2."""
    import anyio

    try:
        return anyio.run(main)
    except ConfigError as exc:
        typer.echo(f"chiffon: {exc}", err=True)
        raise typer.Exit(2) from None
