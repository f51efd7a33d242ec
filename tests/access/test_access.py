"""Users, tokens, sessions and refusals against the machine's PostgreSQL."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, update

from chiffon.access import (
    Access,
    InvalidUserName,
    ScopeTooWide,
    TokenExpired,
    TokenRevoked,
    Unauthenticated,
    UnknownToken,
    UnknownUser,
    UserExists,
    WeakPassword,
    included,
)
from chiffon.access.tables import tokens, users
from chiffon.database import Database
from tests.audit.seed import database

PASSWORD = "correct horse battery"


@pytest.fixture
async def db(machine_dsn: str) -> AsyncIterator[Database]:
    async with database(machine_dsn) as found:
        yield found


def name() -> str:
    return f"user-{secrets.token_hex(4)}"


def test_each_scope_includes_the_ones_before_it() -> None:
    assert included("read") == {"read"}
    assert included("approve") == {"read", "run", "approve"}
    assert included("admin") == {"read", "run", "approve", "admin"}


async def test_a_password_is_stored_as_an_argon2id_hash_and_checked(db: Database) -> None:
    access, who = Access(db), name()
    await access.add_user(who, PASSWORD, scope="approve")
    row = await db.fetch_one(select(users).where(users.c.name == who))
    assert row is not None
    assert row["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in row["password_hash"]
    principal = await access.check_password(who, PASSWORD)
    assert principal is not None
    assert (principal.user, principal.scope, principal.via) == (who, "approve", "session")
    assert await access.check_password(who, "wrong password") is None
    assert await access.check_password(name(), PASSWORD) is None


async def test_bad_names_short_passwords_and_taken_names_are_refused(db: Database) -> None:
    access, who = Access(db), name()
    with pytest.raises(InvalidUserName, match="not a usable user name"):
        await access.add_user("bad name; drop", PASSWORD)
    with pytest.raises(WeakPassword, match="at least 8 characters"):
        await access.add_user(who, "short")
    await access.add_user(who, PASSWORD)
    with pytest.raises(UserExists, match=f"already a user named '{who}'"):
        await access.add_user(who, PASSWORD)


async def test_a_token_is_shown_once_stored_hashed_and_authenticates(db: Database) -> None:
    access, who = Access(db), name()
    await access.add_user(who, PASSWORD, scope="approve")
    info, secret = await access.create_token(who, "run")
    assert secret.startswith(f"chf_{info.id}_")
    row = await db.fetch_one(select(tokens).where(tokens.c.id == info.id))
    assert row is not None
    assert secret not in str(dict(row))
    principal = await access.authenticate(secret)
    assert (principal.user, principal.scope, principal.token_id) == (who, "run", info.id)
    assert principal.allows("read")
    assert not principal.allows("approve")
    [listed] = await access.tokens(who)
    assert listed.id == info.id
    assert listed.last_used_at is not None


async def test_a_token_may_not_grant_more_than_its_user_has(db: Database) -> None:
    access, who = Access(db), name()
    await access.add_user(who, PASSWORD, scope="run")
    with pytest.raises(ScopeTooWide, match="cannot have 'approve'"):
        await access.create_token(who, "approve")
    with pytest.raises(UnknownUser):
        await access.create_token(name(), "read")


async def test_revoked_expired_forged_and_malformed_tokens_are_refused(db: Database) -> None:
    access, who = Access(db), name()
    await access.add_user(who, PASSWORD)
    revoked, revoked_secret = await access.create_token(who, "read")
    assert (await access.revoke_token(revoked.id)).revoked_at is not None
    with pytest.raises(TokenRevoked, match=f"token {revoked.id} was revoked"):
        await access.authenticate(revoked_secret)
    expired, expired_secret = await access.create_token(who, "read", dt.timedelta(days=1))
    await db.execute(
        update(tokens)
        .where(tokens.c.id == expired.id)
        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    with pytest.raises(TokenExpired, match="has expired"):
        await access.authenticate(expired_secret)
    live, live_secret = await access.create_token(who, "read")
    forged = live_secret[:-4] + ("AAAA" if not live_secret.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthenticated, match="unknown"):
        await access.authenticate(forged)
    with pytest.raises(Unauthenticated, match="not a Chiffon token"):
        await access.authenticate("hunter2")
    with pytest.raises(UnknownToken):
        await access.revoke_token("000000000000")
    states = {t.id: t.state(dt.datetime.now(dt.UTC)) for t in await access.tokens(who)}
    assert states == {revoked.id: "revoked", expired.id: "expired", live.id: "active"}


async def test_a_session_names_its_user_until_closed_or_the_password_changes(
    db: Database,
) -> None:
    access, who = Access(db), name()
    await access.add_user(who, PASSWORD, scope="read")
    session = await access.open_session(who)
    found = await access.session(session.id)
    assert found is not None
    principal, again = found
    assert (principal.user, principal.scope, principal.via) == (who, "read", "session")
    assert again.csrf_token == session.csrf_token
    await access.close_session(session.id)
    assert await access.session(session.id) is None
    second = await access.open_session(who)
    await access.set_password(who, "another good password")
    assert await access.session(second.id) is None
    assert await access.session("no such session") is None


async def test_refused_attempts_are_kept_with_who_and_where(db: Database) -> None:
    access, target = Access(db), f"run-{secrets.token_hex(4)}"
    await access.record_refusal(
        action="approve", code="insufficient_scope", reason="needs approve", channel="api",
        target=target, user="bob", token_id="0123456789ab", address="127.0.0.1",
        user_agent="curl/8",
    )  # fmt: skip
    [refusal] = await access.refusals(target)
    assert refusal["user_name"] == "bob"
    assert refusal["code"] == "insufficient_scope"
    assert refusal["address"] == "127.0.0.1"
    assert refusal["user_agent"] == "curl/8"
