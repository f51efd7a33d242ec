"""``changed-on-rerun``: tasks that reported a change when the same playbook ran again, as the
runs' own records show.

A step is a rerun of the one before it on the same hosts and agent when both ran the same
entry with the same digest (the same files) and variables, and the earlier one succeeded; a
step after one with other variables is not a rerun, whatever ran before. When such
a rerun also succeeded and its recap counts changes, the ``step.output`` events journaled
for it name the tasks that changed. Only steps of the entry's current digest count: records
of files since edited say nothing about the files as they are. (The records do not say
where a local agent wrote: two Chiffon homes with different target roots sharing one
database look like one, and the second home's first run looks like a rerun.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from chiffon.catalog import Catalog
from chiffon.database import Database, messages
from chiffon.playbooks.findings import Finding
from chiffon.playbooks.playbook import Playbook, Task, read_playbook
from chiffon.run_records import steps

RULE = "changed-on-rerun"
OUTPUT_KIND = "step.output"

WHY = (
    "It changed something again although nothing it depends on had changed: the playbook is "
    "not idempotent, so every run reports changes (and fires handlers), hiding real drift."
)
FIX = (
    "Make the task describe a state, not an action: a module that checks before it acts, "
    "`creates:`/`removes:` on a command, or `changed_when:` on what its output says."
)


async def rerun_changes(db: Database, catalog: Catalog, entry_ids: Sequence[str]) -> list[Finding]:
    """Findings for tasks that changed on a rerun of one of ``entry_ids`` (their current
    files). Raises what the ``Database`` raises, and ``UnreadableFile`` when a playbook
    that has such a task cannot be read."""
    # Entries of one site playbook share its files, so its digest is computed once.
    by_file: dict[Path, str] = {}
    digests: dict[str, str] = {}
    for entry_id in entry_ids:
        path = catalog.playbook_path(entry_id)
        if path not in by_file:
            by_file[path] = catalog.digest(entry_id)
        digests[entry_id] = by_file[path]
    if not digests:
        return []
    rows = await db.fetch(
        select(
            steps.c.id,
            steps.c.playbook,
            steps.c.digest,
            steps.c.variables,
            steps.c.hosts,
            steps.c.stats,
            steps.c.agent,
            steps.c.finished_at,
        )
        .where(
            steps.c.playbook.in_(list(digests)),
            steps.c.digest.in_(list(digests.values())),
            steps.c.status == "succeeded",
        )
        .order_by(steps.c.finished_at, steps.c.id)
    )
    reruns: dict[str, list[Any]] = {}
    # A rerun is a step like the one just before it on the same hosts: after a run with other
    # variables (a modified plan: port 3002, then 3001 again) a change is the new values going
    # out, not a playbook that cannot leave a state alone.
    last: dict[tuple[str, tuple[str, ...], str | None], tuple[str, str]] = {}
    for row in rows:
        if row["digest"] != digests[row["playbook"]]:
            continue
        where = (row["playbook"], tuple(row["hosts"]), row["agent"])
        what = (row["digest"], _canonical(row["variables"]))
        if last.get(where) == what and _changed(row["stats"]):
            reruns.setdefault(row["playbook"], []).append(row["id"])
        last[where] = what
    findings: list[Finding] = []
    for entry_id, step_ids in reruns.items():
        tasks = await _changed_tasks(db, step_ids)
        if tasks:
            book = read_playbook(catalog.root, catalog.entries[entry_id].playbook)
            findings.extend(_finding(entry_id, book, name, hosts) for name, hosts in tasks.items())
    return findings


def _canonical(variables: Any) -> str:
    return json.dumps(variables, sort_keys=True, separators=(",", ":"), default=str)


def _changed(stats: Mapping[str, Any] | None) -> bool:
    return any(int((s or {}).get("changed", 0)) > 0 for s in (stats or {}).values())


async def _changed_tasks(db: Database, step_ids: Sequence[Any]) -> dict[str, set[str]]:
    """Task name → hosts where it changed, over the given steps' output events."""
    body = messages.c.body
    rows = await db.fetch(
        select(body["task"].astext.label("task"), body["host"].astext.label("host")).where(
            messages.c.kind == OUTPUT_KIND,
            body["step_id"].astext.in_([str(s) for s in step_ids]),
            body["status"].astext == "changed",
        )
    )
    tasks: dict[str, set[str]] = {}
    for row in rows:
        if row["task"]:
            tasks.setdefault(row["task"], set()).add(row["host"] or "?")
    return tasks


def _finding(entry_id: str, book: Playbook, name: str, hosts: set[str]) -> Finding:
    task = _task_named(book, name)
    path, line = (task.document.path, task.data.line) if task else (book.main.path, 1)
    on = ", ".join(sorted(hosts))
    return Finding(
        rule=RULE,
        source="chiffon",
        path=path,
        line=line,
        message=f'task "{name}" changed again when the same playbook ran again (on {on})',
        why=WHY,
        fix=FIX,
        key=name,
        entry=entry_id,
    )


def _task_named(book: Playbook, name: str) -> Task | None:
    for task in book.tasks:
        if name in (task.shown, task.name) or (task.name and name.endswith(f" : {task.name}")):
            return task
    return None
