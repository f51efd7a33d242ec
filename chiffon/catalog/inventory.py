"""An Ansible inventory read the way Ansible reads it, without importing Ansible.

``load_inventory`` takes an INI inventory (``[group]``, ``[group:children]``,
``[group:vars]``, ``host key=value`` inline, ranges such as ``pi[1:3]``), a YAML one
(``all: {hosts, vars, children}``, any top-level group), or a directory of them, and the
``group_vars/`` and ``host_vars/`` beside it. What it gives: hosts in inventory order,
groups with their members (children's included), which groups a host is in, and each
host's variables with the file (and line) every value comes from, merged in Ansible's
order of precedence for inventory variables.

Ansible is not imported: planning and ``chiffon plan`` read inventories, and importing
ansible costs about a second. The parser follows ansible-core's ``ini`` and ``yaml``
inventory plugins; what it does not understand is an ``InventoryError`` naming the file
and the line, never a traceback.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import shlex
import string
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from chiffon.catalog.errors import CatalogError

EVERYWHERE = "all"
UNGROUPED = "ungrouped"

_YAML_SUFFIXES = {".yml", ".yaml", ".json"}
# Files Ansible skips in an inventory directory (INVENTORY_IGNORE_EXTS, INVENTORY_IGNORE_PATTERNS).
_IGNORED_SUFFIXES = {
    ".pyc",
    ".pyo",
    ".swp",
    ".bak",
    "~",
    ".rpm",
    ".md",
    ".txt",
    ".rst",
    ".orig",
    ".cfg",
    ".retry",
}
_VARS_SUFFIXES = ("", ".yml", ".yaml", ".json")
_VAULT_HEADER = "$ANSIBLE_VAULT;"

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:[#;].*)?$")
_RANGE = re.compile(r"\[([^\[\]]*)\]")


class InventoryError(CatalogError):
    """An inventory (or a vars file beside it) Ansible would not read. ``path`` and ``line``
    (1-based; None when the problem is the whole file) say where; the message names both."""

    code = "inventory_error"

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


@dataclasses.dataclass(frozen=True, slots=True)
class Vaulted:
    """A value encrypted with ansible-vault (``!vault``): set, but unreadable here."""

    ciphertext: str

    def __str__(self) -> str:
        return "<vault-encrypted>"


class SourcedValue(BaseModel):
    """A variable's value and where it is set: ``file`` (and ``line`` for an inventory file's
    inline variables) and ``scope``: ``group NAME``, ``host NAME`` or ``role NAME defaults``."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    value: Any
    file: Path
    line: int | None = None
    scope: str

    def where(self, root: Path | None = None) -> str:
        """``file[:line] (scope)``, the file relative to ``root`` when it is under it."""
        file = self.file
        if root is not None and file.is_relative_to(root):
            file = file.relative_to(root)
        line = f":{self.line}" if self.line is not None else ""
        return f"{file}{line} ({self.scope})"


Vars = dict[str, SourcedValue]


