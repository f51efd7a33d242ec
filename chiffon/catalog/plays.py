"""What a catalog entry's playbook does to hosts and variables, read without Ansible.

``read_plays`` gives the plays of a playbook (``import_playbook`` of a literal file
followed), each with its ``hosts:`` pattern, roles and static variables. ``play_hosts``
evaluates a play's pattern against the inventory the way ansible-playbook does, with
``--limit`` applied after (which is how every step runs: limited to the plan's hosts).
``repository_values`` says, for each variable an entry declares, which value the repository
itself gives each host and where it is set (role defaults, group_vars, host_vars, the
inventory, play vars, vars_files, role vars): a plan's value equal to it is left to the
repository rather than passed as an extra var, which would override everything.

Anything templated that cannot be known before the run is reported as such, never guessed.
"""

from __future__ import annotations

import configparser
import dataclasses
import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from chiffon.catalog.errors import CatalogError
from chiffon.catalog.inventory import (
    EVERYWHERE,
    Inventory,
    SourcedValue,
    Stamp,
    Vars,
    Vaulted,
    _compose,
    _construct,
    _line,
    _read,
    _VarsDir,
    cached_yaml,
    stamp,
)

CHIFFON_HOSTS = "chiffon_hosts"
"""The extra var holding a step's hosts (comma-separated), for plays that target it."""

_IMPORT_PLAYBOOK = {"import_playbook", "ansible.builtin.import_playbook"}
_ROLE_INCLUDES = {
    "include_role", "import_role", "ansible.builtin.include_role", "ansible.builtin.import_role",
}  # fmt: skip
_TEMPLATE = re.compile(
    r"\{\{\s*(\w+)\s*(?:\|\s*default\(\s*(?:'([^']*)'|\"([^\"]*)\")\s*\)\s*)?\}\}"
)
_IMPLICIT_LOCAL = {"localhost", "127.0.0.1", "::1"}


@dataclasses.dataclass(frozen=True, slots=True)
class Play:
    """One play: where it is (``file``, ``line``), its name, its ``hosts:`` as written, the
    roles it applies (``roles:`` and literal ``include_role``/``import_role`` in its tasks)
    and its static variables (``vars:``, then literal ``vars_files``), with their sources."""

    file: Path
    line: int
    name: str
    hosts: str
    roles: tuple[str, ...]
    vars: Vars

    def where(self, root: Path | None = None) -> str:
        file = self.file
        if root is not None and file.is_relative_to(root):
            file = file.relative_to(root)
        named = f' "{self.name}"' if self.name else ""
        return f"play{named} ({file}:{self.line})"


class PlaybookReadError(CatalogError):
    """A playbook (or a file it imports) Chiffon cannot read; the message names the file."""

    code = "playbook_unreadable"


_PLAYS: dict[Path, tuple[tuple[Stamp, ...], list[Play]]] = {}


def read_plays(playbook: Path) -> list[Play]:
    """The plays of ``playbook`` in order, ``import_playbook`` of literal files followed.
    Raises ``PlaybookReadError`` (or ``InventoryError`` for a vars file) naming the file and
    line of what cannot be read. Read again only when one of its files changed."""
    hit = _PLAYS.get(playbook)
    if hit is not None and all(stamp(Path(s[0])) == s for s in hit[0]):
        return list(hit[1])
    files: list[Path] = []
    plays = list(_plays(playbook, set(), files))
    _PLAYS[playbook] = (tuple(stamp(f) for f in files), plays)
    return list(plays)


