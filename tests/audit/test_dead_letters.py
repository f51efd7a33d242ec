"""Dead-letter records on PostgreSQL: stored as refused, listed by age and code, readable
whatever the message carried; and ``chiffon audit dead-letters`` as a user runs it."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from chiffon.audit.dead_letters import BODY_KEPT, list_dead_letters, record_dead_letter
from chiffon.database import Database
from tests.audit.seed import database


def refusal(code: str, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "queue": "chiffon.agent.infra-1", "code": code,
        "reason": "the signature does not match infra-1's key", "message_id": "m-1",
        "kind": "step.execute", "sender": "orchestrator:host-1", "user_id": "chiffon",
        "reported_by": "agent:infra-1", "routing_key": "agent.infra-1",
        "headers": {"x-chiffon-key": "infra-1"},
        "body": b'[{"kind":"step.execute"}]', "body_size": 25,
    }  # fmt: skip
    fields.update(changes)
    return fields


async def record(db: Database, code: str, **changes: Any) -> Any:
    return await record_dead_letter(db, **refusal(code, **changes))


async def test_a_refusal_is_stored_as_it_came_and_listed_newest_first_by_code_and_age(
    pg_dsn: str,
) -> None:
    code = f"forged-{secrets.token_hex(3)}"
    async with database(pg_dsn) as db:
        old = await record(db, code, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=10))
        first = await record(db, code)
        second = await record(db, code, kind=None, sender=None, message_id=None)
        other = await record(db, f"replayed-{secrets.token_hex(3)}")
        everything = await list_dead_letters(db, code=code)
        week = await list_dead_letters(db, code=code, since=dt.timedelta(days=7))
        one = await list_dead_letters(db, code=code, limit=1)
        recent = await list_dead_letters(db, since=dt.timedelta(hours=1), limit=1000)
    assert [d.id for d in everything] == [second, first, old]
    assert [d.id for d in week] == [second, first]
    assert [d.id for d in one] == [second]
    assert other in {d.id for d in recent}
    assert old not in {d.id for d in recent}
    stored = everything[1]
    assert first.version == 7
    assert stored.model_dump(exclude={"id", "at"}) == {
        **refusal(code), "body_encoding": "utf-8"
    }  # fmt: skip
    assert (everything[0].kind, everything[0].sender, everything[0].message_id) == (None,) * 3


async def test_a_large_body_is_kept_to_64_kib_with_its_whole_size(pg_dsn: str) -> None:
    code = f"oversize-{secrets.token_hex(3)}"
    body = b"x" * (2 * 1024 * 1024)
    async with database(pg_dsn) as db:
        await record(db, code, body=body, body_size=len(body))
        (stored,) = await list_dead_letters(db, code=code)
    assert stored.body == body[:BODY_KEPT]
    assert stored.body_size == len(body)


async def test_whatever_a_message_carried_its_refusal_can_be_recorded(pg_dsn: str) -> None:
    """NUL characters and lone surrogates (both arrive through JSON's escapes), NaN and
    nested values in headers, bytes that are not UTF-8: none of them may make the record fail,
    or the refusal would be retried for ever."""
    code = f"unknown_kind-{secrets.token_hex(3)}"
    body = b"\xff\xfe[\x00]"
    async with database(pg_dsn) as db:
        await record(
            db, code, kind="evil\x00kind\ud800", sender="agent:\x00", body=body,
            headers={"x-nul\x00": "a\x00b", "x-nan": float("nan"), "x-table": {"a": [1, b"2"]},
                     "x-bytes": b"\xff", "x-big": 2**62, "x-flag": True},
        )  # fmt: skip
        (stored,) = await list_dead_letters(db, code=code)
    assert stored.kind == "evil\ufffdkind?"
    assert stored.sender == "agent:\ufffd"
    assert stored.headers == {
        "x-nul\ufffd": "a\ufffdb", "x-nan": "nan", "x-table": "{'a': [1, b'2']}",
        "x-bytes": "\ufffd", "x-big": 2**62, "x-flag": True, }  # fmt: skip
    assert stored.body == body
    dumped = stored.model_dump(mode="json")
    assert dumped["body_encoding"] == "base64"
    assert base64.b64decode(dumped["body"]) == body


# ``chiffon audit dead-letters`` in a real process.


def chiffon(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chiffon", "audit", "dead-letters", *args],
        capture_output=True, text=True, env=env, timeout=100, check=False,
    )  # fmt: skip


@pytest.fixture
def env(tmp_path: Path, embedded_dsn: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    clean["CHIFFON_HOME"] = str(tmp_path / "home")
    clean["CHIFFON_LOG_FORMAT"] = "json"
    clean["CHIFFON_DATABASE_URL"] = embedded_dsn
    return clean


def test_audit_dead_letters_prints_the_records_as_json_or_a_table(
    env: dict[str, str], embedded_dsn: str
) -> None:
    code = f"forged-{secrets.token_hex(3)}"

    async def seed() -> list[Any]:
        async with database(embedded_dsn) as db:
            old = await record(db, code, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=9))
            new = await record(db, code, body=b"\x80 not utf-8", body_size=12)
            return [new, old]

    new, old = anyio.run(seed)
    listed = chiffon("--code", code, "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert [d["id"] for d in found] == [str(new), str(old)]
    assert found[0]["code"] == code
    assert found[0]["reason"] == "the signature does not match infra-1's key"
    assert (found[0]["kind"], found[0]["sender"], found[0]["user_id"]) == (
        "step.execute", "orchestrator:host-1", "chiffon",
    )  # fmt: skip
    assert found[0]["queue"] == "chiffon.agent.infra-1"
    assert found[0]["headers"] == {"x-chiffon-key": "infra-1"}
    assert (found[0]["body_encoding"], found[0]["body"]) == ("base64", "gCBub3QgdXRmLTg=")
    assert (found[1]["body_encoding"], found[1]["body"]) == ("utf-8", '[{"kind":"step.execute"}]')

    week = chiffon("--code", code, "--since", "7d", "--json", env=env)
    assert [d["id"] for d in json.loads(week.stdout)] == [str(new)]

    table = chiffon("--code", code, "--since", "7d", env=env)
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.strip().splitlines()
    assert header.split()[:6] == ["when", "(UTC)", "code", "reported", "by", "queue"]
    assert f" {code} " in row
    assert " agent:infra-1 " in row  # the reporter has its own column
    assert "step.execute" in row
    assert "orchestrator:host-1" in row
    assert row.endswith("the signature does not match infra-1's key")

    empty = chiffon("--code", "no-such-code", env=env)
    assert (empty.returncode, empty.stdout.strip()) == (0, "no dead letters match")
    bad = chiffon("--since", "7x", env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "chiffon: --since '7x' is not an age like 30m, 12h, 7d or 2w"
