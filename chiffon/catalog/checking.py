"""``chiffon catalog check``: every problem of a ``catalog.yml``, each naming its file and
line, where ``load_catalog`` stops at the first.

Lines come from the YAML loader's marks (the node of the value a problem is about, or of its
key when the key itself is wrong). The checks are the loader's own (the entry model, ids,
playbooks, references, the inventory's hosts) and what the loader takes on trust: a
variable's default of another type than declared, outside its ``choices`` or not matching
its ``pattern``, and keys the format does not have.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from chiffon.catalog.entries import CatalogEntry, Variable, outside_of, read_inventory
from chiffon.catalog.errors import CatalogError

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
TOP_LEVEL = ("version", "inventory", "entries")
"""The keys a ``catalog.yml`` may have."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem: the file, its 1-based line, and what is wrong in one sentence."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def line_at(node: yaml.Node, loc: Sequence[Any]) -> int:
    """The 1-based line of the value at ``loc`` under ``node`` (of the key, when the last
    part of ``loc`` names a key); as deep as ``loc`` can be followed."""
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line if not isinstance(node, yaml.ScalarNode) else node.start_mark.line + 1


def catalog_file(path: Path) -> Path:
    """The ``catalog.yml`` that ``path`` (a catalog directory or the file) names."""
    return path / "catalog.yml" if path.is_dir() else path


def check_catalog_file(path: Path | str) -> tuple[list[Problem], int]:
    """The problems of the catalog at ``path`` (a directory or its ``catalog.yml``) and how
    many entries it has. Raises ``CatalogError`` when there is no such file."""
    index = catalog_file(Path(path)).resolve()
    shown = str(index)
    try:
        text = index.read_text()
    except FileNotFoundError:
        raise CatalogError(f"{index} does not exist: no catalog to check") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{index} cannot be read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        return [Problem(shown, mark.line + 1 if mark else 1, f"not valid YAML: {problem}")], 0
    if node is None or not isinstance(data, dict):
        return [Problem(shown, 1, "expected a mapping with an `entries` list")], 0
    problems: list[Problem] = []

    def report(loc: Sequence[Any], message: str) -> None:
        problems.append(Problem(shown, line_at(node, loc), message))

    for key in data:
        if key not in TOP_LEVEL:
            report((key,), f"unknown key {key!r} (a catalog has {', '.join(TOP_LEVEL)})")
    if data.get("version", 1) != 1:
        report(("version",), f"version {data['version']!r} is not 1, the one format there is")
    raw_entries = data.get("entries")
    if not isinstance(raw_entries, list):
        report(("entries",) if "entries" in data else (), "expected an `entries` list")
        raw_entries = []
    root = index.parent
    inventory = None
    try:
        inventory = read_inventory(root / str(data.get("inventory", "inventory.yml")), index)
    except CatalogError as exc:
        report(("inventory",) if "inventory" in data else (), str(exc).removeprefix(f"{index}: "))
    entries: dict[str, tuple[int, CatalogEntry]] = {}
    for n, raw in enumerate(raw_entries):
        where = f"entry {n + 1}"
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            where = f"entry {raw['id']!r}"
        try:
            entry = CatalogEntry.model_validate(raw)
        except ValidationError as exc:
            for error in exc.errors():
                field = ".".join(str(p) for p in error["loc"])
                message = error["msg"].removeprefix("Value error, ")
                report(("entries", n, *error["loc"]), f"{where}: {field or 'entry'}: {message}")
            continue
        if entry.id in entries:
            first = line_at(node, ("entries", entries[entry.id][0], "id"))
            report(("entries", n, "id"), f"{where}: id appears twice (first on line {first})")
            continue
        entries[entry.id] = (n, entry)
        if not (root / entry.playbook).is_file():
            report(("entries", n, "playbook"), f"{where}: playbook {entry.playbook} is missing")
        elif (outside := outside_of(root.resolve(), entry.playbook)) is not None:
            report(
                ("entries", n, "playbook"),
                f"{where}: playbook {entry.playbook} is outside the catalog ({outside})",
            )
        if entry.removes is not None:
            report(("entries", n, "removes"), f"{where}: removes is set by the catalog, not "
                   "written: give the removed entry a `removal:` instead")  # fmt: skip
        if entry.removal is not None:
            removal = entry.removal.playbook
            if not (root / removal).is_file():
                report(("entries", n, "removal", "playbook"),
                       f"{where}: removal playbook {removal} is missing")  # fmt: skip
            elif (outside := outside_of(root.resolve(), removal)) is not None:
                report(("entries", n, "removal", "playbook"),
                       f"{where}: removal playbook {removal} is outside the catalog "
                       f"({outside})")  # fmt: skip
            for name, variable in entry.removal.variables.items():
                wrong = default_problem(variable)
                if wrong:
                    report(("entries", n, "removal", "variables", name, "default"),
                           f"{where}: removal: {name}: {wrong}")  # fmt: skip
        if inventory is not None and not inventory.resolve(entry.hosts):
            report(
                ("entries", n, "hosts"),
                f"{where}: hosts {entry.hosts!r} is no group or host of {inventory.path.name}",
            )
        for name, variable in entry.variables.items():
            wrong = default_problem(variable)
            if wrong:
                report(("entries", n, "variables", name, "default"), f"{where}: {name}: {wrong}")
    for entry_id, (n, entry) in entries.items():
        for field in ("after", "needs"):
            for i, other in enumerate(getattr(entry, field)):
                if other not in entries:
                    report(
                        ("entries", n, field, i),
                        f"entry {entry_id!r}: {field} names {other!r}, which the catalog lacks",
                    )
    return sorted(problems, key=lambda p: p.line), len(entries)


_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "list": (list, tuple),
    "duration": (str,), "size": (str,),
}  # fmt: skip


def default_problem(variable: Variable) -> str | None:
    """Why a variable's default does not fit its declaration, or ``None``."""
    value = variable.default
    if value is None:
        return None
    if not isinstance(value, _TYPES[variable.type]) or (
        variable.type in ("int", "float") and isinstance(value, bool)
    ):
        return f"default {value!r} is not of its type {variable.type}"
    if variable.type in ("duration", "size"):
        from chiffon.catalog.units import UnitError, duration, size

        try:
            (duration if variable.type == "duration" else size)(value)
        except UnitError as exc:
            return f"default {exc}"
    if variable.choices is not None and value not in variable.choices:
        return f"default {value!r} is not one of its choices {list(variable.choices)}"
    if variable.pattern is not None and isinstance(value, str):
        try:
            if re.fullmatch(variable.pattern, value) is None:
                return f"default {value!r} does not match its pattern {variable.pattern!r}"
        except re.error as exc:
            return f"pattern {variable.pattern!r} is not a regular expression: {exc}"
    return None