def _plays(path: Path, seen: set[Path], files: list[Path]) -> Iterable[Play]:
    files.append(path)
    if path.resolve() in seen:
        raise PlaybookReadError(f"{path}: imports itself")
    seen = seen | {path.resolve()}
    node = _compose(path, _read(path))
    if node is None:
        return
    if not isinstance(node, yaml.SequenceNode):
        raise PlaybookReadError(f"{path}:{_line(node)}: a playbook is a list of plays")
    for item in node.value:
        play = _construct(item)
        if not isinstance(play, dict):
            raise PlaybookReadError(f"{path}:{_line(item)}: a play must be a mapping")
        imported = next((play[k] for k in _IMPORT_PLAYBOOK if k in play), None)
        if imported is not None:
            if not isinstance(imported, str) or "{{" in imported:
                raise PlaybookReadError(
                    f"{path}:{_line(item)}: import_playbook {imported!r} is templated: "
                    "Chiffon cannot tell which plays it holds before the run"
                )
            yield from _plays(path.parent / imported, seen, files)
            continue
        hosts = play.get("hosts")
        if isinstance(hosts, list):
            hosts = ",".join(str(h) for h in hosts)
        if not isinstance(hosts, str) or not hosts.strip():
            raise PlaybookReadError(f"{path}:{_line(item)}: the play has no hosts")
        variables = _play_vars(path, item, play, files)
        yield Play(
            file=path,
            line=_line(item),
            name=str(play.get("name") or ""),
            hosts=hosts.strip(),
            roles=tuple(_roles(play)),
            vars=variables,
        )


def _play_vars(path: Path, node: yaml.Node, play: Mapping[str, Any], files: list[Path]) -> Vars:
    scope = f"play {play.get('name') or ''}".strip()
    found: Vars = {}
    assert isinstance(node, yaml.MappingNode)
    for key, value in node.value:
        if getattr(key, "value", None) == "vars" and isinstance(value, yaml.MappingNode):
            for var_key, var_value in value.value:
                found[str(var_key.value)] = SourcedValue(
                    value=_construct(var_value), file=path, line=_line(var_key), scope=scope
                )
    files = play.get("vars_files") or []
    for name in files if isinstance(files, list) else [files]:
        if not isinstance(name, str) or "{{" in name:
            continue  # templated: chosen at run time
        file = path.parent / name
        files.append(file)
        if file.is_file():
            vars_dir = _VarsDir(file.parent)
            found.update(vars_dir.load_file(file, f"vars_files of {scope}"))
    return found


def _roles(play: Mapping[str, Any]) -> Iterable[str]:
    for role in play.get("roles") or ():
        name = role.get("role") or role.get("name") if isinstance(role, dict) else role
        if isinstance(name, str) and "{{" not in name:
            yield name
    for section in ("pre_tasks", "tasks", "post_tasks"):
        yield from _task_roles(play.get(section) or ())


def _task_roles(tasks: Any) -> Iterable[str]:
    if not isinstance(tasks, list):
        return
    for task in tasks:
        if not isinstance(task, dict):
            continue
        for part in ("block", "rescue", "always"):
            yield from _task_roles(task.get(part))
        for key in _ROLE_INCLUDES & task.keys():
            args = task[key]
            name = args.get("name") if isinstance(args, dict) else args
            if isinstance(name, str) and "{{" not in name:
                yield name


def roles_path(root: Path, playbook: Path, extra: Sequence[Path] = ()) -> list[Path]:
    """Where ansible-playbook looks for roles: ``roles/`` beside the playbook, ``extra``
    (Chiffon's own requirements directory), the ``roles_path`` of the ``ansible.cfg`` at
    ``root``, then Ansible's defaults."""
    found = [playbook.parent / "roles", *extra, *_cfg_paths(root, "roles_path")]
    found += [Path.home() / ".ansible/roles", Path("/usr/share/ansible/roles")]
    found.append(Path("/etc/ansible/roles"))
    found.append(playbook.parent)
    return found


def _cfg_paths(root: Path, key: str) -> list[Path]:
    cfg = root / "ansible.cfg"
    if not cfg.is_file():
        return []
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    try:
        parser.read(cfg)
    except configparser.Error:
        return []
    value = parser.get("defaults", key, fallback="")
    return [(root / Path(part).expanduser()) for part in value.split(":") if part.strip()]


def ansible_cfg_paths(root: Path, key: str) -> list[Path]:
    """The paths ``key`` (``roles_path``, ``collections_path``…) of ``root/ansible.cfg``
    lists, relative ones taken from ``root``; empty without one."""
    return _cfg_paths(root, key)


def find_role(name: str, search: Sequence[Path]) -> Path | None:
    """The directory of role ``name`` (``namespace.collection.role`` is not a directory)."""
    for base in search:
        candidate = base / name
        if (
            (candidate / "tasks").is_dir()
            or (candidate / "meta").is_dir()
            or (candidate / "defaults").is_dir()
        ):
            return candidate
    return None


