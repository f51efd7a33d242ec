"""A playbook as the rules see it: its plays, every task (blocks, roles and literal includes
followed), and the YAML documents they came from, with line marks.

Only what can be known without running Ansible is followed: roles found under the
playbook's folder or the catalog root (``roles/NAME``), and ``include_tasks`` /
``import_tasks`` / ``include_role`` / ``import_role`` whose target is a literal. Anything
templated is left out, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from chiffon.playbooks.documents import Document, Items, Node, load_document

SECTIONS = ("pre_tasks", "tasks", "post_tasks", "handlers")
_BLOCK_PARTS = ("block", "rescue", "always")
_INCLUDES = frozenset({"include_tasks", "import_tasks", "include"})
_ROLE_INCLUDES = frozenset({"include_role", "import_role"})
_ITEM = re.compile(r"\{\{\s*item\s*\}\}")

# Task keywords (Ansible's Task, Base, Conditional, Taggable, Become, Delegatable, Notifiable
# attributes): whatever key is not one of these names the module.
KEYWORDS = frozenset((
    "action", "any_errors_fatal", "args", "async", "become", "become_exe", "become_flags",
    "become_method", "become_user", "changed_when", "check_mode", "collections", "connection",
    "debugger", "delay", "delegate_facts", "delegate_to", "diff", "environment", "failed_when",
    "ignore_errors", "ignore_unreachable", "listen", "local_action", "loop", "loop_control",
    "module_defaults", "name", "no_log", "notify", "poll", "port", "register", "remote_user",
    "retries", "run_once", "tags", "throttle", "timeout", "until", "vars", "when", "block",
    "rescue", "always",
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Task:
    """One task or handler: its mapping, the document holding it, and the play it runs in."""

    document: Document
    data: Node
    play: Node
    section: str
    role: str | None = None

    @property
    def name(self) -> str:
        return str(self.data.get("name") or "")

    @property
    def module(self) -> str:
        """The module's name as written (``ansible.builtin.command``), or ``""``."""
        for key in self.data:
            if isinstance(key, str) and key not in KEYWORDS and not key.startswith("with_"):
                return key
        action = self.data.get("action") or self.data.get("local_action")
        if isinstance(action, str):
            return action.split()[0] if action.split() else ""
        if isinstance(action, dict):
            return str(action.get("module", ""))
        return ""

    @property
    def short(self) -> str:
        """The module's last name: ``command`` for ``ansible.builtin.command``."""
        return self.module.rsplit(".", 1)[-1]

    @property
    def args(self) -> dict[str, Any]:
        """The module's arguments, ``args:`` merged in; free-form text under ``_raw``."""
        value = self.data.get(self.module) if self.module in self.data else None
        found: dict[str, Any] = {}
        if isinstance(value, dict):
            found.update(value)
        elif value is not None:
            found["_raw"] = value
        extra = self.data.get("args")
        if isinstance(extra, dict):
            found.update(extra)
        return found

    @property
    def is_handler(self) -> bool:
        return self.section == "handlers"

    @property
    def shown(self) -> str:
        """How Ansible names it in its events: ``role : name`` inside a role."""
        name = self.name or self.module
        return f"{self.role} : {name}" if self.role else name


@dataclass(slots=True)
class Playbook:
    """A catalog entry's playbook, read: ``main`` and every file followed from it."""

    root: Path
    main: Document
    documents: list[Document] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    role_vars: list[Document] = field(default_factory=list)

    @property
    def plays(self) -> list[Node]:
        data = self.main.data
        return [p for p in data if isinstance(p, Node)] if isinstance(data, list) else []

    def document(self, path: str) -> Document | None:
        return next((d for d in self.documents if d.path == path), None)


def read_playbook(root: Path, relative: str) -> Playbook:
    """Read the playbook at ``root/relative`` and what it includes. Raises ``UnreadableFile``
    when the playbook itself cannot be read; an included file that cannot be read is left
    out (ansible-lint and ansible-playbook report it)."""
    main = load_document(root, relative)
    book = Playbook(root=root, main=main, documents=[main])
    for play in book.plays:
        for role in _play_roles(play):
            _add_role(book, play, role, relative)
        for section in SECTIONS:
            tasks = play.get(section)
            if isinstance(tasks, list):
                _add_tasks(book, main, tasks, play, section, None, set())
    return book


def _play_roles(play: Node) -> list[str]:
    roles = play.get("roles")
    names = []
    for item in roles if isinstance(roles, list) else []:
        name = item.get("role") or item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and "{{" not in name:
            names.append(name)
    return names


