"""A repository's ``requirements.yml`` and what a playbook needs that is not installed.

``read_requirements`` lists the roles and collections the repository's requirements files
name. ``missing_for`` finds, without running Ansible, the roles a playbook applies (and
their ``meta`` dependencies) that no roles path holds, and the collections its tasks' module
names (``community.docker.docker_container``) come from that no collections path holds —
each once, with the line Ansible would print and the command that fixes it. Validation
reports them before anyone is asked to approve the plan.

``chiffon catalog requirements --install`` installs the requirements into
``Catalog.requirements_dir`` (Chiffon's, inside the catalog root, ignored by git); runs
point ansible-playbook there first (``ANSIBLE_ROLES_PATH``, ``ANSIBLE_COLLECTIONS_PATH``).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml

from chiffon.catalog.errors import CatalogError
from chiffon.catalog.inventory import cached_yaml
from chiffon.catalog.plays import (
    Play,
    ansible_cfg_paths,
    find_role,
    read_plays,
    role_dependencies,
    roles_path,
)

REQUIREMENTS_FILES = (
    "requirements.yml", "requirements.yaml", "roles/requirements.yml",
    "collections/requirements.yml",
)  # fmt: skip
_FQCN = re.compile(r"^([a-z0-9_]+)\.([a-z0-9_]+)\.[a-z0-9_]+(\.[a-z0-9_]+)*$")
# Shipped inside ansible-core itself.
_BUILTIN = {("ansible", "builtin"), ("ansible", "legacy")}
_TASK_FILES = ("tasks", "handlers")

Kind = Literal["role", "collection"]


@dataclasses.dataclass(frozen=True, slots=True)
class Requirement:
    """One role or collection a requirements file names: the name it is installed under,
    where it comes from (``src``/``source`` or the Galaxy name), and the file and line."""

    kind: Kind
    name: str
    source: str
    file: Path
    line: int


@dataclasses.dataclass(frozen=True, slots=True)
class Missing:
    """A role or collection a playbook needs that is not installed: Ansible's own line for
    it, where it is used, and whether a requirements file names it (``requirement``)."""

    kind: Kind
    name: str
    reason: str
    used_at: str
    requirement: Requirement | None


def requirement_files(root: Path) -> list[Path]:
    """The requirements files of the repository at ``root``, in Ansible's usual places."""
    return [root / name for name in REQUIREMENTS_FILES if (root / name).is_file()]


def _role_name(item: dict[str, Any] | str) -> tuple[str, str]:
    if isinstance(item, str):
        return _name_of_source(item), item
    source = str(item.get("src") or item.get("name") or "")
    name = str(item.get("name") or _name_of_source(source))
    return name, source


def _name_of_source(source: str) -> str:
    # ansible-galaxy's rule: a URL, path or tarball installs under its last path part.
    base = source.rstrip("/").split(",")[0].rsplit("/", 1)[-1]
    for suffix in (".tar.gz", ".tgz", ".tar", ".git", ".zip"):
        base = base.removesuffix(suffix)
    return base


