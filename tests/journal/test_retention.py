"""Pruning: old messages go, recent ones and every transition stay."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid

import asyncpg
import pytest

from chiffon.journal.retention import parse_age, prune, uuid7_floor

KIND = f"retention.test.{uuid.uuid4().hex[:8]}"


def _id_at(moment: dt.datetime, n: int) -> uuid.UUID:
    return uuid.UUID(int=uuid7_floor(moment).int | n)


async def _insert(dsn: str, ids: list[uuid.UUID], moment: dt.datetime) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.executemany(
            "INSERT INTO messages (id, kind, recipient, created_at, body)"
            " VALUES ($1, $2, 'test', $3, '{}')",
            [(i, KIND, moment) for i in ids],
        )
    finally:
        await connection.close()


async def _left(dsn: str) -> set[uuid.UUID]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT id FROM messages WHERE kind = $1", KIND)
    finally:
        await connection.close()
    return {row["id"] for row in rows}


async def test_prune_deletes_messages_older_than_the_cut_off_and_keeps_the_rest(
    machine_dsn: str,
) -> None:
    now = dt.datetime.now(dt.UTC)
    old = [_id_at(now - dt.timedelta(days=40), n) for n in range(1, 4)]
    recent = [_id_at(now - dt.timedelta(days=1), n) for n in range(1, 3)]
    await _insert(machine_dsn, old, now - dt.timedelta(days=40))
    await _insert(machine_dsn, recent, now - dt.timedelta(days=1))

    counted = await prune(machine_dsn, now - dt.timedelta(days=30), dry_run=True)
    assert counted.messages >= 3
    assert await _left(machine_dsn) == set(old) | set(recent)

    pruned = await prune(machine_dsn, now - dt.timedelta(days=30))
    assert pruned.messages >= 3
    assert await _left(machine_dsn) == set(recent)


def test_the_floor_of_a_moment_sorts_between_ids_made_before_and_after_it() -> None:
    moment = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    floor = uuid7_floor(moment)
    assert floor.version == 7
    assert _id_at(moment - dt.timedelta(milliseconds=1), 5) < floor <= _id_at(moment, 0)


@pytest.mark.parametrize(("text", "days"), [("30d", 30), ("2w", 14), ("12h", 0.5)])
def test_ages_are_read_in_minutes_hours_days_or_weeks(text: str, days: float) -> None:
    assert parse_age(text) == dt.timedelta(days=days)


@pytest.mark.parametrize("text", ["30", "d", "-3d", "3y", "", "\u00b2d"])
def test_a_malformed_age_names_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="like 30d, 12h, 90m or 2w"):
        parse_age(text)


@pytest.mark.parametrize("text", ["99999999d", "36526d", "999999999999999999999w"])
def test_an_age_beyond_a_hundred_years_is_refused_in_a_sentence(text: str) -> None:
    """``db prune --older-than 99999999d`` was an ``OverflowError`` traceback (issue 16)."""
    with pytest.raises(ValueError, match="longer than a hundred years"):
        parse_age(text)


def test_the_prune_command_reports_what_it_would_delete(machine_dsn: str, tmp_path: object) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    env.update(CHIFFON_DATABASE_URL=machine_dsn, CHIFFON_HOME=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "chiffon", "db", "prune", "--older-than", "3650d", "--dry-run"],
        capture_output=True, text=True, env=env, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("would delete 0 messages and 0 inbox entries made before")
    bad = subprocess.run(
        [sys.executable, "-m", "chiffon", "db", "prune", "--older-than", "soon"],
        capture_output=True, text=True, env=env, check=False, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "like 30d" in bad.stderr
