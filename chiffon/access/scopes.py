"""Scopes: what a token or a user may do, each including the ones before it."""

from __future__ import annotations

from typing import Literal, get_args

Scope = Literal["read", "run", "approve", "admin"]
"""``read`` sees runs, audit and agents; ``run`` also submits and cancels; ``approve`` also
decides on plans; ``admin`` also manages users and tokens."""

SCOPES: tuple[Scope, ...] = get_args(Scope)


def included(scope: Scope) -> frozenset[Scope]:
    """Every scope ``scope`` grants: itself and the ones before it."""
    return frozenset(SCOPES[: SCOPES.index(scope) + 1])


def parse_scope(text: str) -> Scope:
    """``text`` as a scope; raises ``ValueError`` with a sentence naming the choices."""
    for scope in SCOPES:
        if text == scope:
            return scope
    raise ValueError(f"{text!r} is not a scope: use one of {', '.join(SCOPES)}")