def _role_files(role: Path, part: str) -> list[Path]:
    found = [role / part / f"main{s}" for s in (".yml", ".yaml", "")]
    found = [p for p in found if p.is_file()]
    folder = role / part / "main"
    if folder.is_dir():
        found += sorted(p for p in folder.rglob("*") if p.is_file())
    return found


def _role_vars(role: Path, part: str) -> Vars:
    out: Vars = {}
    loader = _VarsDir(role)
    for file in _role_files(role, part):
        out.update(loader.load_file(file, f"role {role.name} {part}"))
    return out


def role_dependencies(role: Path) -> list[str]:
    """The roles ``meta/main.yml`` of ``role`` depends on (literal names)."""
    out: list[str] = []
    for file in _role_files(role, "meta"):
        try:
            data = cached_yaml(file) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # the playbook checks and Ansible itself say what is wrong there
        for dep in data.get("dependencies") or () if isinstance(data, dict) else ():
            name = (dep.get("role") or dep.get("name")) if isinstance(dep, dict) else dep
            if isinstance(name, str) and "{{" not in name:
                out.append(name)
    return out


def pattern_hosts(inventory: Inventory, pattern: str) -> tuple[str, ...]:
    """The hosts an Ansible host pattern names, in inventory order: ``a,b`` / ``a:b``
    (union), ``&a`` (intersection), ``!a`` (exclusion), wildcards, ``~regex``, group or host
    names; ``localhost`` when the inventory lacks it is Ansible's implicit one."""
    terms = [t.strip() for t in re.split(r",|:(?![^\[]*\])", pattern) if t.strip()]
    if "," not in pattern and _is_ipv6(pattern.strip()):
        terms = [pattern.strip()]
    plain = [t for t in terms if t[0] not in "&!"]
    selected: dict[str, None] = {}
    for term in plain or [EVERYWHERE]:
        selected.update(dict.fromkeys(_term(inventory, term)))
    for term in terms:
        if term.startswith("&"):
            keep = set(_term(inventory, term[1:]))
            selected = {h: None for h in selected if h in keep}
    for term in terms:
        if term.startswith("!"):
            drop = set(_term(inventory, term[1:]))
            selected = {h: None for h in selected if h not in drop}
    order = {h: n for n, h in enumerate(inventory.hosts)}
    return tuple(sorted(selected, key=lambda h: order.get(h, -1)))


