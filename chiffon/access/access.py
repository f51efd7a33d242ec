"""``Access``: users, tokens and browser sessions over the ``Database`` port.

A token's text is ``chf_<id>_<secret>``: the id (12 hex digits) finds the row by primary key,
the secret (43 url-safe characters, 256 random bits) is compared by its SHA-256 in constant
time. A token's last use is written at most once a minute per token, so authenticating a busy
client does not turn every read into a write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from chiffon.access.errors import (
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
from chiffon.access.passwords import hash_password, verify_password
from chiffon.access.records import BrowserSession, Principal, TokenInfo, UserInfo
from chiffon.access.scopes import Scope, included
from chiffon.access.tables import browser_sessions, refusals, tokens, users
from chiffon.database import Database

MIN_PASSWORD_LENGTH = 8
SESSION_LIFETIME = dt.timedelta(hours=12)
LAST_USE_RESOLUTION = dt.timedelta(minutes=1)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_TOKEN = re.compile(r"chf_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Access:
    """Who may use Chiffon, and how they prove it. Every method may also raise
    ``JournalUnavailable`` when the database is away."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._last_use_written: dict[str, dt.datetime] = {}

    # users

    async def add_user(self, name: str, password: str, *, scope: Scope = "approve") -> UserInfo:
        """Add a user; the password is stored as its argon2id hash. Raises
        ``InvalidUserName``, ``WeakPassword``, ``UserExists``."""
        if not _NAME.fullmatch(name):
            raise InvalidUserName(name)
        _check_password_strength(password)
        created = _now()
        row = await self._db.fetch_one(
            pg_insert(users)
            .values(
                name=name,
                password_hash=await hash_password(password),
                scope=scope,
                created_at=created,
            )
            .on_conflict_do_nothing(index_elements=[users.c.name])
            .returning(users.c.name)
        )
        if row is None:
            raise UserExists(name)
        return UserInfo(name, scope, created)

    async def set_password(self, name: str, password: str) -> None:
        """Replace a user's password and end their browser sessions. Raises ``WeakPassword``,
        ``UnknownUser``."""
        _check_password_strength(password)
        hashed = await hash_password(password)
        async with self._db.transaction() as db:
            row = await db.fetch_one(
                update(users)
                .where(users.c.name == name)
                .values(password_hash=hashed)
                .returning(users.c.name)
            )
            if row is None:
                raise UnknownUser(name)
            await db.execute(delete(browser_sessions).where(browser_sessions.c.user_name == name))

    async def users(self) -> list[UserInfo]:
        rows = await self._db.fetch(select(users).order_by(users.c.name))
        return [UserInfo(r["name"], r["scope"], r["created_at"]) for r in rows]

    async def has_users(self) -> bool:
        return await self._db.fetch_one(select(users.c.name).limit(1)) is not None

    async def check_password(self, name: str, password: str) -> Principal | None:
        """The user, when ``password`` is theirs; ``None`` for a wrong name or password (the
        same answer, in the same time, for both)."""
        row = await self._db.fetch_one(
            select(users.c.password_hash, users.c.scope).where(users.c.name == name)
        )
        stored = None if row is None else row["password_hash"]
        if not await verify_password(stored, password) or row is None:
            return None
        return Principal(user=name, scope=row["scope"], via="session")

    # tokens

    async def create_token(
        self, user: str, scope: Scope, expires: dt.timedelta | None = None
    ) -> tuple[TokenInfo, str]:
        """A new token of ``user`` and its secret, which is shown this once and never stored.
        Raises ``UnknownUser``, ``ScopeTooWide``."""
        row = await self._db.fetch_one(select(users.c.scope).where(users.c.name == user))
        if row is None:
            raise UnknownUser(user)
        if scope not in included(row["scope"]):
            raise ScopeTooWide(user, row["scope"], scope)
        token_id = secrets.token_hex(6)
        secret = f"chf_{token_id}_{secrets.token_urlsafe(32)}"
        created = _now()
        info = TokenInfo(
            id=token_id,
            user=user,
            scope=scope,
            created_at=created,
            expires_at=None if expires is None else created + expires,
            revoked_at=None,
            last_used_at=None,
        )
        await self._db.execute(
            insert(tokens).values(
                id=token_id,
                user_name=user,
                scope=scope,
                secret_hash=_digest(secret),
                created_at=created,
                expires_at=info.expires_at,
            )
        )
        return info, secret

    async def authenticate(self, secret: str) -> Principal:
        """The principal a token's secret stands for. Raises ``Unauthenticated`` (malformed or
        unknown), ``TokenRevoked``, ``TokenExpired``."""
        match = _TOKEN.fullmatch(secret)
        if match is None:
            raise Unauthenticated("the bearer token is not a Chiffon token (chf_…)")
        token_id = match.group(1)
        row = await self._db.fetch_one(
            select(
                tokens.c.user_name,
                tokens.c.scope,
                tokens.c.secret_hash,
                tokens.c.expires_at,
                tokens.c.revoked_at,
            ).where(tokens.c.id == token_id)
        )
        if row is None or not hmac.compare_digest(row["secret_hash"], _digest(secret)):
            raise Unauthenticated("the bearer token is unknown")
        if row["revoked_at"] is not None:
            raise TokenRevoked(token_id)
        now = _now()
        if row["expires_at"] is not None and row["expires_at"] <= now:
            raise TokenExpired(token_id)
        await self._note_use(token_id, now)
        return Principal(user=row["user_name"], scope=row["scope"], via="token", token_id=token_id)

    async def _note_use(self, token_id: str, now: dt.datetime) -> None:
        written = self._last_use_written.get(token_id)
        if written is not None and now - written < LAST_USE_RESOLUTION:
            return
        self._last_use_written[token_id] = now
        await self._db.execute(
            update(tokens).where(tokens.c.id == token_id).values(last_used_at=now)
        )

    async def revoke_token(self, token_id: str) -> TokenInfo:
        """Revoke a token (revoking it again changes nothing). Raises ``UnknownToken``."""
        await self._db.execute(
            update(tokens)
            .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=_now())
        )
        row = await self._db.fetch_one(select(tokens).where(tokens.c.id == token_id))
        if row is None:
            raise UnknownToken(token_id)
        return _token(row)

    async def tokens(self, user: str | None = None) -> list[TokenInfo]:
        """Tokens, newest first, with their last use; only ``user``'s when given."""
        query = select(tokens).order_by(tokens.c.created_at.desc())
        if user is not None:
            query = query.where(tokens.c.user_name == user)
        return [_token(row) for row in await self._db.fetch(query)]

    # browser sessions

    async def open_session(self, user: str) -> BrowserSession:
        """A new browser session of ``user`` (after ``check_password``)."""
        session = BrowserSession(
            id=secrets.token_urlsafe(32),
            user=user,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=_now() + SESSION_LIFETIME,
        )
        await self._db.execute(
            insert(browser_sessions).values(
                id_hash=_digest(session.id),
                user_name=user,
                csrf_token=session.csrf_token,
                created_at=_now(),
                expires_at=session.expires_at,
            )
        )
        return session

    async def session(self, session_id: str) -> tuple[Principal, BrowserSession] | None:
        """The live session a cookie names, with its user; ``None`` when unknown or expired."""
        row = await self._db.fetch_one(
            select(
                browser_sessions.c.user_name,
                browser_sessions.c.csrf_token,
                browser_sessions.c.expires_at,
                users.c.scope,
            )
            .join(users, users.c.name == browser_sessions.c.user_name)
            .where(
                browser_sessions.c.id_hash == _digest(session_id),
                browser_sessions.c.expires_at > func.now(),
            )
        )
        if row is None:
            return None
        user = row["user_name"]
        return (
            Principal(user=user, scope=row["scope"], via="session"),
            BrowserSession(session_id, user, row["csrf_token"], row["expires_at"]),
        )

    async def close_session(self, session_id: str) -> None:
        """End a session (log out); closing an unknown one changes nothing."""
        await self._db.execute(
            delete(browser_sessions).where(browser_sessions.c.id_hash == _digest(session_id))
        )

    # refused attempts

    async def record_refusal(
        self,
        *,
        action: str,
        code: str,
        reason: str,
        channel: str,
        target: str | None = None,
        user: str | None = None,
        token_id: str | None = None,
        address: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        """Keep a refused attempt (an approval without the scope, on a stale revision, …)."""
        await self._db.execute(
            insert(refusals).values(
                at=_now(),
                action=action,
                target=target,
                code=code,
                reason=reason,
                user_name=user,
                token_id=token_id,
                channel=channel,
                address=address,
                user_agent=user_agent,
            )
        )

    async def refusals(
        self, target: str | None = None, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Refused attempts, newest first; only those aimed at ``target`` when given."""
        query = select(refusals).order_by(refusals.c.id.desc()).limit(limit)
        if target is not None:
            query = query.where(refusals.c.target == target)
        return [dict(row) for row in await self._db.fetch(query)]


def _check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(MIN_PASSWORD_LENGTH)


def _token(row: Mapping[str, Any]) -> TokenInfo:
    return TokenInfo(
        id=row["id"],
        user=row["user_name"],
        scope=cast(Scope, row["scope"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )
