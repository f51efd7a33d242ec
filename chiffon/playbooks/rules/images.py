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
    derived: bool = False  # put together from variables: no mechanical fix


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
    # A variable written before a tag (`{{ x_image }}:{{ x_tag }}`) holds a name, not a
    # whole reference: untagged is what it should be.
    names = _name_parts(context)
    for document, mapping in _vars_mappings(context):
        for name, value in mapping.items():
            if name in names:
                continue
            if document is context.index and isinstance(name, str):
                own = _repository_value(context, None, name)
                if own is not None and own[2] == value:
                    continue  # a copy of the repository's value: reported where that is set
            if isinstance(name, str) and _IMAGE_NAME.search(name) and isinstance(value, str):
                yield from _resolved(context, document, mapping.key_line[name], value, None)


_NAME_PART = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}\s*:")


def _name_parts(context: Context) -> set[str]:
    found: set[str] = set()
    book = context.book
    texts: list[str] = []
    for task in book.tasks:
        texts.extend(v for v in task.args.values() if isinstance(v, str))
        for source in source_files(book, task):
            try:
                texts.append((book.root / source).read_text())
            except (OSError, UnicodeDecodeError):
                continue
    for document in book.role_vars:
        if isinstance(document.data, Node):
            texts.extend(v for v in document.data.values() if isinstance(v, str))
    for text in texts:
        found.update(_NAME_PART.findall(text))
    return found


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
    depth: int = 0,
) -> Iterator[_Site]:
    """The site of ``value``, or of the variables it is made of, where they are set: one
    variable (``{{ kuma_image }}``) is reported where it is set; a name and a tag
    (``{{ x_image_name }}:{{ x_image_version }}``, or a literal and a variable) where the
    part that leaves it unpinned is set."""
    match = _ONE_VARIABLE.match(value)
    if match is not None:
        found = _lookup(context, task, match.group(1))
        if found is not None and "{{" in found[2] and depth < 3:
            yield from _resolved(context, found[0], found[1], found[2], task, depth=depth + 1)
        elif found is not None:
            yield _Site(*found, template=False)
        return
    if "{{" not in value:
        yield _Site(document, line, value.strip().strip("\"'"), template)
        return
    written = value.strip().strip("\"'")
    pieces: list[tuple[str, _Site | None]] = []
    at = 0
    for variable in _VARIABLE.finditer(written):
        pieces.append((written[at : variable.start()], None))
        found = _lookup(context, task, variable.group(1))
        if found is None or "{{" in found[2]:
            return  # a variable set somewhere Chiffon does not follow: not guessed
        pieces.append((found[2].strip(), _Site(*found, template=False)))
        at = variable.end()
    pieces.append((written[at:], None))
    if any("{" in text for text, site in pieces if site is None):
        return  # an expression, not variables put together
    reference = "".join(text for text, _ in pieces)
    if repository(reference) is None:
        return
    # Reported where the tag is (or should be) written: the last variable's site.
    owner = next((site for _, site in reversed(pieces) if site is not None), None)
    if owner is not None:
        yield _Site(owner.document, owner.line, reference, False, derived=True)


_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*(?:\|\s*(?:string|trim)\s*)?\}\}")


def _lookup(context: Context, task: Task | None, name: str) -> tuple[Document, int, str] | None:
    """Where ``name`` is set to a string, as Ansible would find it for this task: the
    catalog entry's default, the task's and the play's vars, the roles' vars and defaults."""
    variables = context.variable_nodes
    declared = variables.get(name) if variables is not None else None
    own = _repository_value(context, task, name)
    if isinstance(declared, Node) and isinstance(declared.get("default"), str):
        if own is not None and own[2] == declared["default"]:
            return own  # the catalog copies the repository's value: fixed there
        return context.index, declared.key_line["default"], declared["default"]
    return own


def _repository_value(
    context: Context, task: Task | None, name: str
) -> tuple[Document, int, str] | None:
    scopes: list[tuple[Document, object]] = []
    if task is not None:
        scopes.append((task.document, task.data.get("vars")))
        for block in reversed(task.blocks):
            scopes.append((task.document, block.get("vars")))
        scopes.append((context.book.main, task.play.get("vars")))
    scopes.extend((d, d.data) for d in context.book.role_vars if "/vars/" in d.path)
    scopes.extend((d, d.data) for d in context.book.role_vars if "/defaults/" in d.path)
    for owner, scope in scopes:
        if isinstance(scope, Node) and isinstance(scope.get(name), str):
            return owner, scope.key_line[name], scope[name]
    return None


def _fix(context: Context, site: _Site, repo: str) -> tuple[str, str | None]:
    if site.derived:
        return (
            f"Set a tested tag of {repo} here (this variable makes the image's tag), or a digest.",
            None,
        )
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