def _add_tasks(
    book: Playbook,
    document: Document,
    tasks: list[Any],
    play: Node,
    section: str,
    role: str | None,
    seen: set[str],
) -> None:
    for item in tasks:
        if not isinstance(item, Node):
            continue
        parts = [item[p] for p in _BLOCK_PARTS if isinstance(item.get(p), list)]
        if parts:
            for part in parts:
                _add_tasks(book, document, part, play, section, role, seen)
            continue
        task = Task(document, item, play, section, role)
        book.tasks.append(task)
        if task.short in _INCLUDES:
            target = task.args.get("file") or task.args.get("_raw")
            if isinstance(target, str) and "{{" not in target:
                included = _sibling(document.path, target)
                _add_file(book, included, play, section, role, seen)
        elif task.short in _ROLE_INCLUDES:
            name = task.args.get("name")
            if isinstance(name, str) and "{{" not in name:
                _add_role(book, play, name, book.main.path)


def _add_file(
    book: Playbook,
    relative: str,
    play: Node,
    section: str,
    role: str | None,
    seen: set[str],
) -> None:
    if relative in seen or not (book.root / relative).is_file():
        return
    seen.add(relative)
    try:
        document = book.document(relative) or load_document(book.root, relative)
    except Exception:
        return
    if document not in book.documents:
        book.documents.append(document)
    if isinstance(document.data, list):
        _add_tasks(book, document, document.data, play, section, role, seen)


def _add_role(book: Playbook, play: Node, role: str, playbook: str) -> None:
    folder = _role_folder(book.root, playbook, role)
    if folder is None:
        return
    for section, sub in (("tasks", "tasks"), ("handlers", "handlers")):
        for name in ("main.yml", "main.yaml"):
            relative = f"{folder}/{sub}/{name}"
            if (book.root / relative).is_file():
                _add_file(book, relative, play, section, role.rsplit("/", 1)[-1], set())
                break
    for sub in ("defaults", "vars"):
        for name in ("main.yml", "main.yaml"):
            relative = f"{folder}/{sub}/{name}"
            if (book.root / relative).is_file() and all(d.path != relative for d in book.role_vars):
                try:
                    book.role_vars.append(load_document(book.root, relative))
                except Exception:
                    continue
                break


def _role_folder(root: Path, playbook: str, role: str) -> str | None:
    base = PurePosixPath(playbook).parent
    for folder in (base / "roles" / role, PurePosixPath("roles") / role):
        if (root / folder).is_dir():
            return folder.as_posix()
    return None


def _sibling(document: str, target: str) -> str:
    return _normal((PurePosixPath(document).parent / target).as_posix())


def _normal(path: str) -> str:
    parts: list[str] = []
    for part in PurePosixPath(path).parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def walk_values(value: Any) -> Iterator[Any]:
    """Every scalar under ``value`` (mapping keys excluded), depth first."""
    if isinstance(value, dict):
        for item in value.values():
            yield from walk_values(item)
    elif isinstance(value, list | Items):
        for item in value:
            yield from walk_values(item)
    else:
        yield value


def source_files(book: Playbook, task: Task) -> list[str]:
    """The catalog-relative files a ``template`` or ``copy`` task reads: its literal ``src``
    (or one per item of a literal ``loop`` when ``src`` is templated with ``{{ item }}``),
    looked up where Ansible looks: the role's or the playbook's ``templates``/``files``
    folder, then next to the playbook."""
    src = task.args.get("src")
    if task.short not in ("template", "copy") or not isinstance(src, str):
        return []
    sources = [src]
    if "{{" in src:
        loop = task.data.get("loop", task.data.get("with_items"))
        match = _ITEM.search(src)
        if match is None or not isinstance(loop, list):
            return []
        if not all(isinstance(i, str) and "{{" not in i for i in loop):
            return []
        sources = [src[: match.start()] + item + src[match.end() :] for item in loop]
        if any("{{" in s for s in sources):
            return []
    folder = "templates" if task.short == "template" else "files"
    document = PurePosixPath(task.document.path)
    bases = [document.parent.parent] if task.role else []
    bases.append(PurePosixPath(book.main.path).parent)
    found = []
    for source in sources:
        for candidate in (base / sub for base in bases for sub in (f"{folder}/{source}", source)):
            relative = _normal(candidate.as_posix())
            if (book.root / relative).is_file():
                found.append(relative)
                break
    return found
