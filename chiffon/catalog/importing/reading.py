"""An Ansible repository read as it is: its playbooks and the roles they run (with tags and
feature flags), its roles (defaults, meta, README), inventory, ``group_vars``/``host_vars``,
``requirements.yml`` and vault files. Reading only: nothing under the repository is written.

Only what YAML says is read; nothing is templated or run. A file that is not YAML (or a
vault-encrypted one) is noted and left out, never fatal: a draft of the rest is still useful.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chiffon.catalog.errors import CatalogError

_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FLAG = re.compile(r"\b([A-Za-z_]\w*_enabled)\b")
_ROLE_INCLUDES = frozenset({"include_role", "import_role"})
_PLAYBOOK_IMPORTS = frozenset({"import_playbook", "ansible.builtin.import_playbook"})
_NOT_PLAYBOOKS = frozenset({
    "catalog.yml", "requirements.yml", "requirements.yaml", "galaxy.yml", ".ansible-lint",
    ".yamllint", ".yamllint.yml", "docker-compose.yml", "compose.yml", "compose.yaml",
    ".pre-commit-config.yaml", "mkdocs.yml",
})  # fmt: skip
_INVENTORY_NAMES = (
    "inventory", "inventory.ini", "inventory.yml", "inventory.yaml", "hosts", "hosts.ini",
    "hosts.yml", "hosts.yaml", "inventories/production/hosts", "inventory/hosts",
    "inventory/hosts.ini", "inventory/hosts.yml", "inventory/inventory.yml",
)  # fmt: skip
VAULT_HEADER = "$ANSIBLE_VAULT"


class Vaulted(str):
    """A ``!vault`` value: a secret, never shown."""

    __slots__ = ()


class _Loader(_BASE):  # type: ignore[misc]
    pass


def _tagged(loader: Any, suffix: str, node: yaml.Node) -> Any:
    if suffix == "vault":
        return Vaulted(loader.construct_scalar(node))
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_Loader.add_multi_constructor("!", _tagged)


@dataclass(frozen=True, slots=True)
class Role:
    """A role of the repository: ``folder`` relative to the root; ``defaults`` its
    ``defaults/`` variables in file order; ``comments`` the comment lines written above each
    default; ``description`` from meta or README; ``galaxy_tags`` and ``dependencies`` from
    ``meta/main.yml``."""

    name: str
    folder: str
    defaults: dict[str, Any]
    comments: dict[str, str]
    description: str
    galaxy_tags: tuple[str, ...]
    dependencies: tuple[str, ...]
    defaults_file: str | None


@dataclass(frozen=True, slots=True)
class RoleUse:
    """A role run by a playbook's play: the play's ``hosts``, the tags it runs under (its
    own and the play's) and the ``*_enabled`` flags its ``when:`` (or the play's) reads."""

    role: str
    playbook: str
    play: int
    hosts: str | None
    tags: tuple[str, ...]
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Playbook:
    """A playbook file: its plays' ``hosts`` and names, and the playbooks it imports."""

    path: str
    hosts: tuple[str | None, ...]
    names: tuple[str, ...]
    imports: tuple[str, ...]
    comment: str


@dataclass(slots=True)
class Repository:
    """What ``read_repository`` found."""

    root: Path
    playbooks: dict[str, Playbook] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    uses: list[RoleUse] = field(default_factory=list)
    inventory: str | None = None
    inventory_vars: dict[str, str] = field(default_factory=dict)
    """Variable -> the file under group_vars/host_vars (or the inventory) that sets it."""
    collections: tuple[str, ...] = ()
    galaxy_roles: tuple[str, ...] = ()
    requirements: str | None = None
    vault_files: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