class Inventory(BaseModel):
    """Hosts and groups of an Ansible inventory and the variables it gives them.

    ``groups``: group -> its hosts, children's included, in inventory order (``all`` holds
    every host). ``children``: group -> its direct child groups. The four ``*_vars`` tables
    are the layers Ansible merges: variables set in the inventory file itself
    (``inline_*``) and in ``group_vars/`` / ``host_vars/`` beside it (``file_*``).
    ``encrypted``: vars files encrypted whole with ansible-vault (their variables unknown).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    path: Path
    groups: dict[str, tuple[str, ...]] = Field(
        description="Group -> its hosts, children flattened."
    )
    children: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    inline_group_vars: dict[str, Vars] = Field(default_factory=dict)
    inline_host_vars: dict[str, Vars] = Field(default_factory=dict)
    file_group_vars: dict[str, Vars] = Field(default_factory=dict)
    file_host_vars: dict[str, Vars] = Field(default_factory=dict)
    priorities: dict[str, int] = Field(
        default_factory=dict, description="``ansible_group_priority`` the inventory file sets."
    )
    encrypted: tuple[Path, ...] = ()

    @cached_property
    def hosts(self) -> tuple[str, ...]:
        """Every host, in inventory order."""
        if EVERYWHERE in self.groups:
            return self.groups[EVERYWHERE]
        seen: dict[str, None] = {}
        for members in self.groups.values():
            seen.update(dict.fromkeys(members))
        return tuple(seen)

    def resolve(self, target: str) -> tuple[str, ...]:
        """The hosts a target (host or group) names; empty when it names nothing."""
        if target in self.groups:
            return self.groups[target]
        return (target,) if target in self.hosts else ()

    def group_names(self, host: str) -> tuple[str, ...]:
        """The groups ``host`` is in, directly or through a child group, sorted by name
        (Ansible's ``group_names``: ``all`` left out)."""
        return tuple(
            sorted(g for g, members in self.groups.items() if g != EVERYWHERE and host in members)
        )

    @cached_property
    def _depths(self) -> dict[str, int]:
        # Ansible's group depth: the longest chain of parents up to `all`.
        depths = dict.fromkeys(self.groups, 0)
        changed = True
        while changed:
            changed = False
            for parent, kids in self.children.items():
                for kid in kids:
                    if kid in depths and depths[kid] < depths.get(parent, 0) + 1:
                        depths[kid] = depths.get(parent, 0) + 1
                        changed = True
        return depths

    def _sorted_groups(self, host: str) -> list[str]:
        """The host's groups in Ansible's merge order: depth, then ``ansible_group_priority``,
        then name (``all`` excluded)."""

        def priority(group: str) -> int:
            return self.priorities.get(group, 1)

        names = self.group_names(host)
        return sorted(names, key=lambda g: (self._depths.get(g, 0), priority(g), g))

    def host_variables(self, host: str, playbook_dir: Path | None = None) -> Vars:
        """The variables the inventory gives ``host``, each with where it is set, merged the
        way Ansible merges them (later wins): the inventory file's ``all`` vars, its other
        groups' vars; ``group_vars/all`` beside the inventory, then beside the playbook;
        ``group_vars/<group>`` likewise; the inventory file's host vars; ``host_vars/<host>``
        beside the inventory, then beside the playbook (``playbook_dir``, when given).

        Raises ``InventoryError`` for a vars file beside the playbook that is not valid YAML.
        """
        beside = _VarsDir(playbook_dir) if playbook_dir is not None else None
        if beside is not None and beside.root.resolve() == self.path_dir.resolve():
            beside = None  # the same group_vars/ as the inventory's: counted once
        groups = self._sorted_groups(host)
        merged: Vars = {}
        merged.update(self.inline_group_vars.get(EVERYWHERE, {}))
        for group in groups:
            merged.update(self.inline_group_vars.get(group, {}))
        for group in (EVERYWHERE, *groups):
            merged.update(self.file_group_vars.get(group, {}))
            if beside is not None:
                merged.update(beside.load("group_vars", group, f"group {group}"))
        merged.update(self.inline_host_vars.get(host, {}))
        merged.update(self.file_host_vars.get(host, {}))
        if beside is not None:
            merged.update(beside.load("host_vars", host, f"host {host}"))
        return merged

    def variables(self, host: str, playbook_dir: Path | None = None) -> dict[str, Any]:
        """``host_variables`` without the sources."""
        return {k: v.value for k, v in self.host_variables(host, playbook_dir).items()}

    @property
    def path_dir(self) -> Path:
        """The directory whose ``group_vars/`` and ``host_vars/`` belong to the inventory."""
        return self.path if self.path.is_dir() else self.path.parent


# libyaml's loader when PyYAML has it: planning reads playbooks and vars files on every plan.
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]  # a base chosen at import
    """YAML as Ansible reads it: ``!vault`` values kept as ``Vaulted``, ``!unsafe`` as text."""


Stamp = tuple[str, int, int]


def stamp(path: Path) -> Stamp:
    """What says a file is unchanged since it was read: its path, mtime and size."""
    try:
        info = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), info.st_mtime_ns, info.st_size)


_YAML_CACHE: dict[Path, tuple[Stamp, Any]] = {}


