"""Which variable names a playbook reads (Jinja, parsed) and which are set somewhere Ansible
will find them: the catalog entry, Chiffon's own, the play, its tasks, roles, the inventory,
group_vars, host_vars, and Ansible's magic variables."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from chiffon.playbooks.documents import Node, load_document
from chiffon.playbooks.errors import UnreadableFile
from chiffon.playbooks.rules.context import Context

# Set by Chiffon on every run (chiffon.agents.infra.ansible).
CHIFFON_VARIABLES = frozenset({"chiffon_hosts", "chiffon_target_root"})
# Ansible's magic variables and the globals of its templates.
MAGIC = frozenset((
    "hostvars", "groups", "group_names", "inventory_hostname", "inventory_hostname_short",
    "inventory_dir", "inventory_file", "playbook_dir", "role_path", "role_name", "role_names",
    "play_hosts", "omit", "item", "vars", "environment", "lookup", "query", "q", "now",
    "range", "dict", "lipsum", "cycler", "joiner", "namespace", "undef", "loop",
    "true", "false", "none", "True", "False", "None",
))  # fmt: skip


class _Anything(dict[str, Any]):
    """Every filter and test exists: Ansible's and collections' are not Jinja's, and only the
    names matter here."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> Any:
        return _any

    def get(self, key: str, default: Any = None) -> Any:
        return self[key]


def _any(*args: Any, **kwargs: Any) -> None:
    return None


@functools.cache
def _environment() -> Any:
    import jinja2

    environment = jinja2.Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])
    environment.filters = _Anything(environment.filters)
    environment.tests = _Anything(environment.tests)
    return environment


def template_names(text: str) -> set[str]:
    """The names a Jinja template reads and does not set itself; empty when it does not
    parse (ansible-lint reports that)."""
    return set(_template_names(text))


@functools.lru_cache(maxsize=65536)
def _template_names(text: str) -> frozenset[str]:
    # Cached: the entries of one site playbook read the same role files.
    import jinja2
    from jinja2 import meta

    try:
        return frozenset(meta.find_undeclared_variables(_environment().parse(text)))
    except jinja2.TemplateError:
        return frozenset()


_GUARD_FILTERS = frozenset({"default", "d"})
_GUARD_TESTS = frozenset({"defined", "undefined", "none"})


@functools.lru_cache(maxsize=65536)
def guarded_names(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """The names a template reads outside any guard, and those it reads only under one:
    ``x | default(…)``, ``x is defined`` (Ansible does not stop on an undefined name
    there). Both empty when it does not parse."""
    import jinja2
    from jinja2 import nodes

    try:
        tree = _environment().parse(text)
    except jinja2.TemplateError:
        return frozenset(), frozenset()
    free: set[str] = set()
    guarded: set[str] = set()

    def visit(node: nodes.Node, under: bool) -> None:
        if isinstance(node, nodes.Name) and node.ctx == "load":
            (guarded if under else free).add(node.name)
            return
        if isinstance(node, nodes.Filter) and node.name in _GUARD_FILTERS:
            if node.node is not None:
                visit(node.node, True)
            for argument in (*node.args, *(k.value for k in node.kwargs)):
                visit(argument, under)
            return
        if isinstance(node, nodes.Test) and node.name in _GUARD_TESTS:
            visit(node.node, True)
            return
        for child in node.iter_child_nodes():
            visit(child, under)

    visit(tree, False)
    declared = _template_names(text)
    return frozenset(free & declared), frozenset((guarded - free) & declared)


def condition_guards(conditions: list[str]) -> set[str]:
    """The names a task's ``when:`` conditions test with ``is defined`` (or read under
    ``default``): using them in the task is guarded."""
    found: set[str] = set()
    for condition in conditions:
        found |= guarded_names("{{ " + condition + " }}")[1]
    return found


def expression_names(expression: str) -> set[str]:
    """The names a bare Jinja expression (a ``when:``) reads."""
    return template_names("{{ " + expression + " }}")


def defined_names(context: Context) -> set[str]:
    """Every name set for this entry's playbook outside the playbook's own expressions."""
    names = set(CHIFFON_VARIABLES) | set(context.entry.variables)
    book = context.book
    for play in book.plays:
        names |= _keys(play.get("vars"))
        prompts = play.get("vars_prompt")
        for prompt in prompts if isinstance(prompts, list) else []:
            if isinstance(prompt, dict) and isinstance(prompt.get("name"), str):
                names.add(prompt["name"])
        files = play.get("vars_files")
        for name in files if isinstance(files, list) else []:
            if isinstance(name, str) and "{{" not in name:
                names |= _file_keys(book.root, (Path(book.main.path).parent / name).as_posix())
    for _, block in book.blocks:
        names |= _keys(block.get("vars"))
    for task in book.tasks:
        names |= _keys(task.data.get("vars"))
        register = task.data.get("register")
        if isinstance(register, str):
            names.add(register)
        if task.short == "set_fact":
            names |= _keys(task.args) - {"cacheable"}
        control = task.data.get("loop_control")
        if isinstance(control, dict) and isinstance(control.get("loop_var"), str):
            names.add(control["loop_var"])
    for document in book.role_vars:
        names |= _keys(document.data)
    inventory = context.catalog.inventory.path
    names |= _inventory_keys(inventory)
    for base in {inventory.parent, (book.root / book.main.path).parent}:
        for folder in ("group_vars", "host_vars"):
            names |= _folder_keys(base / folder)
    return names


def is_defined(name: str, defined: set[str]) -> bool:
    return name in defined or name in MAGIC or name.startswith("ansible_")


def _keys(value: Any) -> set[str]:
    return {k for k in value if isinstance(k, str)} if isinstance(value, dict) else set()


def _file_keys(root: Path, relative: str) -> set[str]:
    path = root / relative
    try:
        stat = path.stat()
    except OSError:
        return set()
    return set(_keys_of(str(path), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=4096)
def _keys_of(path: str, mtime_ns: int, size: int) -> frozenset[str]:
    # Keyed by the file's change time and size: every entry reads the same group_vars.
    try:
        return frozenset(_keys(load_document(Path(path).parent, Path(path).name).data))
    except UnreadableFile:
        return frozenset()


def _folder_keys(folder: Path) -> set[str]:
    names: set[str] = set()
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix in (".yml", ".yaml", ".json", ""):
                names |= _file_keys(path.parent, path.name)
    return names


def _inventory_keys(path: Path) -> set[str]:
    try:
        data = load_document(path.parent, path.name).data
    except UnreadableFile:
        return set()
    names: set[str] = set()

    def walk(node: Any) -> None:
        if not isinstance(node, Node):
            return
        names.update(_keys(node.get("vars")))
        hosts = node.get("hosts")
        if isinstance(hosts, Node):
            for host in hosts.values():
                names.update(_keys(host))
        children = node.get("children")
        if isinstance(children, Node):
            for child in children.values():
                walk(child)

    if isinstance(data, Node):
        for group in data.values():
            walk(group)
    return names