def read_repository(root: Path | str) -> Repository:
    """Read the Ansible repository at ``root``. Raises ``CatalogError`` when ``root`` is not a
    directory or holds no playbook."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise CatalogError(f"{root} is not a directory")
    repo = Repository(root=root)
    config = _ansible_cfg(root)
    for folder in _role_folders(root, config):
        for path in sorted(p for p in folder.iterdir() if p.is_dir()):
            if path.name not in repo.roles and (path / "tasks").is_dir():
                repo.roles[path.name] = _read_role(root, path, repo.notes)
    for path in _playbook_candidates(root):
        data = _load(root, path, repo.notes)
        if _is_playbook(data):
            _read_playbook(repo, path.relative_to(root).as_posix(), data)
    if not repo.playbooks:
        raise CatalogError(
            f"{root} has no playbook (a YAML list of plays with `hosts:`) at its root or "
            "under playbooks/"
        )
    repo.inventory = _find_inventory(root, config)
    _read_inventory_vars(repo)
    _read_requirements(repo)
    return repo


def _load(root: Path, path: Path, notes: list[str]) -> Any:
    relative = path.relative_to(root).as_posix()
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        notes.append(f"{relative}: not read ({exc})")
        return None
    if text.startswith(VAULT_HEADER):
        return None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        notes.append(f"{relative}{where}: not valid YAML, left out")
        return None


def _ansible_cfg(root: Path) -> dict[str, str]:
    path = root / "ansible.cfg"
    if not path.is_file():
        return {}
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(path.read_text())
    except (configparser.Error, OSError, UnicodeDecodeError):
        return {}
    return dict(parser["defaults"]) if parser.has_section("defaults") else {}


def _role_folders(root: Path, config: dict[str, str]) -> list[Path]:
    folders = [root / "roles", root / "playbooks" / "roles"]
    for item in re.split(r"[:,]", config.get("roles_path", "")):
        item = item.strip()
        if item and not item.startswith(("~", "/")):
            folders.append(root / item)
    return [f for f in dict.fromkeys(folders) if f.is_dir() and f.resolve().is_relative_to(root)]


def _playbook_candidates(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder in (root, root / "playbooks"):
        if folder.is_dir():
            found.extend(
                p
                for p in sorted(folder.iterdir())
                if p.is_file() and p.suffix in (".yml", ".yaml") and p.name not in _NOT_PLAYBOOKS
            )
    return found


def _is_playbook(data: Any) -> bool:
    return (
        isinstance(data, list)
        and bool(data)
        and all(isinstance(p, dict) for p in data)
        and all("hosts" in p or _PLAYBOOK_IMPORTS & set(p) for p in data)
    )


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " and ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    if isinstance(value, list):
        return tuple(str(t) for t in value if isinstance(t, str | int))
    return ()


def _read_playbook(repo: Repository, path: str, plays: list[dict[str, Any]]) -> None:
    hosts: list[str | None] = []
    names: list[str] = []
    imports: list[str] = []
    for number, play in enumerate(plays):
        imported = next((play[k] for k in _PLAYBOOK_IMPORTS if k in play), None)
        if isinstance(imported, str):
            imports.append(imported)
            continue
        target = play.get("hosts")
        hosts.append(_text(target) or None)
        names.append(str(play.get("name") or ""))
        play_tags = _tags(play.get("tags"))
        play_when = _text(play.get("when"))
        for item in play.get("roles") or []:
            role, when = item, ""
            tags: tuple[str, ...] = ()
            if isinstance(item, dict):
                role = item.get("role") or item.get("name")
                when, tags = _text(item.get("when")), _tags(item.get("tags"))
            if isinstance(role, str) and "{{" not in role:
                _use(repo, role, path, number, hosts[-1], (*tags, *play_tags), when, play_when)
        for section in ("pre_tasks", "tasks", "post_tasks"):
            for task in _flat_tasks(play.get(section)):
                module = next((k for k in task if k.rsplit(".", 1)[-1] in _ROLE_INCLUDES), None)
                if module is None:
                    continue
                args = task[module]
                name = args.get("name") if isinstance(args, dict) else args
                if not isinstance(name, str) or "{{" in name:
                    continue
                tags = _tags(task.get("tags"))
                if isinstance(args, dict) and isinstance(args.get("apply"), dict):
                    tags = (*tags, *_tags(args["apply"].get("tags")))
                when = " and ".join(filter(None, (_text(task.get("when")), task.get("_when", ""))))
                _use(repo, name, path, number, hosts[-1], (*tags, *play_tags), when, play_when)
    repo.playbooks[path] = Playbook(
        path, tuple(hosts), tuple(names), tuple(imports), _leading_comment(repo.root / path)
    )


def _flat_tasks(tasks: Any, when: str = "") -> list[dict[str, Any]]:
    """Tasks with their blocks opened; a block's ``when:`` joins its tasks' (``_when``)."""
    found: list[dict[str, Any]] = []
    for task in tasks if isinstance(tasks, list) else []:
        if not isinstance(task, dict):
            continue
        if isinstance(task.get("block"), list):
            inner = " and ".join(filter(None, (when, _text(task.get("when")))))
            for part in ("block", "rescue", "always"):
                found.extend(_flat_tasks(task.get(part), inner))
        else:
            found.append({**task, "_when": when} if when else task)
    return found


def _use(
    repo: Repository,
    role: str,
    playbook: str,
    play: int,
    hosts: str | None,
    tags: tuple[str, ...],
    when: str,
    play_when: str,
) -> None:
    name = role.rstrip("/").rsplit("/", 1)[-1]
    flags = tuple(dict.fromkeys(_FLAG.findall(f"{when} {play_when}")))
    known = repo.roles.get(name)
    if known is not None and not flags:
        own = f"{name.replace('-', '_')}_enabled"
        if own in known.defaults:
            flags = (own,)  # the role gates itself on its own flag (its tasks' when:)
    tags = tuple(t for t in dict.fromkeys(tags) if t not in ("always", "never"))
    repo.uses.append(RoleUse(name, playbook, play, hosts, tags, flags))


def _read_role(root: Path, folder: Path, notes: list[str]) -> Role:
    defaults: dict[str, Any] = {}
    comments: dict[str, str] = {}
    defaults_file = None
    candidates = [folder / "defaults" / "main.yml", folder / "defaults" / "main.yaml"]
    if (folder / "defaults" / "main").is_dir():
        candidates.extend(sorted((folder / "defaults" / "main").glob("*.y*ml")))
    for path in candidates:
        if not path.is_file():
            continue
        data = _load(root, path, notes)
        if isinstance(data, dict):
            defaults.update((str(k), v) for k, v in data.items())
            comments.update(_key_comments(path))
            defaults_file = defaults_file or path.relative_to(root).as_posix()
    meta = _load(root, folder / "meta" / "main.yml", notes) if (
        folder / "meta" / "main.yml"
    ).is_file() else None  # fmt: skip
    info = meta.get("galaxy_info") if isinstance(meta, dict) else None
    info = info if isinstance(info, dict) else {}
    description = str(info.get("description") or "").strip()
    if _template_text(description):
        description = ""
    if not description:
        description = _readme_summary(folder)
    tags = tuple(str(t).lower() for t in info.get("galaxy_tags") or [] if isinstance(t, str))
    dependencies = []
    for item in meta.get("dependencies") or [] if isinstance(meta, dict) else []:
        name = item.get("role") or item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str):
            dependencies.append(name)
    return Role(
        name=folder.name,
        folder=folder.relative_to(root).as_posix(),
        defaults=defaults,
        comments=comments,
        description=description,
        galaxy_tags=tags,
        dependencies=tuple(dependencies),
        defaults_file=defaults_file,
    )


def _template_text(text: str) -> bool:
    # ansible-galaxy init's placeholders say nothing about the role.
    return text.lower() in ("your description", "your role description", "role description")


_KEY = re.compile(r"^([A-Za-z_][\w]*)\s*:")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"[*_`]{1,3}")


def _key_comments(path: Path) -> dict[str, str]:
    """The comment lines written right above each top-level key."""
    found: dict[str, str] = {}
    pending: list[str] = []
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return found
    for line in lines:
        if line.startswith("#"):
            text = line.lstrip("#").strip()
            if text and not set(text) <= set("-=#*"):
                pending.append(text)
            continue
        match = _KEY.match(line)
        if match and pending:
            found[match.group(1)] = " ".join(pending)
        if line.strip() and not line.startswith((" ", "\t")):
            pending = []
    return found


def _readme_summary(folder: Path) -> str:
    """The README's first paragraph of prose (not a heading, badge, list or code)."""
    for name in ("README.md", "README.rst", "README", "readme.md"):
        path = folder / name
        if path.is_file():
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError):
                return ""
            break
    else:
        return ""
    paragraph: list[str] = []
    fenced = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        prose = stripped and not stripped.startswith(("#", "[![", "![", "<", "|", "-", "*", "="))
        if prose and not set(stripped) <= set("=-~^"):
            paragraph.append(stripped)
        elif paragraph:
            break
    summary = _MARKUP.sub("", _LINK.sub(r"\1", " ".join(paragraph))).strip()
    if len(summary) > 240:
        end = summary.find(". ", 0, 240)
        summary = summary[: end + 1] if end > 40 else summary[:237].rstrip() + "…"
    return summary


