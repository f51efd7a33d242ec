"""run_playbook: real ansible-playbook runs against localhost, events streamed as they happen."""

from __future__ import annotations

from pathlib import Path

import anyio
import psutil
import pytest

from chiffon.agents.infra import (
    PlaybookEvent,
    UndeclaredVariable,
    UnknownPlaybook,
    run_playbook,
)
from chiffon.catalog import Catalog
from chiffon.protocol import HostStats


async def test_a_run_streams_its_events_in_order_and_reports_stats_per_host(
    catalog: Catalog, tmp_path: Path
) -> None:
    events: list[PlaybookEvent] = []
    outcome = await run_playbook(
        catalog,
        "write",
        ["box", "crate"],
        {"greeting": "bonjour"},
        target_root=tmp_path / "target",
        work_dir=tmp_path / "work",
        on_event=events.append,
    )
    assert outcome.status == "succeeded"
    assert outcome.failure is None
    assert outcome.stats == {
        "box": HostStats(ok=2, changed=2),
        "crate": HostStats(ok=2, changed=2),
    }
    for host in ("box", "crate"):
        assert (tmp_path / "target" / host / "greeting.txt").read_text() == "bonjour\n"
    assert [e.seq for e in events] == list(range(len(events)))
    assert events[0].event == "playbook_on_start"
    assert events[-1].event == "playbook_on_stats"
    changed = [(e.host, e.task) for e in events if e.status == "changed"]
    assert sorted(changed) == [
        ("box", "Make the host's directory"),
        ("box", "Write the greeting"),
        ("crate", "Make the host's directory"),
        ("crate", "Write the greeting"),
    ]
    assert all("\n" not in e.text for e in events)
    assert "TASK [Write the greeting]" in [e.text for e in events]
    assert "PLAY RECAP" in outcome.output_tail


async def test_a_second_run_changes_nothing_and_says_so(catalog: Catalog, tmp_path: Path) -> None:
    for _ in range(2):
        outcome = await run_playbook(
            catalog, "write", ["box"], {}, target_root=tmp_path, work_dir=tmp_path / "work"
        )
    assert outcome.stats == {"box": HostStats(ok=2, changed=0)}


async def test_the_output_tail_keeps_the_end_of_the_output_within_the_cap(
    catalog: Catalog, tmp_path: Path
) -> None:
    outcome = await run_playbook(
        catalog,
        "write",
        ["box", "crate"],
        {},
        target_root=tmp_path,
        work_dir=tmp_path / "work",
        output_cap=300,
    )
    assert len(outcome.output_tail.encode()) <= 300
    assert outcome.output_tail.rstrip().endswith("ignored=0")


async def test_check_mode_reports_a_diff_and_changes_nothing(
    catalog: Catalog, tmp_path: Path
) -> None:
    outcome = await run_playbook(
        catalog,
        "write",
        ["box"],
        {"greeting": "hola"},
        target_root=tmp_path / "target",
        work_dir=tmp_path / "work",
        check=True,
    )
    assert outcome.status == "succeeded"
    greeting = tmp_path / "target" / "box" / "greeting.txt"
    assert f"+++ after: {greeting}\n" in outcome.diff
    assert "+hola\n" in outcome.diff
    assert "-state: absent\n+state: directory\n" in outcome.diff
    assert not (tmp_path / "target" / "box").exists()


async def test_a_playbook_that_matches_no_host_is_a_failure(
    catalog: Catalog, tmp_path: Path
) -> None:
    outcome = await run_playbook(
        catalog, "write", ["nowhere"], {}, target_root=tmp_path, work_dir=tmp_path / "work"
    )
    assert outcome.status == "failed"
    assert outcome.failure is not None
    assert "no host" in outcome.failure.error


async def test_an_unknown_playbook_is_refused_before_anything_runs(
    catalog: Catalog, tmp_path: Path
) -> None:
    with pytest.raises(UnknownPlaybook, match=r'unknown playbook "\.\./write"'):
        await run_playbook(
            catalog, "../write", ["box"], {}, target_root=tmp_path, work_dir=tmp_path / "work"
        )
    assert not (tmp_path / "work").exists()


async def test_an_undeclared_variable_is_refused_before_anything_runs(
    catalog: Catalog, tmp_path: Path
) -> None:
    with pytest.raises(
        UndeclaredVariable, match='does not declare the variable\\(s\\) "ansible_become"'
    ):
        await run_playbook(
            catalog,
            "write",
            ["box"],
            {"ansible_become": True},
            target_root=tmp_path,
            work_dir=tmp_path / "work",
        )
    assert not (tmp_path / "work").exists()


def _working_for(work_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.status() != psutil.STATUS_ZOMBIE and any(
                str(work_dir) in arg for arg in process.cmdline()
            ):
                found.append(process)
        except psutil.Error:
            continue
    return found


async def test_cancelling_a_run_stops_ansible_playbook_and_its_modules(
    catalog: Catalog, tmp_path: Path
) -> None:
    waiting = anyio.Event()
    work_dir = tmp_path / "work"

    def on_event(event: PlaybookEvent) -> None:
        if event.event == "runner_on_start" and event.task == "Wait for a file that never comes":
            waiting.set()

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:

            async def run() -> None:
                await run_playbook(
                    catalog,
                    "slow",
                    ["box"],
                    {},
                    target_root=tmp_path / "target",
                    work_dir=work_dir,
                    on_event=on_event,
                )

            group.start_soon(run)
            await waiting.wait()
            assert _working_for(work_dir)
            group.cancel_scope.cancel()
    assert _working_for(work_dir) == []
    assert not (tmp_path / "target" / "box" / "waited.txt").exists()
    assert not (work_dir / "env").exists()


async def test_an_exception_from_on_event_stops_the_run_and_is_raised(
    catalog: Catalog, tmp_path: Path
) -> None:
    def on_event(event: PlaybookEvent) -> None:
        if event.event == "runner_on_start":
            raise RuntimeError("the display broke")

    with pytest.raises(RuntimeError, match="the display broke"):
        await run_playbook(
            catalog,
            "slow",
            ["box"],
            {},
            target_root=tmp_path,
            work_dir=tmp_path / "work",
            on_event=on_event,
        )
    assert _working_for(tmp_path / "work") == []
