"""The README's command at a terminal (a pseudo-terminal): the plan and its dry run, then the
prompt; approve, reject, modify and silence each end the run as they should, and are
recorded."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import CATALOG, FEEDBACK, PROMPT, REQUEST, Terminal, query

pytestmark = pytest.mark.slow


def ask(env: dict[str, str]) -> Terminal:
    """The README's command started at a terminal, waiting at the prompt (the dry run of each
    step shown above it)."""
    terminal = Terminal("run", "--catalog", str(CATALOG), REQUEST, env=env)
    before = terminal.expect(PROMPT)
    assert "dry run 1: uptime-kuma" in before
    assert "dry run 2: uptime-kuma-monitors" in before
    assert "plan revision 1" in before
    # The prompt says what each answer does.
    assert (
        "answers: approve (run the plan as shown), reject (run nothing), modify (say what "
        "should change: a new plan is made and shown)"
    ) in " ".join(before.split())
    return terminal


def compose_port(tmp_path: Path) -> list[str]:
    compose = tmp_path / "target" / "core" / "srv" / "uptime-kuma" / "compose.yaml"
    ports: list[str] = yaml.safe_load(compose.read_text())["services"]["uptime-kuma"]["ports"]
    return ports


def decisions(dsn: str, run_id: str) -> list[tuple[str, str, str, str]]:
    rows = query(
        dsn,
        "SELECT decision, channel, approver, plan_hash FROM approvals WHERE run_id = $1::uuid "
        "ORDER BY decided_at",
        run_id,
    )
    return [(r["decision"], r["channel"], r["approver"], r["plan_hash"]) for r in rows]


def run_row(dsn: str, run_id: str) -> dict[str, object]:
    (row,) = query(dsn, "SELECT * FROM runs WHERE id = $1::uuid", run_id)
    return row


def test_approving_at_the_prompt_runs_both_steps_with_one_line_per_task(
    env: dict[str, str], machine_dsn: str, tmp_path: Path
) -> None:
    terminal = ask(env)
    terminal.answer("a")
    assert terminal.finish() == 0, terminal.seen[-3000:]

    run_id = terminal.run_id()
    run = run_row(machine_dsn, run_id)
    assert run["status"] == "succeeded"
    assert decisions(machine_dsn, run_id) == [
        ("approve", "terminal", getpass.getuser(), run["plan_hash"])
    ]
    assert compose_port(tmp_path) == ["3001:3001"]
    seen = terminal.seen
    assert "step 1/2 uptime-kuma on core" in seen
    assert "step 2/2 uptime-kuma-monitors on core" in seen
    # A looping task (two directories) is one line, not one per item and one more.
    assert seen.count("changed core | Create Uptime Kuma's directories") == 1
    assert f"run {run_id} succeeded" in seen


def test_rejecting_at_the_prompt_exits_2_and_changes_nothing(
    env: dict[str, str], machine_dsn: str, tmp_path: Path
) -> None:
    terminal = ask(env)
    terminal.answer("r")
    assert terminal.finish() == 2, terminal.seen[-3000:]

    run_id = terminal.run_id()
    run = run_row(machine_dsn, run_id)
    assert run["status"] == "rejected"
    assert decisions(machine_dsn, run_id) == [
        ("reject", "terminal", getpass.getuser(), run["plan_hash"])
    ]
    assert query(machine_dsn, "SELECT id FROM steps WHERE run_id = $1::uuid", run_id) == []
    target = tmp_path / "target"
    assert not target.exists() or not any(target.rglob("*")), "the dry run wrote something"


def test_modifying_at_the_prompt_proposes_a_second_revision_that_needs_its_own_approval(
    env: dict[str, str], machine_dsn: str, tmp_path: Path
) -> None:
    terminal = ask(env)
    terminal.answer("m")
    terminal.expect(FEEDBACK)
    terminal.answer("use port 3002")
    revised = terminal.expect(PROMPT)
    assert "kuma_port=3002" in revised
    assert "plan revision 2" in revised
    assert "dry run 1: uptime-kuma" in revised
    terminal.answer("a")
    assert terminal.finish() == 0, terminal.seen[-3000:]

    assert compose_port(tmp_path) == ["3002:3001"]
    run_id = terminal.run_id()
    assert run_row(machine_dsn, run_id)["status"] == "succeeded"
    plans = query(
        machine_dsn,
        "SELECT revision, plan_hash, feedback FROM plans WHERE run_id = $1::uuid ORDER BY revision",
        run_id,
    )
    assert [(p["revision"], p["feedback"]) for p in plans] == [(1, None), (2, "use port 3002")]
    first, second = (p["plan_hash"] for p in plans)
    assert first != second
    user = getpass.getuser()
    assert decisions(machine_dsn, run_id) == [
        ("modify", "terminal", user, first),
        ("approve", "terminal", user, second),
    ]
    steps = query(
        machine_dsn,
        "SELECT playbook, plan_hash, variables ->> 'kuma_port' AS port FROM steps "
        "WHERE run_id = $1::uuid ORDER BY position",
        run_id,
    )
    assert [(s["playbook"], s["plan_hash"], s["port"]) for s in steps] == [
        ("uptime-kuma", second, "3002"),
        ("uptime-kuma-monitors", second, None),
    ]


def test_no_answer_before_the_approval_expires_exits_3_and_records_the_expiry(
    env: dict[str, str], machine_dsn: str, tmp_path: Path
) -> None:
    terminal = ask({**env, "CHIFFON_APPROVAL_TTL_S": "3"})
    assert terminal.finish() == 3, terminal.seen[-3000:]

    assert "no decision: the plan expires" in terminal.seen
    run_id = terminal.run_id()
    run = run_row(machine_dsn, run_id)
    assert run["status"] == "expired"
    ((decision, channel, _approver, plan_hash),) = decisions(machine_dsn, run_id)
    assert (decision, channel, plan_hash) == ("expired", "timer", run["plan_hash"])
    assert not (tmp_path / "target" / "core" / "srv").exists()


def test_a_question_is_asked_at_the_terminal_and_the_request_planned_again_with_the_answer(
    env: dict[str, str], machine_dsn: str
) -> None:
    terminal = Terminal("run", "--catalog", str(CATALOG), "deploy uptime kuma on the toaster",
                        env=env)  # fmt: skip
    asked = terminal.expect("Your answer?")
    assert 'The inventory has no host or group "toaster"' in " ".join(asked.split())
    terminal.answer("core")
    revised = terminal.expect(PROMPT)
    assert "planning again: deploy uptime kuma on core" in revised
    terminal.answer("r")
    assert terminal.finish() == 2, terminal.seen[-3000:]
    run = run_row(machine_dsn, terminal.run_id())
    assert run["request"] == "deploy uptime kuma on core"
    assert run["status"] == "rejected"


def test_an_empty_answer_to_the_question_ends_the_command_with_nothing_planned(
    env: dict[str, str],
) -> None:
    terminal = Terminal("run", "--catalog", str(CATALOG), "deploy grafana on the toaster",
                        env=env)  # fmt: skip
    terminal.expect("Your answer?")
    terminal.answer("")
    assert terminal.finish() == 2
    assert "no answer: nothing was planned" in terminal.seen
