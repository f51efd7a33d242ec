"""``hardcoded-hosts``: a play whose ``hosts:`` names a host or an address instead of an
inventory group.

A templated ``hosts:`` is judged by its ``default('…')`` (what it targets when Chiffon does
not say). ``all``, ``localhost`` and patterns (``web*``, ``~regex``) are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from chiffon.playbooks.documents import Node
from chiffon.playbooks.edits import diff_of, replace
from chiffon.playbooks.findings import Finding
from chiffon.playbooks.rules.context import Context

RULE = "hardcoded-hosts"
_DEFAULT = re.compile(r"default\(\s*['\"]([^'\"]+)['\"]")
_ALLOWED = frozenset({"all", "localhost"})

WHY = (
    "A play bound to one host or address does not follow the inventory: a host that moves "
    "or joins the group is missed, and Chiffon cannot aim the step at the hosts a plan names."
)


def check(context: Context) -> Iterator[Finding]:
    inventory = context.catalog.inventory
    for play in context.book.plays:
        value = play.get("hosts")
        if not isinstance(value, str) or "hosts" not in play.key_line:
            continue
        pattern = value
        if "{{" in value:
            match = _DEFAULT.search(value)
            if match is None:
                continue
            pattern = match.group(1)
        for target in re.split(r"[,:]", pattern) if not _is_address(pattern) else [pattern]:
            name = target.strip().lstrip("!&")
            if not name or name in _ALLOWED or name in inventory.groups or _is_pattern(name):
                continue
            yield _finding(context, play, value, name)


def _finding(context: Context, play: Node, written: str, name: str) -> Finding:
    inventory = context.catalog.inventory
    known = name in inventory.hosts
    groups = sorted(
        (g for g, members in inventory.groups.items() if name in members and g != "all"),
        key=lambda g: (len(inventory.groups[g]), g),
    )
    entry_hosts = context.entry.hosts
    group = entry_hosts if entry_hosts in inventory.groups and entry_hosts != "all" else None
    if group is None and groups:
        group = groups[0]
    if known:
        message = f'play targets host "{name}", not a group of the inventory'
    else:
        message = f'play targets "{name}", which the inventory does not have'
    line = play.key_line["hosts"]
    lines = context.book.main.lines
    diff = None
    if group is not None:
        fix = (
            f"Target the group: hosts: \"{{{{ chiffon_hosts | default('{group}') }}}}\" "
            "(Chiffon passes the plan's hosts as chiffon_hosts)."
        )
        new = f"\"{{{{ chiffon_hosts | default('{group}') }}}}\""
        text = lines[line - 1]
        for quoted in (f'"{written}"', f"'{written}'", written):
            at = text.find(quoted, text.index("hosts:"))
            if at >= 0:
                diff = diff_of(
                    context.book.main.path,
                    lines,
                    [replace(line, text[:at] + new + text[at + len(quoted) :])],
                )
                break
    else:
        fix = "Add the host to an inventory group and target the group."
    return Finding(
        rule=RULE,
        source="chiffon",
        path=context.book.main.path,
        line=line,
        message=message,
        why=WHY,
        fix=fix,
        key=name,
        entry=context.entry.id,
        diff=diff,
    )


def _is_address(text: str) -> bool:
    return text.count(":") >= 2  # an IPv6 address: its colons are not a pattern's


def _is_pattern(name: str) -> bool:
    return any(c in name for c in "*?[~")
