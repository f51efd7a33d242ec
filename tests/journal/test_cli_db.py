"""``chiffon db upgrade / current / url`` against a real server."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator

import asyncpg
import pytest
from typer.testing import CliRunner

from chiffon.cli import app
from chiffon.journal import migrate
from tests.conftest import run_async, with_database


@pytest.fixture
def fresh_url(machine_admin_dsn: str) -> Iterator[str]:
    """A database of its own on the machine's server, its URL carrying a (trusted) password."""
    name = f"chiffon_cli_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(machine_admin_dsn)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    run_async(admin, f'CREATE DATABASE "{name}"')
    try:
        dsn = with_database(machine_admin_dsn, name)
        user, _, host = dsn.split("://", 1)[1].partition("@")
        yield f"postgresql://{user.split(':')[0]}:hunter2@{host}"
    finally:
        run_async(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def chiffon(*args: str, url: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"CHIFFON_DATABASE_URL": url})
    return result.exit_code, result.output


def test_db_upgrade_then_current_reports_head(fresh_url: str) -> None:
    assert chiffon("db", "current", url=fresh_url)[1].startswith("none")
    assert chiffon("db", "upgrade", url=fresh_url) == (
        0,
        f"schema at revision {migrate.HEAD} (head)\n",
    )
    assert chiffon("db", "current", url=fresh_url) == (0, f"{migrate.HEAD} (head)\n")


def test_db_url_masks_the_password(fresh_url: str) -> None:
    code, output = chiffon("db", "url", url=fresh_url)
    assert code == 0
    assert "hunter2" not in output
    assert output == fresh_url.replace(":hunter2@", ":***@") + "\n"


def test_an_unreachable_server_is_one_line_and_exit_status_2() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, output = chiffon("db", "current", url=f"postgresql://u:hunter2@127.0.0.1:{port}/x")
    assert code == 2
    assert output == (
        f"chiffon: cannot connect to PostgreSQL at 127.0.0.1:{port}: connection refused.\n"
    )
