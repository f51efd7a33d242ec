"""What one check reads: every ansible entry's playbook as its ``run_tags`` run it (the
documents read once, shared), and which entries use each file.

A finding in a file that one entry uses belongs to that entry; one in a file several
entries use (a site playbook, a role that is a dependency of others) belongs to the file:
it is stored once, with no entry, and a run's review shows it when the run used the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from chiffon.catalog import Catalog
from chiffon.playbooks.documents import Document
from chiffon.playbooks.findings import Finding
from chiffon.playbooks.playbook import Playbook, read_playbook, source_files


@dataclass(slots=True)
class Scope:
    """The playbooks of a catalog's ansible entries, read lazily, and their files' users."""

    catalog: Catalog
    cache: dict[str, Document] = field(default_factory=dict)
    folders: dict[str, str | None] = field(default_factory=dict)
    _books: dict[str, Playbook] = field(default_factory=dict)
    _users: dict[str, set[str]] | None = None

    def book(self, entry_id: str) -> Playbook:
        """The entry's playbook as ``ansible-playbook --tags RUN_TAGS`` runs it. Raises
        ``UnreadableFile``."""
        book = self._books.get(entry_id)
        if book is None:
            entry = self.catalog.entries[entry_id]
            book = read_playbook(
                self.catalog.root,
                entry.playbook,
                tags=entry.run_tags,
                cache=self.cache,
                folders=self.folders,
            )
            self._books[entry_id] = book
        return book

    def files(self, entry_id: str) -> set[str]:
        """The files (relative to the catalog root) the entry's playbook reads."""
        book = self.book(entry_id)
        found = {d.path for d in book.documents} | {d.path for d in book.role_vars}
        for task in book.tasks:
            found.update(source_files(book, task))
        return found

    @property
    def users(self) -> dict[str, set[str]]:
        """File -> the ansible entries whose playbooks read it (an unreadable playbook reads
        nothing)."""
        if self._users is None:
            users: dict[str, set[str]] = {}
            for entry_id, entry in self.catalog.entries.items():
                if entry.executor != "ansible":
                    continue
                try:
                    files = self.files(entry_id)
                except Exception:
                    continue  # the rules report an unreadable playbook
                for path in files:
                    users.setdefault(path, set()).add(entry_id)
            self._users = users
        return self._users

    def owner(self, path: str, fallback: str | None) -> str | None:
        """The entry a finding in ``path`` belongs to: its one user, else none (the file's);
        ``fallback`` for a file no playbook reads (``catalog.yml``)."""
        users = self.users.get(path)
        if not users:
            return fallback
        return next(iter(users)) if len(users) == 1 else None

    def paths_of(self, entry_ids: Sequence[str]) -> set[str]:
        """Every file the entries' playbooks read."""
        found: set[str] = set()
        for entry_id in entry_ids:
            found |= self.files(entry_id)
        return found


def attributed(scope: Scope, findings: Iterable[Finding]) -> list[Finding]:
    """``findings`` with each one in a shared file moved to the file (``entry=None``) once.
    One in a file no playbook reads (``catalog.yml``: what it says is about the entry's
    declaration) stays with its entry."""
    from dataclasses import replace

    found: list[Finding] = []
    seen: set[tuple[str, str | None, str, str]] = set()
    for finding in findings:
        if finding.entry is not None:
            finding = replace(finding, entry=scope.owner(finding.path, finding.entry))
        mark = (finding.rule, finding.entry, finding.path, finding.key)
        if mark not in seen:
            seen.add(mark)
            found.append(finding)
    return found
