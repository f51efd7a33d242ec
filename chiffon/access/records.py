"""What the identity layer hands out: who acts (``Principal``), tokens, sessions, users."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Literal

from chiffon.access.scopes import Scope, included


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user, as a request carries it: by a token or a browser session.

    ``scope`` is the token's (or, for a session, the user's); ``scopes`` is everything it
    includes.
    """

    user: str
    scope: Scope
    via: Literal["token", "session"]
    token_id: str | None = None

    @property
    def scopes(self) -> frozenset[Scope]:
        return included(self.scope)

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes


@dataclasses.dataclass(frozen=True, slots=True)
class UserInfo:
    name: str
    scope: Scope
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never its secret."""

    id: str
    user: str
    scope: Scope
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    def state(self, now: dt.datetime) -> Literal["active", "expired", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclasses.dataclass(frozen=True, slots=True)
class BrowserSession:
    """A logged-in browser: ``id`` goes in the cookie, ``csrf_token`` in its pages' forms."""

    id: str
    user: str
    csrf_token: str
    expires_at: dt.datetime
