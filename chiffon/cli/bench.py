"""``chiffon bench``: placeholder until the scenarios land."""

from __future__ import annotations


def bench() -> None:
    """Measure Chiffon's hot paths against the raw libraries in the same run."""
    raise NotImplementedError
