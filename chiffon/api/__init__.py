"""The HTTP API of ``chiffon serve``: ``create_app`` over a running ``System``.

Importing this package imports FastAPI; only ``chiffon serve`` (and tests) do, so the rest of
the CLI starts without it.
"""

from __future__ import annotations
