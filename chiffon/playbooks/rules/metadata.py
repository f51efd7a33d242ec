"""``catalog-metadata[…]``: what the catalog should say about an entry and does not.

- ``[description]``, ``[tags]``, ``[services]``: empty; planners match requests on them and
  the audit answers "changes to service X" from ``services``.
- ``[variable-description]``: a variable the model planner and the plan on screen cannot
  explain.
- ``[resources]``, ``[risk]``: not stated, so the router cannot check capacity and the
  approver sees the default risk.
- ``[undeclared-variable]``: the playbook (or a template it writes) uses a variable that is
  set nowhere Chiffon or Ansible would find it: not the entry, the play, its tasks, a role,
  the inventory, group_vars or host_vars, nor Ansible's own.
- ``[unused-variable]``: the entry declares a variable the playbook never reads, so a plan
  may set it to no effect.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chiffon.playbooks.documents import Items, Node
from chiffon.playbooks.findings import Finding, Severity
from chiffon.playbooks.playbook import source_files
from chiffon.playbooks.rules.context import CATALOG_FILE, Context
from chiffon.playbooks.rules.vars_scope import (
    condition_guards,
    defined_names,
    guarded_names,
    is_defined,
)

RULE = "catalog-metadata"


def check(context: Context) -> Iterator[Finding]:
    node = context.entry_node
    if node is None:
        return
    yield from _fields(context, node)
    yield from _variables(context, node)


def _finding(
    context: Context,
    kind: str,
    line: int,
    message: str,
    why: str,
    fix: str,
    key: str,
    path: str = CATALOG_FILE,
    severity: Severity = "info",
) -> Finding:
    return Finding(
        rule=f"{RULE}[{kind}]",
        source="chiffon",
        path=path,
        line=line,
        message=message,
        why=why,
        fix=fix,
        key=key,
        entry=context.entry.id,
        severity=severity,
    )


def _fields(context: Context, node: Node) -> Iterator[Finding]:
    entry = context.entry
    if not entry.description.strip():
        yield _finding(
            context, "description", node.key_line.get("description", node.line),
            f'entry "{entry.id}" has no description',
            "Planners match requests on the description; the plan on screen shows it.",
            "Describe what the playbook does in one sentence.", "description",
        )  # fmt: skip
    for field, why in (
        ("tags", "The catalog planner matches requests on tags."),
        ("services", 'Runs are indexed by service: "changes to service X" finds nothing.'),
    ):
        if not getattr(entry, field):
            yield _finding(
                context, field, node.key_line.get(field, node.line),
                f'entry "{entry.id}" has no {field}', why,
                f"List the entry's {field} (`{field}: [...]`).", field,
            )  # fmt: skip
    if "resources" not in node:
        yield _finding(
            context, "resources", node.line, f'entry "{entry.id}" states no resources',
            "The router checks capacity against what an entry needs: with nothing stated, "
            "a step is sent to a machine that may not have room for it.",
            "State `resources: {cpu_cores: …, memory_mb: …}` (0 when it needs nothing).",
            "resources",
        )  # fmt: skip
    if "risk" not in node:
        yield _finding(
            context, "risk", node.line, f'entry "{entry.id}" states no risk',
            "The approver sees the risk of each step; unstated, it reads `low`.",
            "State `risk: low`, `medium` or `high`.", "risk",
        )  # fmt: skip


def _variables(context: Context, node: Node) -> Iterator[Finding]:
    variables = node.get("variables")
    lines = variables.key_line if isinstance(variables, Node) else {}
    for name, declared in context.entry.variables.items():
        if not declared.description.strip():
            yield _finding(
                context, "variable-description", lines.get(name, node.line),
                f'variable "{name}" of entry "{context.entry.id}" has no description',
                "The model planner chooses values from descriptions, and the approver reads "
                "them in the plan.",
                f"Add `description:` to {name}.", name,
            )  # fmt: skip
    reads = _used(context)
    if reads is None:
        return
    used, unguarded = reads
    defined = defined_names(context)
    for name, (path, line) in sorted(unguarded.items()):
        if is_defined(name, defined):
            continue
        yield _finding(
            context, "undeclared-variable", line,
            f'"{name}" is used but set nowhere (not the entry, the play, a role or the '
            "inventory)",
            "Ansible stops on an undefined variable when it reaches it: the run fails half-way, "
            "and a plan cannot set it because the entry does not declare it.",
            f"Declare {name} in the entry's variables (type, default, description), or set "
            "it in the play's vars.",
            name, path=path, severity="warning",
        )  # fmt: skip
    for name in context.entry.variables:
        if name not in used:
            yield _finding(
                context, "unused-variable", lines.get(name, node.line),
                f'variable "{name}" is declared but the playbook never reads it',
                "A plan may set it, and nothing changes: the request is not what runs.",
                f"Use {name} in the playbook, or remove its declaration.", name,
            )  # fmt: skip


Reads = dict[str, tuple[str, int]]


def _used(context: Context) -> tuple[Reads, Reads] | None:
    """Every name the playbook and its templates read, with where it is first read, and
    those of them read somewhere unguarded (not under ``default()`` or a ``when: … is
    defined``); ``None`` when the playbook loads variables by name at run time
    (``include_vars``)."""
    book = context.book
    used: Reads = {}
    unguarded: Reads = {}
    skipped = ("tasks", "pre_tasks", "post_tasks", "handlers", "roles", "name")
    for play in book.plays:
        _collect(used, unguarded, book.main.path, play, play.line, skip=skipped)
    for document, block in book.blocks:
        guards = condition_guards(_conditions(block))
        _collect(used, unguarded, document.path, block, block.line, skip=_PARTS, guards=guards)
    for task in book.tasks:
        if task.short == "include_vars":
            return None
        guards = condition_guards(task.conditions)
        _collect(used, unguarded, task.document.path, task.data, task.data.line, guards=guards)
        for source in source_files(book, task) if task.short == "template" else []:
            free, guarded = _template_file_names(book.root / source)
            for name in free | guarded:
                at = (source, first_line(book.root, source, name))
                used.setdefault(name, at)
                if name in free and name not in guards:
                    unguarded.setdefault(name, at)
    for document in book.role_vars:
        _collect(used, unguarded, document.path, document.data, 1)
    return used, unguarded


_RAW = frozenset({"when", "changed_when", "failed_when", "until"})
_PARTS = ("block", "rescue", "always")


def _conditions(node: Node) -> list[str]:
    when = node.get("when")
    return [str(w) for w in (when if isinstance(when, list) else [when]) if isinstance(w, str)]


def _collect(
    used: Reads,
    unguarded: Reads,
    path: str,
    value: Any,
    line: int,
    *,
    raw: bool = False,
    skip: tuple[str, ...] = (),
    guards: set[str] | frozenset[str] = frozenset(),
) -> None:
    """Add the names read in ``value`` (at ``line``, or the line of the key holding them)."""
    if isinstance(value, Node):
        for key, item in value.items():
            if key in skip:
                continue
            at = value.span.get(key, (value.key_line.get(key, line), 0))[0]
            _collect(used, unguarded, path, item, at, raw=raw or key in _RAW, guards=guards)
    elif isinstance(value, Items):
        for index, item in enumerate(value):
            at = value.span[index][0] if index < len(value.span) else line
            _collect(used, unguarded, path, item, at, raw=raw, guards=guards)
    elif isinstance(value, str):
        if raw and "{{" not in value:
            free, guarded = guarded_names("{{ " + value + " }}")
        elif "{{" in value or "{%" in value:
            free, guarded = guarded_names(value)
        else:
            return
        for name in free | guarded:
            used.setdefault(name, (path, line))
        for name in free - guards:
            unguarded.setdefault(name, (path, line))


def _template_file_names(path: Path) -> tuple[frozenset[str], frozenset[str]]:
    try:
        return guarded_names(path.read_text())
    except (OSError, UnicodeDecodeError):
        return frozenset(), frozenset()


def first_line(root: Path, source: str, name: str) -> int:
    """The first line of ``source`` that mentions ``name``."""
    try:
        lines = (root / source).read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return 1
    word = re.compile(rf"\b{re.escape(name)}\b")
    return next((n for n, text in enumerate(lines, start=1) if word.search(text)), 1)
