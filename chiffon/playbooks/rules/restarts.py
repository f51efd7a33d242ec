"""``restart-without-handler``: a task that restarts a service or container on every run
(``state: restarted``, ``systemctl restart``, ``docker compose restart``…) instead of a
handler notified by the tasks that change what the service reads.

The mechanical fix moves the task into the play's ``handlers`` and adds ``notify:`` to the
tasks before it that write configuration (templates, copies, line edits).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from chiffon.playbooks.documents import Items, Node
from chiffon.playbooks.edits import (
    Edit,
    dash_column,
    diff_of,
    insert_after,
    key_column,
    last_content_line,
    remove,
)
from chiffon.playbooks.findings import Finding
from chiffon.playbooks.playbook import KEYWORDS, Task
from chiffon.playbooks.rules.commands import COMMANDS, command_text
from chiffon.playbooks.rules.context import Context

RULE = "restart-without-handler"
_SERVICE_MODULES = frozenset(
    {"service", "systemd", "systemd_service", "sysvinit", "openrc", "docker_compose_v2",
     "docker_compose", "podman_container", "docker_container", "docker_swarm_service"}
)  # fmt: skip
_RESTART_COMMAND = re.compile(
    r"\bsystemctl\s+(?:--?\S+\s+)*(?:restart|try-restart|reload-or-restart)\b"
    r"|\bservice\s+\S+\s+restart\b"
    r"|\b(?:docker|podman)\s+(?:container\s+)?restart\b"
    r"|\bdocker[ -]compose\b[^;&|]*\s(?:restart\b|up\b[^;&|]*--force-recreate)"
)
_CHANGED = re.compile(r"\bchanged\b")
# Modules whose change is a reason to restart what reads their file.
_WRITERS = frozenset(
    {"template", "copy", "lineinfile", "blockinfile", "ini_file", "replace", "unarchive",
     "get_url", "git", "xml", "community.general.ini_file"}
)  # fmt: skip

WHY = (
    "A restart in the task list runs on every run — downtime and a `changed` each time — "
    "even when nothing it depends on changed; a handler runs only when a task notifies it."
)


def restarts(task: Task) -> bool:
    """Whether ``task`` restarts something unconditionally."""
    when = task.data.get("when")
    if when is not None and _CHANGED.search(str(when)):
        return False  # already tied to a change: a hand-made handler
    args = task.args
    if task.short in _SERVICE_MODULES:
        if str(args.get("state", "")).lower() == "restarted":
            return True
        return args.get("restart") is True or args.get("restarted") is True
    if task.short in COMMANDS:
        return bool(_RESTART_COMMAND.search(command_text(task) or ""))
    return False


def check(context: Context) -> Iterator[Finding]:
    for task in context.book.tasks:
        if task.is_handler or not restarts(task):
            continue
        handler = task.name or f"Restart ({task.short})"
        yield Finding(
            rule=RULE,
            source="chiffon",
            path=task.document.path,
            line=task.data.line,
            message=f'task "{task.shown}" restarts on every run instead of being a handler',
            why=WHY,
            fix=f'Move it to the play\'s `handlers:` as "{handler}" and add `notify: {handler}` '
            "to the tasks that change what it reads (its configuration, compose file, unit).",
            key=task.shown,
            entry=context.entry.id,
            diff=_diff(task, handler),
        )


def _diff(task: Task, handler: str) -> str | None:
    """Move the task into the play's handlers and notify it from the writers before it.
    ``None`` when the layout is not the plain one (the task nested in a block, flow
    style, a named handler missing)."""
    if not task.name:
        return None  # a handler is notified by name
    section = task.play.get(task.section)
    if not isinstance(section, Items) or task.data not in section:
        return None
    index = next(i for i, item in enumerate(section) if item is task.data)
    lines = task.document.lines
    writers = [
        item
        for item in section[:index]
        if isinstance(item, Node) and _short(item) in _WRITERS and "when" not in item
    ]
    if not writers:
        return None
    first, last = section.span[index]
    edits: list[Edit] = []
    for writer in writers:
        notify = _notify(writer, handler, lines)
        if notify is None:
            return None
        edits.extend(notify)
    block = list(lines[first - 1 : last])
    start = first - 1 if first > 1 and not lines[first - 2].strip() else first
    edits.append(remove(start, last))
    handlers = task.play.get("handlers")
    if isinstance(handlers, Items) and handlers:
        shift = dash_column(lines[handlers.span[0][0] - 1]) - dash_column(lines[first - 1])
        at = last_content_line(lines, handlers.line, handlers.end)
        edits.append(insert_after(at, ["\n", *_shifted(block, shift)]))
    elif "handlers" not in task.play and task.play.key_line.get(task.section):
        column = key_column(lines[task.play.key_line[task.section] - 1])
        at = last_content_line(lines, task.play.line, task.play.end)
        edits.append(insert_after(at, ["\n", " " * column + "handlers:\n", *block]))
    else:
        return None
    return diff_of(task.document.path, lines, edits)


def _short(item: Node) -> str:
    for key in item:
        if isinstance(key, str) and key not in KEYWORDS and not key.startswith("with_"):
            return key.rsplit(".", 1)[-1]
    return ""


def _notify(writer: Node, handler: str, lines: tuple[str, ...]) -> list[Edit] | None:
    """The edits that make ``writer`` notify ``handler``; ``None`` when its ``notify`` is
    written in a way a line edit should not touch."""
    column = key_column(lines[writer.line - 1])
    notify = writer.get("notify")
    if notify is None:
        return [insert_after(writer.end, [" " * column + f"notify: {handler}\n"])]
    if notify == handler or (isinstance(notify, list) and handler in notify):
        return []
    line = writer.key_line["notify"]
    if isinstance(notify, str) and writer.span["notify"][0] == line:
        items = [f"- {notify}\n", f"- {handler}\n"]
        return [
            Edit(line, line, (" " * column + "notify:\n", *(" " * (column + 2) + i for i in items)))
        ]
    if isinstance(notify, Items) and notify.span and notify.span[0][0] > line:
        item_column = dash_column(lines[notify.span[0][0] - 1])
        return [insert_after(notify.span[-1][1], [" " * item_column + f"- {handler}\n"])]
    return None


def _shifted(block: list[str], shift: int) -> list[str]:
    if shift >= 0:
        return [(" " * shift + line) if line.strip() else line for line in block]
    return [line[-shift:] if line[:-shift].strip() == "" else line for line in block]
