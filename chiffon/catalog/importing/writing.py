"""A draft written as ``catalog.yml`` text: a header saying where it came from and what to
review, then each entry with its review notes as comments above it. Variables are one flow
mapping per line, as a hand-written catalog has them. Scalars are written as JSON, which
YAML reads as they are (``"yes"`` stays a string)."""

from __future__ import annotations

import json
import re
from typing import Any

from chiffon.catalog.importing.drafting import Draft, DraftEntry
from chiffon.catalog.importing.reading import Repository

_ORDER = (
    "id", "playbook", "description", "tags", "services", "hosts", "run_tags", "flags",
    "variables", "risk",
)  # fmt: skip


def render(draft: Draft, repo: Repository) -> str:
    """The draft as the text of a ``catalog.yml`` for ``repo``'s root."""
    out = [
        f"# Drafted by `chiffon catalog import {repo.root}`: review every entry before use.",
        "# Paths are relative to that directory: save this as catalog.yml there (a new file;",
        "# the repository's own files are not changed). `chiffon catalog check` validates it;",
        "# docs/catalog.md describes every field.",
    ]
    if repo.requirements:
        parts = []
        if repo.collections:
            parts.append(f"collections {', '.join(repo.collections)}")
        if repo.galaxy_roles:
            parts.append(f"roles {', '.join(repo.galaxy_roles)}")
        out.append(f"# {repo.requirements} asks for {'; '.join(parts) or 'nothing'}: install")
        out.append(f"#   them first: ansible-galaxy install -r {repo.requirements}")
    if repo.vault_files:
        out.append(
            "# vault-encrypted (their variables are not read; runs need the vault password): "
            + ", ".join(repo.vault_files)
        )
    if draft.inventory is None:
        out.append("# no inventory found: set `inventory:` to the repository's inventory file")
    out.extend(f"# note: {note}" for note in draft.notes)
    out.append("version: 1")
    out.append(f"inventory: {_scalar(draft.inventory or 'inventory.yml')}")
    out.append("entries:")
    for entry in draft.entries:
        out.append("")
        out.extend(_entry(entry))
    return "\n".join(out) + "\n"


def _entry(entry: DraftEntry) -> list[str]:
    lines = [f"  # review: {note}" for note in entry.notes]
    first = True
    for key in _ORDER:
        if key not in entry.fields:
            continue
        value = entry.fields[key]
        lead = "  - " if first else "    "
        first = False
        if key == "variables":
            lines.append(f"{lead}variables:")
            for name, declared in value.items():
                lines.append(f"      {name}: {_flow(declared)}")
        else:
            lines.append(f"{lead}{key}: {_flow(value)}")
    return lines


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")
_RESERVED = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"})


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str) and _PLAIN.match(value) and value.lower() not in _RESERVED:
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
