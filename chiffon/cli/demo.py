"""``chiffon demo``: placeholder until the actor workload lands."""

from __future__ import annotations


def demo() -> None:
    """Run a small supervised actor workload persisted to PostgreSQL and print what happened."""
    raise NotImplementedError