def _is_ipv6(text: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def _term(inventory: Inventory, term: str) -> tuple[str, ...]:
    if term in inventory.groups:
        return inventory.groups[term]
    if term in inventory.hosts:
        return (term,)
    if term.startswith("~"):
        regex = re.compile(term[1:])
        found: dict[str, None] = {}
        for group, members in inventory.groups.items():
            if regex.match(group):
                found.update(dict.fromkeys(members))
        found.update(dict.fromkeys(h for h in inventory.hosts if regex.match(h)))
        return tuple(found)
    if any(c in term for c in "*?["):
        found = {}
        for group, members in inventory.groups.items():
            if fnmatch.fnmatchcase(group, term):
                found.update(dict.fromkeys(members))
        found.update(dict.fromkeys(h for h in inventory.hosts if fnmatch.fnmatchcase(h, term)))
        return tuple(found)
    if term in _IMPLICIT_LOCAL:
        return (term,)
    return ()


class Unresolvable(Exception):
    """A play's ``hosts:`` is templated with something only known at run time."""


def resolved_pattern(hosts: str, step_hosts: Sequence[str], variables: Mapping[str, Any]) -> str:
    """A play's ``hosts:`` with its templates filled in as ansible-playbook will: the step's
    hosts for ``chiffon_hosts``, the step's variables, else the ``default('…')``. Raises
    ``Unresolvable`` for any other template."""

    def fill(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2) or match.group(3)
        if name == CHIFFON_HOSTS and step_hosts:
            return ",".join(step_hosts)
        if name in variables:
            value = variables[name]
            return ",".join(map(str, value)) if isinstance(value, list) else str(value)
        if default is not None:
            return default
        raise Unresolvable(name)

    filled = _TEMPLATE.sub(fill, hosts)
    if "{{" in filled or "{%" in filled:
        raise Unresolvable(hosts)
    return filled


def play_hosts(
    play: Play, inventory: Inventory, step_hosts: Sequence[str], variables: Mapping[str, Any]
) -> tuple[str, ...]:
    """The hosts ``play`` runs on when the step runs with ``--limit`` its hosts. Raises
    ``Unresolvable`` when its ``hosts:`` cannot be known before the run."""
    targets = pattern_hosts(inventory, resolved_pattern(play.hosts, step_hosts, variables))
    limit = set(step_hosts)
    return tuple(h for h in targets if h in limit)


def repository_values(
    root: Path,
    playbook: Path,
    inventory: Inventory,
    names: Iterable[str],
    hosts: Sequence[str],
    *,
    step_variables: Mapping[str, Any] | None = None,
    extra_roles: Sequence[Path] = (),
) -> dict[str, dict[str, SourcedValue]]:
    """For each of ``names``, the value the repository gives each of ``hosts`` on its own
    (no extra vars), and where it is set: later wins, as in Ansible — role defaults, the
    inventory's group and host variables (``group_vars``/``host_vars`` beside the inventory
    and the playbook), the play's ``vars`` and ``vars_files``, role ``vars/``. A name the
    repository does not set for a host is absent from that host's table."""
    wanted = set(names)
    out: dict[str, dict[str, SourcedValue]] = {name: {} for name in wanted}
    if not wanted or not hosts:
        return out
    plays = read_plays(playbook)
    search = roles_path(root, playbook, extra_roles)
    role_cache: dict[str, tuple[Vars, Vars]] = {}

    def role_layers(name: str, seen: frozenset[str]) -> tuple[Vars, Vars]:
        if name not in role_cache:
            path = find_role(name, search)
            defaults: Vars = {}
            role_vars: Vars = {}
            if path is not None and name not in seen:
                for dep in role_dependencies(path):
                    dep_defaults, dep_vars = role_layers(dep, seen | {name})
                    defaults.update(dep_defaults)
                    role_vars.update(dep_vars)
                defaults.update(_role_vars(path, "defaults"))
                role_vars.update(_role_vars(path, "vars"))
            role_cache[name] = (defaults, role_vars)
        return role_cache[name]

    variables = step_variables or {}
    for host in hosts:
        defaults: Vars = {}
        play_layer: Vars = {}
        role_layer: Vars = {}
        for play in plays:
            try:
                reached = host in play_hosts(play, inventory, [host], variables)
            except Unresolvable:
                reached = True  # counted: its variables may apply
            if not reached:
                continue
            for role in play.roles:
                role_defaults, role_vars = role_layers(role, frozenset())
                defaults.update(role_defaults)
                role_layer.update(role_vars)
            play_layer.update(play.vars)
        merged: Vars = {}
        merged.update(defaults)
        merged.update(inventory.host_variables(host, playbook.parent))
        merged.update(play_layer)
        merged.update(role_layer)
        for name in wanted & merged.keys():
            out[name][host] = merged[name]
    return out


def same_value(plan_value: Any, repository_value: Any) -> bool:
    """Whether a plan's value is what the repository already sets (``8096`` and ``"8096"``
    alike: Ansible templates both the same way). A vault-encrypted or templated repository
    value is never the same: it cannot be compared before the run."""
    if isinstance(repository_value, Vaulted):
        return False
    if isinstance(repository_value, str) and ("{{" in repository_value or "{%" in repository_value):
        return False
    if plan_value == repository_value and type(plan_value) is type(repository_value):
        return True
    if isinstance(plan_value, bool) or isinstance(repository_value, bool):
        return plan_value == repository_value and isinstance(plan_value, bool) == isinstance(
            repository_value, bool
        )
    if isinstance(plan_value, list) and isinstance(repository_value, list):
        return len(plan_value) == len(repository_value) and all(
            same_value(a, b) for a, b in zip(plan_value, repository_value, strict=True)
        )
    scalars = (str, int, float)
    if isinstance(plan_value, scalars) and isinstance(repository_value, scalars):
        return str(plan_value) == str(repository_value)
    return False
