"""``image-unpinned``: a container image on ``latest`` or with no tag at all.

Images are looked for where a homelab's playbooks name them: container modules' ``image``
(``docker_image``'s ``name`` and ``tag``), variables named ``*image`` (the catalog entry's,
the play's, a role's defaults), and ``image:`` lines of the compose files the playbook
templates or copies. A value that is one variable (``{{ kuma_image | to_json }}``) is
followed to where that variable is set, and reported there.

The fix pins a tag: the one given with ``--pin IMAGE=TAG``, or the catalog variable that
already declares a pinned tag of the same image (the literal is replaced by it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from chiffon.playbooks.documents import Document, Node
from chiffon.playbooks.edits import diff_of, replace
from chiffon.playbooks.findings import Finding
from chiffon.playbooks.playbook import Task, source_files
from chiffon.playbooks.rules.context import CATALOG_FILE, Context

RULE = "image-unpinned"
_IMAGE = re.compile(r"^(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[\w.-]+)?$")
_ONE_VARIABLE = re.compile(r"^\s*\{\{\s*([A-Za-z_]\w*)\s*(?:\|[^}]*)?\}\}\s*$")
_IMAGE_NAME = re.compile(r"(?:^|_)image$")
_IMAGE_LINE = re.compile(r"^(\s*-?\s*image:\s*)(.+?)\s*$")
_CONTAINER_MODULES = frozenset(
    {"docker_container", "podman_container", "docker_swarm_service", "docker_compose_v2"}
)
_IMAGE_MODULES = frozenset({"docker_image", "docker_image_pull", "podman_image"})

WHY = (
    "An image on `latest` (or untagged, which means latest) changes under you: two runs of the "
    "same playbook deploy different software, and a rollback has nothing to go back to."
)


@dataclass(frozen=True, slots=True)
class _Site:
    """Where an image reference is written, and how to write a replacement there."""

    document: Document
    line: int
    reference: str
    template: bool  # in a Jinja template (no YAML quoting around a replacement)


def repository(reference: str) -> str | None:
    """The repository of an unpinned image reference (``nginx`` for ``nginx:latest``), or
    ``None`` when it is pinned to a tag or a digest, or is not an image reference."""
    reference = reference.strip().strip("\"'")
    if "@" in reference or not _IMAGE.match(reference):
        return None
    name, _, tag = reference.rpartition(":")
    if name and "/" not in tag:
        return name if tag == "latest" else None
    return reference


def check(context: Context) -> Iterator[Finding]:
    seen: set[tuple[str, int]] = set()
    for site in _sites(context):
        repo = repository(site.reference)
        if repo is None or (site.document.path, site.line) in seen:
            continue
        seen.add((site.document.path, site.line))
        tag = site.reference.strip().strip("\"'").rpartition(":")[2]
        what = "on latest" if tag == "latest" and ":" in site.reference else "untagged"
        fix, diff = _fix(context, site, repo)
        yield Finding(
            rule=RULE,
            source="chiffon",
            path=site.document.path,
            line=site.line,
            message=f"image {site.reference.strip()} is {what}",
            why=WHY,
            fix=fix,
            key=repo,
            entry=context.entry.id,
            diff=diff,
        )


def _sites(context: Context) -> Iterator[_Site]:
    book = context.book
    for task in book.tasks:
        yield from _task_sites(context, task)
        for source in source_files(book, task):
            yield from _compose_sites(context, task, source)
    for document, mapping in _vars_mappings(context):
        for name, value in mapping.items():
            if isinstance(name, str) and _IMAGE_NAME.search(name) and isinstance(value, str):
                yield from _resolved(context, document, mapping.key_line[name], value, None)


def _vars_mappings(context: Context) -> Iterator[tuple[Document, Node]]:
    book = context.book
    for play in book.plays:
        if isinstance(play.get("vars"), Node):
            yield book.main, play["vars"]
    for task in book.tasks:
        if isinstance(task.data.get("vars"), Node):
            yield task.document, task.data["vars"]
    for document in book.role_vars:
        if isinstance(document.data, Node):
            yield document, document.data
    variables = context.variable_nodes
    if variables is not None:
        for name, declared in variables.items():
            if isinstance(declared, Node) and isinstance(declared.get("default"), str):
                mapping = Node()
                mapping[name] = declared["default"]
                mapping.key_line[name] = declared.key_line["default"]
                yield context.index, mapping


def _task_sites(context: Context, task: Task) -> Iterator[_Site]:
    args = task.args
    if task.short in _CONTAINER_MODULES and isinstance(args.get("image"), str):
        yield from _resolved(context, task.document, _arg_line(task, "image"), args["image"], task)
    elif task.short in _IMAGE_MODULES and isinstance(args.get("name"), str):
        if args.get("source") == "build":
            return
        name = args["name"]
        tag = args.get("tag")
        reference = f"{name}:{tag}" if isinstance(tag, str) and ":" not in name else name
        if tag is None or tag == "latest":
            yield from _resolved(context, task.document, _arg_line(task, "name"), reference, task)


def _arg_line(task: Task, name: str) -> int:
    value = task.data.get(task.module)
    if isinstance(value, Node) and name in value.key_line:
        return value.key_line[name]
    args = task.data.get("args")
    if isinstance(args, Node) and name in args.key_line:
        return args.key_line[name]
    return task.data.line


def _compose_sites(context: Context, task: Task, source: str) -> Iterator[_Site]:
    try:
        lines = (context.book.root / source).read_text().splitlines(keepends=True)
    except (OSError, UnicodeDecodeError):
        return
    document = Document(path=source, lines=tuple(lines), data=None)
    for number, text in enumerate(lines, start=1):
        match = _IMAGE_LINE.match(text)
        if match:
            yield from _resolved(context, document, number, match.group(2), task, template=True)


def _resolved(
    context: Context,
    document: Document,
    line: int,
    value: str,
    task: Task | None,
    *,
    template: bool = False,
) -> Iterator[_Site]:
    """The site of ``value``, or of the variable it names, where that variable is set."""
    match = _ONE_VARIABLE.match(value)
    if match is None:
        if "{{" not in value:
            yield _Site(document, line, value.strip().strip("\"'"), template)
        return
    name = match.group(1)
    variables = context.variable_nodes
    declared = variables.get(name) if variables is not None else None
    if isinstance(declared, Node) and isinstance(declared.get("default"), str):
        yield _Site(context.index, declared.key_line["default"], declared["default"], False)
        return
    if task is None:
        return
    for owner, scope in (
        (task.document, task.data.get("vars")),
        (context.book.main, task.play.get("vars")),
    ):
        if isinstance(scope, Node) and isinstance(scope.get(name), str):
            yield _Site(owner, scope.key_line[name], scope[name], False)
            return


def _fix(context: Context, site: _Site, repo: str) -> tuple[str, str | None]:
    pin = context.pins.get(repo)
    if pin is not None:
        return (
            f"Pin the tag you chose: {repo}:{pin}.",
            _replace(site, f"{repo}:{pin}"),
        )
    if site.document.path != CATALOG_FILE:
        for name, declared in context.entry.variables.items():
            default = declared.default
            if (
                isinstance(default, str)
                and repository(default) is None
                and (default.rpartition(":")[0] == repo)
            ):
                written = f"{{{{ {name} }}}}"
                return (
                    f"Use the catalog variable `{name}`, which pins {default}.",
                    _replace(site, written if site.template else f'"{written}"'),
                )
    return (
        f"Pin a tag (or a digest) of {repo} you have tested: "
        f"`chiffon playbooks check --pin {repo}=TAG` writes the change.",
        None,
    )


def _replace(site: _Site, new: str) -> str | None:
    text = site.document.lines[site.line - 1]
    reference = site.reference
    for quoted in (f'"{reference}"', f"'{reference}'"):
        if quoted in text:
            if new.startswith('"'):
                return diff_of(site.document.path, site.document.lines, [
                    replace(site.line, text.replace(quoted, new, 1))
                ])  # fmt: skip
            reference = quoted[1:-1]
            break
    if reference not in text:
        return None
    edit = replace(site.line, text.replace(reference, new, 1))
    return diff_of(site.document.path, site.document.lines, [edit])