def _leading_comment(path: Path) -> str:
    """The comment block a playbook starts with, as one line."""
    found = []
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    for line in lines:
        if line.strip() == "---":
            continue
        if not line.startswith("#"):
            break
        found.append(line.lstrip("#").strip())
    return " ".join(t for t in found if t)


def _find_inventory(root: Path, config: dict[str, str]) -> str | None:
    configured = config.get("inventory", "").split(",")[0].strip()
    names = [configured] if configured and not configured.startswith(("~", "/")) else []
    for name in (*names, *_INVENTORY_NAMES):
        path = root / name
        if path.is_dir():
            inner = next(
                (path / n for n in ("hosts", "hosts.ini", "hosts.yml", "inventory.yml")
                 if (path / n).is_file()), None,
            )  # fmt: skip
            if inner is not None:
                return inner.relative_to(root).as_posix()
        elif path.is_file():
            return path.relative_to(root).as_posix()
    return None


def _read_inventory_vars(repo: Repository) -> None:
    root = repo.root
    bases = [root]
    if repo.inventory is not None:
        bases.insert(0, (root / repo.inventory).parent)
    vaults: list[str] = []
    for base in dict.fromkeys(bases):
        for folder in ("group_vars", "host_vars"):
            top = base / folder
            if not top.is_dir():
                continue
            for path in sorted(p for p in top.rglob("*") if p.is_file()):
                if path.suffix not in (".yml", ".yaml", ".json", ""):
                    continue
                relative = path.relative_to(root).as_posix()
                try:
                    head = path.read_text()[: len(VAULT_HEADER)]
                except (OSError, UnicodeDecodeError):
                    continue
                if head == VAULT_HEADER:
                    vaults.append(relative)
                    continue
                data = _load(root, path, repo.notes)
                if isinstance(data, dict):
                    for key in data:
                        repo.inventory_vars.setdefault(str(key), relative)
    repo.vault_files = tuple(vaults)


def _read_requirements(repo: Repository) -> None:
    for name in ("requirements.yml", "requirements.yaml", "collections/requirements.yml",
                 "roles/requirements.yml"):  # fmt: skip
        path = repo.root / name
        if path.is_file():
            break
    else:
        return
    repo.requirements = name
    data = _load(repo.root, path, repo.notes)
    roles: list[str] = []
    collections: list[str] = []

    def names(items: Any, into: list[str]) -> None:
        for item in items if isinstance(items, list) else []:
            value = item.get("name") or item.get("src") if isinstance(item, dict) else item
            if isinstance(value, str):
                into.append(value)

    if isinstance(data, list):
        names(data, roles)
    elif isinstance(data, dict):
        names(data.get("roles"), roles)
        names(data.get("collections"), collections)
    repo.galaxy_roles, repo.collections = tuple(roles), tuple(collections)