def cached_yaml(path: Path) -> Any:
    """``yaml.safe_load`` of ``path``, read again only when the file changed. Raises
    ``OSError``, ``UnicodeDecodeError`` and ``yaml.YAMLError`` as reading it does."""
    now = stamp(path)
    hit = _YAML_CACHE.get(path)
    if hit is not None and hit[0] == now:
        return hit[1]
    data = yaml.load(path.read_text(), Loader=_Base)
    _YAML_CACHE[path] = (now, data)
    return data


def _vault(loader: Any, node: yaml.Node) -> Vaulted:
    return Vaulted(str(loader.construct_scalar(node)))


def _unsafe(loader: Any, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor("!vault", _vault)
_Loader.add_constructor("!unsafe", _unsafe)


def _compose(path: Path, text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "not valid YAML"
        raise InventoryError(path, line, f"not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise InventoryError(path, None, f"not valid YAML: {exc}") from None


def _construct(node: yaml.Node) -> Any:
    loader = _Loader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise InventoryError(path, None, "not a text file") from None
    except OSError as exc:
        raise InventoryError(path, None, f"cannot be read: {exc.strerror or exc}") from None


class _Builder:
    """Hosts, groups and inline variables as an inventory file declares them."""

    def __init__(self) -> None:
        self.hosts: dict[str, None] = {}
        self.members: dict[str, dict[str, None]] = {EVERYWHERE: {}, UNGROUPED: {}}
        self.children: dict[str, dict[str, None]] = {EVERYWHERE: {}, UNGROUPED: {}}
        self.group_vars: dict[str, Vars] = {}
        self.host_vars: dict[str, Vars] = {}
        self.priorities: dict[str, int] = {}

    def group(self, name: str) -> None:
        self.members.setdefault(name, {})
        self.children.setdefault(name, {})

    def host(self, name: str, group: str) -> None:
        self.hosts.setdefault(name, None)
        self.group(group)
        self.members[group].setdefault(name, None)

    def child(self, parent: str, child: str, path: Path, line: int) -> None:
        if parent == child:
            raise InventoryError(path, line, f"group {child!r} cannot be a child of itself")
        self.group(parent)
        self.group(child)
        self.children[parent].setdefault(child, None)
        if self._reaches(child, parent):
            raise InventoryError(
                path, line, f"group {child!r} as a child of {parent!r} makes a loop"
            )

    def _reaches(self, start: str, goal: str) -> bool:
        todo, seen = [start], set()
        while todo:
            group = todo.pop()
            if group == goal:
                return True
            if group not in seen:
                seen.add(group)
                todo.extend(self.children.get(group, {}))
        return False

    def set_group_var(self, group: str, name: str, value: SourcedValue) -> None:
        self.group(group)
        if name == "ansible_group_priority":
            # A setting of the group, not a variable (ansible's Group.set_variable).
            try:
                self.priorities[group] = int(value.value)
            except (TypeError, ValueError):
                raise InventoryError(
                    value.file, value.line, f"ansible_group_priority of {group!r} must be a number"
                ) from None
            return
        self.group_vars.setdefault(group, {})[name] = value

    def set_host_var(self, host: str, name: str, value: SourcedValue) -> None:
        self.host_vars.setdefault(host, {})[name] = value

    def flattened(self) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
        """Ansible's reconciliation: a group with no parent is a child of ``all``, a host in
        no group is in ``ungrouped``; then each group's hosts, children's included."""
        parented = {kid for p, kids in self.children.items() for kid in kids}
        for group in list(self.members):
            if group != EVERYWHERE and group not in parented:
                self.children[EVERYWHERE].setdefault(group, None)
        grouped = {
            h for g, hs in self.members.items() if g not in (EVERYWHERE, UNGROUPED) for h in hs
        }
        for host in self.hosts:
            if host not in grouped:
                self.members[UNGROUPED].setdefault(host, None)
        order = {host: n for n, host in enumerate(self.hosts)}
        flat: dict[str, tuple[str, ...]] = {}

        def walk(group: str) -> set[str]:
            found = set(self.members.get(group, {}))
            for kid in self.children.get(group, {}):
                found |= walk(kid)
            return found

        # Children before their parents, `all` last (the order planners list groups in).
        ordered: dict[str, None] = {}

        def post_order(group: str) -> None:
            for kid in self.children.get(group, {}):
                post_order(kid)
            ordered.setdefault(group, None)

        post_order(EVERYWHERE)
        for group in ordered:
            flat[group] = tuple(sorted(walk(group), key=order.__getitem__))
        flat[EVERYWHERE] = tuple(self.hosts)
        if not flat[UNGROUPED]:
            del flat[UNGROUPED]
            self.children[EVERYWHERE].pop(UNGROUPED, None)
        children = {g: tuple(kids) for g, kids in self.children.items() if kids}
        return flat, children


def _expand_hosts(pattern: str, path: Path, line: int) -> tuple[list[str], int | None]:
    """A host pattern's host names (ranges ``[1:3]``, ``[01:10]``, ``[a:c]``, ``[0:10:2]``
    expanded) and its ``:port``."""
    outside = _RANGE.sub(lambda m: "#" * len(m.group(0)), pattern)
    port: int | None = None
    if outside.endswith(":"):
        raise InventoryError(path, line, f"invalid host pattern {pattern!r}: it may not end in ':'")
    if outside.count(":") == 1:
        cut = outside.index(":")
        if not pattern[cut + 1 :].isdigit():
            raise InventoryError(path, line, f"invalid port in host pattern {pattern!r}")
        pattern, port = pattern[:cut], int(pattern[cut + 1 :])
    return _expand_ranges(pattern, path, line), port


def _expand_ranges(pattern: str, path: Path, line: int) -> list[str]:
    found = _RANGE.search(pattern)
    if found is None:
        if "[" in pattern or "]" in pattern:
            raise InventoryError(path, line, f"unbalanced brackets in host pattern {pattern!r}")
        return [pattern]
    head, tail = pattern[: found.start()], pattern[found.end() :]
    parts = found.group(1).split(":")
    if len(parts) not in (2, 3):
        raise InventoryError(
            path, line, f"host range [{found.group(1)}] must be [begin:end] or [begin:end:step]"
        )
    begin, end = parts[0] or "0", parts[1]
    step = parts[2] if len(parts) == 3 else "1"
    if not step.isdigit() or int(step) == 0:
        raise InventoryError(path, line, f"host range [{found.group(1)}]: bad step {step!r}")
    if begin.isdigit() and end.isdigit():
        width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
        if width and len(end) != width:
            raise InventoryError(
                path,
                line,
                f"host range [{found.group(1)}]: a zero-padded begin and end must be as long",
            )
        values = [str(n).zfill(width) for n in range(int(begin), int(end) + 1, int(step))]
    elif len(begin) == 1 and len(end) == 1 and begin.isalpha() and end.isalpha():
        letters = string.ascii_letters
        first, last = letters.index(begin), letters.index(end)
        values = list(letters[first : last + 1 : int(step)])
    else:
        raise InventoryError(
            path, line, f"host range [{found.group(1)}]: begin and end must be numbers or letters"
        )
    if not values:
        raise InventoryError(path, line, f"host range [{found.group(1)}] is empty")
    return [f"{head}{v}{rest}" for v in values for rest in _expand_ranges(tail, path, line)]


def _ini_value(text: str) -> Any:
    # ansible's ini plugin: a Python literal when it is one, else the text itself.
    if text:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            pass
    return text


def _parse_ini(path: Path, text: str, into: _Builder) -> None:
    group, state = UNGROUPED, "hosts"
    # group -> (line, what declared it) for [g:vars] / children seen before [g].
    pending: dict[str, tuple[int, str, str]] = {}
    declared: set[str] = {EVERYWHERE, UNGROUPED}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        section = _SECTION.match(line)
        if section is not None:
            group, state = section.group(1), section.group(2) or "hosts"
            if state not in ("hosts", "children", "vars"):
                raise InventoryError(
                    path,
                    n,
                    f"section [{group}:{state}] has an unknown type: {state!r} "
                    "(expected :children or :vars)",
                )
            if state == "vars":
                if group not in declared and group not in pending:
                    pending[group] = (n, "vars", group)
            else:
                declared.add(group)
                pending.pop(group, None)
            into.group(group)
            continue
        if line.startswith("["):
            raise InventoryError(
                path,
                n,
                f"invalid section {line!r}: a section is [name], [name:children] or "
                "[name:vars], without spaces",
            )
        if state == "hosts":
            try:
                tokens = shlex.split(line, comments=True)
            except ValueError as exc:
                raise InventoryError(path, n, f"cannot read host line {line!r}: {exc}") from None
            if not tokens:
                continue
            names, port = _expand_hosts(tokens[0], path, n)
            variables: dict[str, Any] = {}
            for token in tokens[1:]:
                if "=" not in token:
                    raise InventoryError(
                        path, n, f"expected key=value after the host name, got {token!r}"
                    )
                key, value = token.split("=", 1)
                variables[key] = _ini_value(value)
            if port is not None:
                variables["ansible_port"] = port
            for name in names:
                into.host(name, group)
                for key, value in variables.items():
                    into.set_host_var(
                        name,
                        key,
                        SourcedValue(value=value, file=path, line=n, scope=f"host {name}"),
                    )
        elif state == "vars":
            if "=" not in line:
                raise InventoryError(path, n, f"expected key=value in [{group}:vars], got {line!r}")
            key, value = (part.strip() for part in line.split("=", 1))
            into.set_group_var(
                group,
                key,
                SourcedValue(value=_ini_value(value), file=path, line=n, scope=f"group {group}"),
            )
        else:
            child = _GROUP_NAME.match(line)
            if child is None:
                raise InventoryError(
                    path, n, f"expected a group name in [{group}:children], got {line!r}"
                )
            name = child.group(1)
            if name not in declared and name not in pending:
                pending[name] = (n, "children", group)
            into.child(group, name, path, n)
    for name, (n, how, parent) in pending.items():
        if how == "vars":
            raise InventoryError(
                path, n, f"section [{name}:vars] is for a group the inventory never declares"
            )
        raise InventoryError(
            path, n, f"[{parent}:children] names group {name!r}, which the inventory never declares"
        )


def _pairs(node: yaml.Node, path: Path, what: str) -> Iterator[tuple[str, yaml.Node, int]]:
    """The (key, value node, line) pairs of a YAML mapping; None-valued nodes included."""
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return
    if not isinstance(node, yaml.MappingNode):
        raise InventoryError(path, _line(node), f"{what} must be a mapping")
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            raise InventoryError(path, _line(key), f"a key of {what} must be a name")
        yield str(key.value), value, _line(key)


def _yaml_vars(node: yaml.Node, path: Path, scope: str, what: str) -> Vars:
    found: Vars = {}
    for key, value, line in _pairs(node, path, what):
        found[key] = SourcedValue(value=_construct(value), file=path, line=line, scope=scope)
    return found


def _parse_yaml(path: Path, root: yaml.Node | None, into: _Builder) -> None:
    if root is None:
        return  # an empty file: no hosts (Ansible warns and goes on)

    def group(name: str, node: yaml.Node, line: int) -> None:
        into.group(name)
        for key, value, at in _pairs(node, path, f"group {name!r}"):
            if key == "hosts":
                for pattern, host_node, host_line in _pairs(value, path, f"{name}.hosts"):
                    names, port = _expand_hosts(pattern, path, host_line)
                    variables = _yaml_vars(host_node, path, "", f"host {pattern!r}")
                    for host in names:
                        into.host(host, name)
                        for var, sourced in variables.items():
                            into.set_host_var(
                                host, var, sourced.model_copy(update={"scope": f"host {host}"})
                            )
                        if port is not None:
                            into.set_host_var(
                                host,
                                "ansible_port",
                                SourcedValue(
                                    value=port, file=path, line=host_line, scope=f"host {host}"
                                ),
                            )
            elif key == "vars":
                for var, sourced in _yaml_vars(
                    value, path, f"group {name}", f"{name}.vars"
                ).items():
                    into.set_group_var(name, var, sourced)
            elif key == "children":
                for child, child_node, child_line in _pairs(value, path, f"{name}.children"):
                    into.child(name, child, path, child_line)
                    group(child, child_node, child_line)
            else:
                raise InventoryError(
                    path,
                    at,
                    f"group {name!r} has an unexpected key {key!r} "
                    "(expected hosts, vars or children)",
                )

    for name, node, line in _pairs(root, path, "an Ansible YAML inventory"):
        group(name, node, line)


def _parse_file(path: Path, into: _Builder) -> None:
    text = _read(path)
    if path.suffix in _YAML_SUFFIXES:
        _parse_yaml(path, _compose(path, text), into)
    else:
        _parse_ini(path, text, into)


_VARS_CACHE: dict[tuple[Path, str], tuple[Stamp, Vars | None]] = {}


class _VarsDir:
    """``group_vars/`` and ``host_vars/`` under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.encrypted: list[Path] = []

    def files(self, kind: str, name: str) -> list[Path]:
        """The files Ansible reads for ``name``: ``kind/name``, ``kind/name.yml|.yaml|.json``
        and every file under a ``kind/name/`` directory, sorted."""
        base = self.root / kind
        found: list[Path] = []
        for suffix in _VARS_SUFFIXES:
            candidate = base / f"{name}{suffix}"
            if candidate.is_file():
                found.append(candidate)
        folder = base / name
        if folder.is_dir():
            found.extend(
                p
                for p in sorted(folder.rglob("*"))
                if p.is_file() and not p.name.startswith(".") and p.suffix in (*_VARS_SUFFIXES, "")
            )
        return found

    def load(self, kind: str, name: str, scope: str) -> Vars:
        merged: Vars = {}
        for path in self.files(kind, name):
            merged.update(self.load_file(path, scope))
        return merged

    def load_file(self, path: Path, scope: str) -> Vars:
        """One vars file's variables; none (and ``path`` noted in ``encrypted``) for a file
        encrypted whole with ansible-vault. Read again only when the file changed."""
        now = stamp(path)
        hit = _VARS_CACHE.get((path, scope))
        if hit is not None and hit[0] == now:
            if hit[1] is None:
                self.encrypted.append(path)
                return {}
            return dict(hit[1])
        found = self._load_file(path, scope)
        _VARS_CACHE[(path, scope)] = (now, None if path in self.encrypted else dict(found))
        return found

    def _load_file(self, path: Path, scope: str) -> Vars:
        text = _read(path)
        if text.lstrip().startswith(_VAULT_HEADER):
            self.encrypted.append(path)
            return {}
        node = _compose(path, text)
        return {} if node is None else _yaml_vars(node, path, scope, f"the variables of {scope}")


def load_inventory(path: Path | str) -> Inventory:
    """Read the inventory at ``path`` (a file, INI or YAML, or a directory of them) and the
    ``group_vars/`` and ``host_vars/`` beside it. Raises ``InventoryError`` naming the file
    and line Ansible would not accept."""
    path = Path(path)
    builder = _Builder()
    if path.is_dir():
        sources = [
            p
            for p in sorted(path.iterdir())
            if p.is_file()
            and not p.name.startswith(".")
            and p.suffix not in _IGNORED_SUFFIXES
            and not p.name.endswith("~")
        ]
    elif path.is_file():
        sources = [path]
    else:
        raise InventoryError(path, None, "the inventory does not exist")
    for source in sources:
        _parse_file(source, builder)
    groups, children = builder.flattened()
    beside = _VarsDir(path if path.is_dir() else path.parent)
    file_group_vars = {g: v for g in groups if (v := beside.load("group_vars", g, f"group {g}"))}
    file_host_vars = {
        h: v for h in groups[EVERYWHERE] if (v := beside.load("host_vars", h, f"host {h}"))
    }
    return Inventory(
        path=path,
        groups=groups,
        children=children,
        inline_group_vars=builder.group_vars,
        inline_host_vars=builder.host_vars,
        file_group_vars=file_group_vars,
        file_host_vars=file_host_vars,
        priorities=builder.priorities,
        encrypted=tuple(beside.encrypted),
    )
