"""The CLI's rich consoles: as wide as the terminal, and wide enough when piped.

Rich lays a console that is not a terminal out at 80 columns, so piped or captured output
(``chiffon run … | tee log``, CI logs) had its table cells cut with "…" — an image tag or a
host list half shown. Piped, a console is ``PIPED_WIDTH`` wide: a table is only as wide as its
content, so nothing grows but what was cut.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

PIPED_WIDTH = 200


def make_console(**options: Any) -> Console:
    """A ``rich.console.Console(**options)``, ``PIPED_WIDTH`` wide when not on a terminal."""
    from rich.console import Console

    console = Console(**options)
    if not console.is_terminal and console.width < PIPED_WIDTH:
        console.width = PIPED_WIDTH
    return console
