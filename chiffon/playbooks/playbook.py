"""A playbook as the rules see it: its plays, every task (blocks, roles and literal includes
followed), and the YAML documents they came from, with line marks.

Only what can be known without running Ansible is followed: roles found under the
playbook's folder or the catalog root (``roles/NAME``), and ``include_tasks`` /
``import_tasks`` / ``include_role`` / ``import_role`` whose target is a literal. Anything
templated is left out, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from chiffon.playbooks.documents import Document, Items, Node, load_document

SECTIONS = ("pre_tasks", "tasks", "post_tasks", "handlers")
_BLOCK_PARTS = ("block", "rescue", "always")
_INCLUDES = frozenset({"include_tasks", "import_tasks", "include"})
_ROLE_INCLUDES = frozenset({"include_role", "import_role"})
_ITEM = re.compile(r"\{\{\s*item(?:\.(\w+)|\[['\"](\w+)['\"]\])?\s*\}\}")
_ONE_NAME = re.compile(r"^\s*\{\{\s*([A-Za-z_]\w*)\s*\}\}\s*$")

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
    blocks: tuple[Node, ...] = ()
    """The blocks the task is in, outermost first: their ``when:``, ``vars:`` and ``tags:``
    apply to it."""

    @property
    def conditions(self) -> list[str]:
        """Every ``when:`` that applies to the task: its blocks' and its own."""
        found: list[str] = []
        for node in (*self.blocks, self.data):
            when = node.get("when")
            items = when if isinstance(when, list) else [when]
            found.extend(str(w) for w in items if isinstance(w, str | bool))
        return found

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
    """A catalog entry's playbook, read: ``main`` and every file followed from it.

    ``tags`` (an entry's ``run_tags``) keep what ``ansible-playbook --tags`` would run: the
    roles and tasks tagged so (or ``always``), the others left out. ``blocks`` are the
    blocks of the tasks read (their own keys count: ``when:``, ``vars:``). ``cache`` holds
    the documents read and ``folders`` where each role was found, shared by the playbooks
    of one check.
    """

    root: Path
    main: Document
    documents: list[Document] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    role_vars: list[Document] = field(default_factory=list)
    blocks: list[tuple[Document, Node]] = field(default_factory=list)
    tags: frozenset[str] = frozenset()
    cache: dict[str, Document] = field(default_factory=dict)
    folders: dict[str, str | None] = field(default_factory=dict)
    roles: list[str] = field(default_factory=list)

    def load(self, relative: str) -> Document:
        """The document at ``relative``, read once per check. Raises ``UnreadableFile``."""
        document = self.cache.get(relative)
        if document is None:
            document = self.cache[relative] = load_document(self.root, relative)
        return document

    def selected(self, tags: frozenset[str]) -> bool:
        """Whether something tagged ``tags`` runs under the playbook's ``tags``."""
        return not self.tags or bool(tags & self.tags) or "always" in tags

    @property
    def plays(self) -> list[Node]:
        data = self.main.data
        return [p for p in data if isinstance(p, Node)] if isinstance(data, list) else []

    def document(self, path: str) -> Document | None:
        return next((d for d in self.documents if d.path == path), None)


def read_playbook(
    root: Path,
    relative: str,
    *,
    tags: Sequence[str] = (),
    cache: dict[str, Document] | None = None,
    folders: dict[str, str | None] | None = None,
) -> Playbook:
    """Read the playbook at ``root/relative`` and what it includes, as ``--tags tags`` runs
    it (everything when ``tags`` is empty). Raises ``UnreadableFile`` when the playbook itself
    cannot be read; an included file that cannot be read is left out (ansible-lint and
    ansible-playbook report it)."""
    cache = {} if cache is None else cache
    main = cache.get(relative) or load_document(root, relative)
    cache[relative] = main
    book = Playbook(root=root, main=main, tags=frozenset(tags), cache=cache)
    book.folders = {} if folders is None else folders
    book.documents.append(book.main)
    for play in book.plays:
        play_tags = _tag_set(play.get("tags"))
        for role, role_tags in _play_roles(play):
            _add_role(book, play, role, relative, play_tags | role_tags, set())
        for section in SECTIONS:
            tasks = play.get(section)
            if isinstance(tasks, list):
                _add_tasks(book, book.main, tasks, play, section, None, set(), play_tags, ())
    return book


