"""Identity and permissions: users (argon2id passwords), bearer tokens (shown once, stored
hashed, revocable, listed with last use), browser sessions with a CSRF token, and the record of
refused attempts. Scopes ``read < run < approve < admin``, each including the ones before it.

The HTTP layer (``chiffon.api.auth``) turns a request into a ``Principal`` through ``Access``;
the CLI's ``chiffon users`` and ``chiffon tokens`` manage them.
"""

from __future__ import annotations

from chiffon.access.access import MIN_PASSWORD_LENGTH, SESSION_LIFETIME, Access
from chiffon.access.errors import (
    AccessError,
    InsufficientScope,
    InvalidUserName,
    ScopeTooWide,
    TokenExpired,
    TokenRevoked,
    Unauthenticated,
    UnknownToken,
    UnknownUser,
    UserExists,
    WeakPassword,
)
from chiffon.access.records import BrowserSession, Principal, TokenInfo, UserInfo
from chiffon.access.scopes import SCOPES, Scope, included, parse_scope

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "SCOPES",
    "SESSION_LIFETIME",
    "Access",
    "AccessError",
    "BrowserSession",
    "InsufficientScope",
    "InvalidUserName",
    "Principal",
    "Scope",
    "ScopeTooWide",
    "TokenExpired",
    "TokenInfo",
    "TokenRevoked",
    "Unauthenticated",
    "UnknownToken",
    "UnknownUser",
    "UserExists",
    "UserInfo",
    "WeakPassword",
    "included",
    "parse_scope",
]
