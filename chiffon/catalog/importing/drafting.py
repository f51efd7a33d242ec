"""Catalog entries drafted from a repository read (``reading.Repository``), for a person to
review: one per role a playbook runs selectably (by a tag or a ``*_enabled`` flag), one per
playbook for the whole of it.

An entry of a role of a site playbook names the site playbook itself with the role's
``run_tags`` and ``flags``: nothing is copied or wrapped, so the repository stays the one
source of what runs. A role the playbook cannot run alone (no tag, no flag) is in the
playbook's entry only, and said so.

Variables come from the role's ``defaults/``: typed by their value, described by the comment
above them. A variable the inventory sets too (``group_vars``/``host_vars``) gets no catalog
default, so the repository's own value stays the one that applies; a secret gets none either
(it is never copied into the catalog) and is marked ``secret: true``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from chiffon.catalog.importing.reading import Repository, Role, RoleUse, Vaulted
from chiffon.catalog.secret_names import placeholder, secret_name

_ID_CHARS = re.compile(r"[^a-z0-9-]+")
_WORDS = re.compile(r"[a-z][a-z0-9]*")
_TEMPLATED_SECRET = re.compile(r"\{\{\s*(?:vault_\w+|lookup\()")
_DEFAULT_HOSTS = re.compile(r"default\(\s*['\"]([^'\"]+)['\"]")
_GENERIC = frozenset({"ansible", "role", "roles", "install", "setup", "config", "common"})


@dataclass(slots=True)
class DraftEntry:
    """One drafted entry: the catalog fields, and review notes written above it."""

    fields: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.fields["id"])


@dataclass(slots=True)
class Draft:
    """A drafted catalog: its entries, the inventory it names, and notes for its header."""

    entries: list[DraftEntry]
    inventory: str | None
    notes: list[str]


def entry_id(text: str) -> str:
    """A catalog id for a role or playbook name: lower case, ``-`` for anything else."""
    value = _ID_CHARS.sub("-", text.lower().replace("_", "-")).strip("-")
    return (value or "entry")[:63].rstrip("-") or "entry"


def draft_catalog(repo: Repository, groups: dict[str, tuple[str, ...]] | None) -> Draft:
    """The draft for ``repo``; ``groups`` are the inventory's (group -> hosts), used to
    check each play's ``hosts`` (``None``: the inventory could not be read)."""
    notes = list(repo.notes)
    entries: list[DraftEntry] = []
    taken: set[str] = set()
    drafted_roles: set[str] = set()
    uses_by_playbook: dict[str, list[RoleUse]] = {}
    for use in repo.uses:
        uses_by_playbook.setdefault(use.playbook, []).append(use)
    for path, book in repo.playbooks.items():
        uses = uses_by_playbook.get(path, [])
        alone = len({u.role for u in uses}) == 1 and not book.imports
        before = len(entries)
        for use in uses:
            role = repo.roles.get(use.role)
            if role is None:
                origin = "requirements.yml" if _from_galaxy(repo, use.role) else "nowhere here"
                notes.append(f"role {use.role} ({path}) comes from {origin}: not drafted")
                continue
            if use.role in drafted_roles:
                continue
            if not (use.tags or use.flags) and not alone:
                notes.append(
                    f"role {use.role} of {path} has no tag and no *_enabled flag: it runs only "
                    "with the whole playbook"
                )
                continue
            drafted_roles.add(use.role)
            entries.append(_role_entry(repo, role, use, groups, taken))
        if not alone or len(entries) == before:
            entries.append(_playbook_entry(repo, path, uses, groups, taken))
    unused = sorted(set(repo.roles) - {u.role for u in repo.uses})
    for name in unused:
        notes.append(f"role {name} is run by no playbook: not drafted")
    return Draft(entries, repo.inventory, notes)


def _from_galaxy(repo: Repository, role: str) -> bool:
    return "." in role or role in repo.galaxy_roles