def read_requirements(root: Path) -> list[Requirement]:
    """Every role and collection the repository's requirements files name. Raises
    ``CatalogError`` naming the file (and line) of one that cannot be read."""
    found: list[Requirement] = []
    for path in requirement_files(root):
        try:
            node = yaml.compose(path.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogError(f"{path}: cannot be read: {exc}") from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            line = f":{mark.line + 1}" if mark is not None else ""
            raise CatalogError(f"{path}{line}: not valid YAML: {exc.problem}") from None
        if node is None:
            continue
        data = yaml.safe_load(path.read_text())
        sections: list[tuple[Kind, Any, yaml.Node | None]] = []
        if isinstance(node, yaml.SequenceNode):
            sections.append(("role", data, node))
        elif isinstance(node, yaml.MappingNode) and isinstance(data, dict):
            for key, value in node.value:
                if key.value in ("roles", "collections"):
                    kind: Kind = "role" if key.value == "roles" else "collection"
                    sections.append((kind, data.get(key.value), value))
        else:
            raise CatalogError(f"{path}: expected a list of roles, or roles: / collections:")
        for kind, items, items_node in sections:
            if not isinstance(items, list) or not isinstance(items_node, yaml.SequenceNode):
                continue
            for item, item_node in zip(items, items_node.value, strict=True):
                line = item_node.start_mark.line + 1
                if kind == "role":
                    name, source = _role_name(item)
                else:
                    name = str(item.get("name") if isinstance(item, dict) else item)
                    source = str(item.get("source") or name) if isinstance(item, dict) else name
                    if "/" in name or name.endswith((".tar.gz", ".tgz")):
                        # A tarball or directory: its galaxy name is inside it; by file name.
                        name = _collection_of_tarball(name)
                if name:
                    found.append(Requirement(kind, name, source, path, line))
    return found


def _collection_of_tarball(source: str) -> str:
    # ns-name-1.0.0.tar.gz: ansible-galaxy's build name.
    base = source.rstrip("/").rsplit("/", 1)[-1].removesuffix(".tar.gz").removesuffix(".tgz")
    parts = base.split("-")
    return f"{parts[0]}.{parts[1]}" if len(parts) >= 2 else base


def collections_path(root: Path, playbook: Path, extra: Sequence[Path] = ()) -> list[Path]:
    """Where ansible-playbook looks for collections: ``collections/`` beside the playbook,
    ``extra`` (Chiffon's requirements directory), the ``collections_path`` of ansible.cfg
    (else Ansible's defaults), and the Python environment running it."""
    configured = ansible_cfg_paths(root, "collections_path") or ansible_cfg_paths(
        root, "collections_paths"
    )
    defaults = [Path.home() / ".ansible/collections", Path("/usr/share/ansible/collections")]
    return [
        playbook.parent / "collections",
        *extra,
        *(configured or defaults),
        *(Path(p) for p in sys.path if p),
    ]


def collection_installed(name: str, search: Iterable[Path]) -> bool:
    namespace, _, collection = name.partition(".")
    return any((base / "ansible_collections" / namespace / collection).is_dir() for base in search)


def _modules(tasks: Any) -> Iterable[str]:
    if not isinstance(tasks, list):
        return
    for task in tasks:
        if not isinstance(task, dict):
            continue
        for part in ("block", "rescue", "always"):
            yield from _modules(task.get(part))
        for key in task:
            if isinstance(key, str) and _FQCN.match(key):
                yield key


def _role_task_modules(role: Path) -> Iterable[tuple[str, Path]]:
    for part in _TASK_FILES:
        folder = role / part
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.y*ml")):
            try:
                data = cached_yaml(path)
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                continue  # the playbook checks and Ansible itself say what is wrong there
            for module in _modules(data):
                yield module, path


def _play_modules(play: Play) -> Iterable[str]:
    try:
        plays = cached_yaml(play.file)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return
    for data in plays if isinstance(plays, list) else []:
        if isinstance(data, dict) and str(data.get("name") or "") == play.name:
            for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                yield from _modules(data.get(section))


def missing_for(
    root: Path, playbook: Path, *, requirements_dir: Path, catalog_root: Path
) -> list[Missing]:
    """The roles and collections ``playbook`` needs that are not installed, each once.
    ``root`` is where its ansible.cfg is; ``requirements_dir`` is Chiffon's. Raises what
    ``read_plays`` raises."""
    plays = read_plays(playbook)
    try:
        wanted = {(r.kind, r.name): r for r in read_requirements(catalog_root)}
    except CatalogError:
        wanted = {}  # `chiffon catalog requirements` names the problem
    search = roles_path(root, playbook, [requirements_dir / "roles"])
    collections = collections_path(root, playbook, [requirements_dir / "collections"])
    missing: dict[tuple[Kind, str], Missing] = {}
    seen_roles: set[str] = set()

    def relative(path: Path) -> str:
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    def need_collection(module: str, where: str) -> None:
        namespace, collection = module.split(".")[:2]
        if (namespace, collection) in _BUILTIN:
            return
        name = f"{namespace}.{collection}"
        if ("collection", name) in missing or collection_installed(name, collections):
            return
        missing[("collection", name)] = Missing(
            kind="collection",
            name=name,
            reason=f"[ERROR]: couldn't resolve module/action '{module}'. This often indicates "
            "a misspelling, missing collection, or incorrect module path.",
            used_at=where,
            requirement=wanted.get(("collection", name)),
        )

    def need_role(name: str, where: str) -> None:
        if name in seen_roles:
            return
        seen_roles.add(name)
        if "." in name and name.count(".") == 2:  # namespace.collection.role
            need_collection(name, where)
            return
        path = find_role(name, search)
        if path is None:
            missing[("role", name)] = Missing(
                kind="role",
                name=name,
                reason=f"[ERROR]: the role '{name}' was not found in "
                + ":".join(str(p) for p in search),
                used_at=where,
                requirement=wanted.get(("role", name)),
            )
            return
        for dep in role_dependencies(path):
            need_role(dep, f"{relative(path)}/meta/main.yml")
        for module, file in _role_task_modules(path):
            need_collection(module, relative(file))

    for play in plays:
        where = f"{relative(play.file)}:{play.line}"
        for role in play.roles:
            need_role(role, where)
        for module in _play_modules(play):
            need_collection(module, where)
    return list(missing.values())


def fix_command(catalog_root: Path, missing: Missing) -> str:
    """What installs ``missing``: Chiffon's command when a requirements file names it, else
    what to add to requirements.yml."""
    if missing.requirement is not None:
        return f"chiffon catalog requirements --install {catalog_root}"
    section = "roles" if missing.kind == "role" else "collections"
    return (
        f"add {missing.name} under {section}: in {catalog_root / 'requirements.yml'}, then "
        f"chiffon catalog requirements --install {catalog_root}"
    )


def install_requirements(catalog_root: Path, requirements_dir: Path) -> list[tuple[str, str]]:
    """Install every requirements file's roles into ``requirements_dir/roles`` and
    collections into ``requirements_dir/collections`` with ``ansible-galaxy`` (run in
    ``catalog_root``, so relative sources resolve there). Returns each command run and its
    output. Raises ``CatalogError`` with ansible-galaxy's own output when one fails."""
    import subprocess

    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    requirements_dir.mkdir(parents=True, exist_ok=True)
    ignore = requirements_dir.parent / ".gitignore"
    if not ignore.exists():
        # Chiffon's directory, not the repository's: git leaves it alone.
        ignore.write_text(
            "# Chiffon's own (installed requirements): not part of the repository\n*\n"
        )
    kinds = {(r.file, r.kind) for r in read_requirements(catalog_root)}
    done: list[tuple[str, str]] = []
    for path in requirement_files(catalog_root):
        for kind in ("role", "collection"):
            if (path, kind) not in kinds:
                continue
            target = requirements_dir / ("roles" if kind == "role" else "collections")
            command = [str(galaxy), kind, "install", "-r", str(path), "-p", str(target)]
            shown = " ".join(["ansible-galaxy", kind, "install", "-r", str(path.relative_to(
                catalog_root)), "-p", str(target)])  # fmt: skip
            try:
                finished = subprocess.run(
                    command, cwd=catalog_root, capture_output=True, text=True, timeout=600,
                    check=False,
                )  # fmt: skip
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise CatalogError(f"{shown} could not run: {exc}") from None
            output = (finished.stdout + finished.stderr).strip()
            if finished.returncode != 0:
                raise CatalogError(f"{shown} failed (exit {finished.returncode}):\n{output}")
            done.append((shown, output))
    return done
