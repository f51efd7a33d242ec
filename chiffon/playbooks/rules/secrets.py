"""``plaintext-secret``: a password, token or key written in plain text, or a catalog variable
that holds one without being marked ``secret: true``.

Looked for in the catalog entry's variables, the play's and tasks' ``vars``, module
arguments, role defaults and vars, ``vars_files``, the inventory's ``group_vars`` and
``host_vars``, and the templates and files the playbook writes; by name (``*_password``,
``api_key``…) with a literal value, and by shape (cloud keys, tokens, private key blocks)
whatever the name. Templated values and ``!vault`` values are not secrets in plain text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chiffon.catalog.secret_names import placeholder, secret_name
from chiffon.playbooks.documents import Document, Items, Node, Vaulted, load_document
from chiffon.playbooks.edits import Edit, diff_of, insert_after, key_column, replace
from chiffon.playbooks.errors import UnreadableFile
from chiffon.playbooks.findings import Finding
from chiffon.playbooks.playbook import source_files
from chiffon.playbooks.rules.context import CATALOG_FILE, Context

RULE = "plaintext-secret"
PLACEHOLDER_RULE = "placeholder-secret"
PLACEHOLDER_WHY = (
    "A placeholder is not a secret, but whatever runs with it is open to anyone who guesses "
    "it (`changeme` is the first guess), and nothing says it was never set."
)
PLACEHOLDER_FIX = (
    "Set a real secret: declare it as a catalog variable with `secret: true` and no default, "
    "and give the value at run time, or keep it in an ansible-vault file."
)
_SHAPES = re.compile(
    r"AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|xox[abpr]-[A-Za-z0-9-]{10,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----|glpat-[A-Za-z0-9_-]{20}"
)
_ASSIGNMENT = re.compile(
    r"(?i)\b([\w.-]*(?:password|passwd|token|secret|api_?key)[\w.-]*)\s*[:=]\s*[\"']?([^\s\"'#]+)"
)

WHY = (
    "A secret in plain text is in every copy of the repository and its history, and Chiffon "
    "shows and stores a value it is not told is secret (plans, output, the journal)."
)
FIX = (
    "Declare it as a catalog variable with `secret: true` (Chiffon redacts it everywhere) and "
    "give its value at run time, or encrypt it with `ansible-vault encrypt_string`."
)


def _plain(value: Any) -> bool:
    if isinstance(value, Vaulted | bool) or value is None:
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and bool(value.strip()) and "{{" not in value


def check(context: Context) -> Iterator[Finding]:
    yield from _catalog_variables(context)
    book = context.book
    mappings: list[tuple[Document, Node]] = []
    for play in book.plays:
        if isinstance(play.get("vars"), Node):
            mappings.append((book.main, play["vars"]))
        for document in _vars_files(book.root, book.main.path, play):
            if isinstance(document.data, Node):
                mappings.append((document, document.data))
    for task in book.tasks:
        if isinstance(task.data.get("vars"), Node):
            mappings.append((task.document, task.data["vars"]))
        for key in (task.module, "args"):
            if isinstance(task.data.get(key), Node):
                mappings.append((task.document, task.data[key]))
    for document in book.role_vars:
        if isinstance(document.data, Node):
            mappings.append((document, document.data))
    for document, mapping in mappings:
        yield from _in_mapping(document, mapping, context.entry.id)
    written = {source for task in book.tasks for source in source_files(book, task)}
    for source in sorted(written):
        yield from _in_text(book.root, source, context.entry.id)


def check_shared(root: Path, inventory: Path) -> Iterator[Finding]:
    """Secrets in the files every entry shares: the inventory, group_vars, host_vars."""
    files = [inventory.relative_to(root).as_posix()]
    for folder in ("group_vars", "host_vars"):
        base = inventory.parent / folder
        if base.is_dir():
            files.extend(
                p.relative_to(root).as_posix()
                for p in sorted(base.rglob("*"))
                if p.is_file() and p.suffix in (".yml", ".yaml", "")
            )
    for relative in files:
        try:
            document = load_document(root, relative)
        except UnreadableFile:
            continue
        for mapping in _mappings_under(document.data):
            yield from _in_mapping(document, mapping, None)


def _mappings_under(value: Any) -> Iterator[Node]:
    if isinstance(value, Node):
        yield value
        for item in value.values():
            yield from _mappings_under(item)
    elif isinstance(value, Items):
        for item in value:
            yield from _mappings_under(item)


def _vars_files(root: Path, playbook: str, play: Node) -> Iterator[Document]:
    files = play.get("vars_files")
    for name in files if isinstance(files, list) else []:
        if isinstance(name, str) and "{{" not in name:
            relative = (Path(playbook).parent / name).as_posix()
            if (root / relative).is_file():
                try:
                    yield load_document(root, relative)
                except UnreadableFile:
                    continue


def _in_mapping(document: Document, mapping: Node, entry: str | None) -> Iterator[Finding]:
    for name, value in mapping.items():
        if not isinstance(name, str) or name not in mapping.key_line:
            continue
        line = mapping.key_line[name]
        if secret_name(name) and placeholder(value):
            yield _placeholder(document.path, line, name, str(value), entry)
            continue
        if secret_name(name) and _plain(value):
            what = f'"{name}" is set to a literal value'
        elif isinstance(value, str) and not isinstance(value, Vaulted) and _SHAPES.search(value):
            what = f'"{name}" holds what looks like a credential'
        else:
            continue
        yield Finding(
            rule=RULE,
            source="chiffon",
            path=document.path,
            line=line,
            message=f"{what} in plain text",
            why=WHY,
            fix=FIX,
            key=name,
            entry=entry,
            severity="error",
        )


def _in_text(root: Path, relative: str, entry: str) -> Iterator[Finding]:
    try:
        lines = (root / relative).read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return
    for number, text in enumerate(lines, start=1):
        shape = _SHAPES.search(text)
        assignment = _ASSIGNMENT.search(text)
        if shape is None and (assignment is None or "{{" in text or "{%" in text):
            continue
        name = assignment.group(1) if assignment else shape.group(0)[:12] if shape else ""
        if shape is None and assignment is not None and placeholder(assignment.group(2)):
            yield _placeholder(relative, number, name, assignment.group(2), entry)
            continue
        yield Finding(
            rule=RULE,
            source="chiffon",
            path=relative,
            line=number,
            message=f'"{name}" is written in plain text in a file the playbook deploys',
            why=WHY,
            fix="Template it from a catalog variable marked `secret: true` (and set `no_log: "
            "true` on the task), or encrypt the file with ansible-vault.",
            key=name,
            entry=entry,
            severity="error",
        )


def _placeholder(path: str, line: int, name: str, value: str, entry: str | None) -> Finding:
    return Finding(
        rule=PLACEHOLDER_RULE,
        source="chiffon",
        path=path,
        line=line,
        message=f'"{name}" is the placeholder {value!r}: set a real secret',
        why=PLACEHOLDER_WHY,
        fix=PLACEHOLDER_FIX,
        key=name,
        entry=entry,
        severity="warning",
    )


def _catalog_variables(context: Context) -> Iterator[Finding]:
    variables = context.variable_nodes
    if variables is None:
        return
    for name, declared in context.entry.variables.items():
        if declared.secret or not secret_name(name) or name not in variables.key_line:
            continue
        yield Finding(
            rule=RULE,
            source="chiffon",
            path=CATALOG_FILE,
            line=variables.key_line[name],
            message=f'catalog variable "{name}" looks like a secret but is not marked secret',
            why="Chiffon redacts only the variables marked `secret: true`: this one's value is "
            "shown in plans and output and stored in the journal as it is.",
            fix=f"Mark it: `secret: true` in the declaration of {name}.",
            key=name,
            entry=context.entry.id,
            diff=_mark_secret(context.index, variables, name),
            severity="error",
        )


def _mark_secret(index: Document, variables: Node, name: str) -> str | None:
    lines = index.lines
    declared = variables.get(name)
    line = variables.key_line[name]
    edit: Edit
    if not isinstance(declared, Node):
        column = key_column(lines[line - 1])
        edit = replace(line, " " * column + f"{name}: {{secret: true}}\n")
    elif "secret" in declared.key_line:
        at = declared.key_line["secret"]
        text = lines[at - 1]
        new = re.sub(r"(secret:\s*)\S+?(\s*[,}]|\s*$)", r"\1true\2", text, count=1)
        edit = replace(at, new)
    elif declared.line == declared.end and lines[declared.line - 1].rstrip().endswith("}"):
        text = lines[declared.line - 1].rstrip("\n")
        at = text.rstrip().rfind("}")
        edit = replace(declared.line, text[:at].rstrip() + ", secret: true" + text[at:] + "\n")
    elif declared.line > line:
        column = key_column(lines[declared.line - 1])
        edit = insert_after(declared.end, [" " * column + "secret: true\n"])
    else:
        return None
    return diff_of(index.path, lines, [edit])