def _unique(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        suffix = f"-{n}"
        candidate, n = base[: 63 - len(suffix)] + suffix, n + 1
    taken.add(candidate)
    return candidate


def _hosts(target: str | None, groups: dict[str, tuple[str, ...]] | None) -> tuple[str, str]:
    """The entry's ``hosts`` and a note when the play's could not be used as it is."""
    if target and "{{" in target:
        found = _DEFAULT_HOSTS.search(target)
        target = found.group(1) if found else target
    if target and groups is not None:
        known = set(groups) | {h for members in groups.values() for h in members}
        if target in known:
            return target, ""
        return "all", f"the play targets {target!r}, which is not one inventory group or host"
    if target and groups is None:
        return target, ""
    return "all", "the play's hosts could not be read"


def _role_entry(
    repo: Repository,
    role: Role,
    use: RoleUse,
    groups: dict[str, tuple[str, ...]] | None,
    taken: set[str],
) -> DraftEntry:
    entry_key = _unique(entry_id(role.name), taken)
    hosts, hosts_note = _hosts(use.hosts, groups)
    description = role.description or f"The {role.name} role of {use.playbook}."
    fields: dict[str, Any] = {
        "id": entry_key,
        "playbook": use.playbook,
        "description": description,
        "tags": list(_tag_words(role)),
        "services": [entry_id(role.name)],
        "hosts": hosts,
    }
    if use.tags:
        fields["run_tags"] = list(use.tags)
    if use.flags:
        fields["flags"] = dict.fromkeys(use.flags, True)
    variables, skipped = _variables(repo, role, set(use.flags))
    if variables:
        fields["variables"] = variables
    draft = DraftEntry(fields)
    if not role.description:
        draft.notes.append("no README or meta description: describe what it deploys")
    if hosts_note:
        draft.notes.append(hosts_note)
    if not use.tags:
        draft.notes.append(
            f"runs {use.playbook} with its flags only: any other role of it that is enabled "
            "runs too"
        )
    if skipped:
        draft.notes.append("not declared (mappings, which plans cannot set): " + ", ".join(skipped))
    if role.dependencies:
        draft.notes.append("meta dependencies run with it: " + ", ".join(role.dependencies))
    return draft


def _playbook_entry(
    repo: Repository,
    path: str,
    uses: list[RoleUse],
    groups: dict[str, tuple[str, ...]] | None,
    taken: set[str],
) -> DraftEntry:
    book = repo.playbooks[path]
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    roles = list(dict.fromkeys(u.role for u in uses))
    targets = [h for h in book.hosts if h]
    hosts, hosts_note = _hosts(targets[0] if len(set(targets)) == 1 else "all", groups)
    if len(set(targets)) > 1:
        hosts, hosts_note = "all", "its plays target " + ", ".join(dict.fromkeys(targets))
    names = [n for n in book.names if n]
    description = book.comment or (names[0] if len(names) == 1 else "")
    if not description:
        shown = ", ".join(roles[:8]) + (f" and {len(roles) - 8} more" if len(roles) > 8 else "")
        description = f"Everything {path} does" + (f": the roles {shown}." if roles else ".")
    fields: dict[str, Any] = {
        "id": _unique(entry_id(stem), taken),
        "playbook": path,
        "description": description,
        "tags": list(dict.fromkeys(_WORDS.findall(stem.lower()))) or [entry_id(stem)],
        "services": [entry_id(r) for r in roles] or [entry_id(stem)],
        "hosts": hosts,
        "risk": "high" if len(roles) > 1 else "medium",
    }
    draft = DraftEntry(fields, ["the whole playbook: every role and play in it"])
    if hosts_note:
        draft.notes.append(hosts_note)
    return draft


def _tag_words(role: Role) -> list[str]:
    words = [w for w in _WORDS.findall(role.name.lower()) if w not in _GENERIC]
    name = entry_id(role.name)
    return list(dict.fromkeys([name, *words, *role.galaxy_tags]))


def _variables(
    repo: Repository, role: Role, flags: set[str]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    variables: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    for name, value in role.defaults.items():
        if name in flags or name.startswith("_") or not re.match(r"^[A-Za-z_]\w*$", name):
            continue
        kind = _kind(value)
        if kind is None:
            skipped.append(name)
            continue
        declared: dict[str, Any] = {"type": kind}
        secret = secret_name(name) or isinstance(value, Vaulted)
        secret = secret or (isinstance(value, str) and bool(_TEMPLATED_SECRET.search(value)))
        where = repo.inventory_vars.get(name)
        if secret:
            declared["secret"] = True
        elif where is None and value is not None:
            declared["default"] = value
        description = role.comments.get(name) or f"From {role.defaults_file}."
        if where is not None:
            description += f" The repository sets it in {where} (its value applies)."
        elif secret and placeholder(value):
            description += " Its default is a placeholder: set a real secret."
        declared["description"] = description
        variables[name] = declared
    return variables, skipped


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str) or value is None:
        return "str"
    return None