def _tag_set(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(t.strip() for t in value.split(",") if t.strip())
    if isinstance(value, list):
        return frozenset(str(t) for t in value if isinstance(t, str | int))
    return frozenset()


def _play_roles(play: Node) -> list[tuple[str, frozenset[str]]]:
    roles = play.get("roles")
    found = []
    for item in roles if isinstance(roles, list) else []:
        name = item.get("role") or item.get("name") if isinstance(item, dict) else item
        tags = _tag_set(item.get("tags")) if isinstance(item, dict) else frozenset()
        if isinstance(name, str) and "{{" not in name:
            found.append((name, tags))
    return found


def _add_tasks(
    book: Playbook,
    document: Document,
    tasks: list[Any],
    play: Node,
    section: str,
    role: str | None,
    seen: set[str],
    tags: frozenset[str],
    blocks: tuple[Node, ...],
) -> None:
    for item in tasks:
        if not isinstance(item, Node):
            continue
        own = tags | _tag_set(item.get("tags"))
        parts = [item[p] for p in _BLOCK_PARTS if isinstance(item.get(p), list)]
        if parts:
            if book.selected(own):
                book.blocks.append((document, item))
            for part in parts:
                _add_tasks(book, document, part, play, section, role, seen, own, (*blocks, item))
            continue
        task = Task(document, item, play, section, role, blocks)
        if section == "handlers" or book.selected(own):
            book.tasks.append(task)
        if task.short in _INCLUDES:
            target = task.args.get("file") or task.args.get("_raw")
            if isinstance(target, str) and "{{" not in target:
                included = _sibling(document.path, target)
                _add_file(book, included, play, section, role, seen, own)
        elif task.short in _ROLE_INCLUDES:
            name = task.args.get("name")
            apply = task.args.get("apply")
            if isinstance(apply, dict):
                own = own | _tag_set(apply.get("tags"))
            if isinstance(name, str) and "{{" not in name:
                _add_role(book, play, name, book.main.path, own, set())


def _add_file(
    book: Playbook,
    relative: str,
    play: Node,
    section: str,
    role: str | None,
    seen: set[str],
    tags: frozenset[str],
) -> None:
    if relative in seen or not (book.root / relative).is_file():
        return
    seen.add(relative)
    try:
        document = book.load(relative)
    except Exception:
        return
    if document not in book.documents:
        book.documents.append(document)
    if isinstance(document.data, list):
        _add_tasks(book, document, document.data, play, section, role, seen, tags, ())


def _add_role(
    book: Playbook, play: Node, role: str, playbook: str, tags: frozenset[str], chain: set[str]
) -> None:
    """Add a role's tasks, handlers and variables, its ``meta`` dependencies' first (they run
    before it, with its tags)."""
    folder = _role_folder(book, playbook, role)
    if folder is None or folder in chain:
        return
    chain = chain | {folder}
    for dependency in _dependencies(book, folder):
        _add_role(book, play, dependency, playbook, tags, chain)
    if not book.selected(tags) and not _has_tagged_tasks(book, folder):
        return
    book.roles.append(folder)
    for section, sub in (("tasks", "tasks"), ("handlers", "handlers")):
        for name in ("main.yml", "main.yaml"):
            relative = f"{folder}/{sub}/{name}"
            if (book.root / relative).is_file():
                _add_file(book, relative, play, section, role.rsplit("/", 1)[-1], set(), tags)
                break
    for sub in ("defaults", "vars"):
        for name in ("main.yml", "main.yaml"):
            relative = f"{folder}/{sub}/{name}"
            if (book.root / relative).is_file() and all(d.path != relative for d in book.role_vars):
                try:
                    book.role_vars.append(book.load(relative))
                except Exception:
                    continue
                break


def _dependencies(book: Playbook, folder: str) -> list[str]:
    for name in ("main.yml", "main.yaml"):
        relative = f"{folder}/meta/{name}"
        if (book.root / relative).is_file():
            try:
                data = book.load(relative).data
            except Exception:
                return []
            items = data.get("dependencies") if isinstance(data, dict) else None
            found = []
            for item in items if isinstance(items, list) else []:
                value = item.get("role") or item.get("name") if isinstance(item, dict) else item
                if isinstance(value, str) and "{{" not in value:
                    found.append(value)
            return found
    return []


def _has_tagged_tasks(book: Playbook, folder: str) -> bool:
    """Whether a role not selected as a whole may have tasks of its own tagged with a
    selected tag (``--tags`` runs those): its task file names one."""
    for name in ("main.yml", "main.yaml"):
        relative = f"{folder}/tasks/{name}"
        if relative in book.cache or (book.root / relative).is_file():
            try:
                text = book.load(relative).text
            except Exception:
                return False
            return any(tag in text for tag in book.tags)
    return False


def _role_folder(book: Playbook, playbook: str, role: str) -> str | None:
    key = f"{playbook}\0{role}"
    if key in book.folders:
        return book.folders[key]
    found = None
    base = PurePosixPath(playbook).parent
    for folder in (base / "roles" / role, PurePosixPath("roles") / role):
        if (book.root / folder).is_dir():
            found = folder.as_posix()
            break
    book.folders[key] = found
    return found


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


def _loop_items(book: Playbook, task: Task) -> list[Any] | None:
    """The items of a task's literal loop, or of a loop over one variable set in the task's,
    its blocks', the play's vars or a role's vars or defaults; ``None`` otherwise."""
    loop = task.data.get("loop", task.data.get("with_items"))
    if isinstance(loop, list):
        return list(loop)
    match = _ONE_NAME.match(loop) if isinstance(loop, str) else None
    if match is None:
        return None
    name = match.group(1)
    scopes = [task.data.get("vars"), *(b.get("vars") for b in reversed(task.blocks))]
    scopes.append(task.play.get("vars"))
    scopes.extend(d.data for d in book.role_vars)
    for scope in scopes:
        if isinstance(scope, dict) and isinstance(scope.get(name), list):
            return list(scope[name])
    return None


def source_files(book: Playbook, task: Task) -> list[str]:
    """The catalog-relative files a ``template`` or ``copy`` task reads: its literal ``src``
    (or one per item of its ``loop`` when ``src`` is templated with ``{{ item }}`` or
    ``{{ item.KEY }}``: a literal loop, or one variable set where ``_loop_items`` looks),
    looked up where Ansible looks: the role's or the playbook's ``templates``/``files``
    folder, then next to the playbook."""
    src = task.args.get("src")
    if task.short not in ("template", "copy") or not isinstance(src, str):
        return []
    sources = [src]
    if "{{" in src:
        match = _ITEM.search(src)
        loop = _loop_items(book, task)
        if match is None or loop is None:
            return []
        key = match.group(1) or match.group(2)
        values = [item.get(key) if isinstance(item, dict) and key else item for item in loop]
        if not all(isinstance(v, str) and "{{" not in v for v in values):
            return []
        sources = [src[: match.start()] + str(v) + src[match.end() :] for v in values]
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
