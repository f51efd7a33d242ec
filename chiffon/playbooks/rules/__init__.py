"""Chiffon's own rules for automation that must be re-runnable, pure Python over the YAML.

Each module holds one rule family and a ``check(context)`` yielding ``Finding``s:

- ``commands``  ``command-without-guard``
- ``secrets``   ``plaintext-secret``
- ``images``    ``image-unpinned``
- ``restarts``  ``restart-without-handler``
- ``hosts``     ``hardcoded-hosts``
- ``metadata``  ``catalog-metadata[…]``

``changed-on-rerun`` (observed non-idempotence) reads the runs' records, so it lives in
``chiffon.playbooks.idempotence``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from chiffon.catalog import Catalog
from chiffon.playbooks.documents import load_document
from chiffon.playbooks.errors import UnreadableFile
from chiffon.playbooks.findings import Finding
from chiffon.playbooks.playbook import Playbook, read_playbook
from chiffon.playbooks.rules import commands, hosts, images, metadata, restarts, secrets
from chiffon.playbooks.rules.context import CATALOG_FILE, Context

RULES: tuple[Callable[[Context], Iterable[Finding]], ...] = (
    commands.check,
    secrets.check,
    images.check,
    restarts.check,
    hosts.check,
    metadata.check,
)
RULE_IDS = (
    commands.RULE,
    secrets.RULE,
    images.RULE,
    restarts.RULE,
    hosts.RULE,
    "changed-on-rerun",
    f"{metadata.RULE}[…]",
)


def run_rules(
    catalog: Catalog,
    entry_ids: Sequence[str],
    *,
    pins: Mapping[str, str] | None = None,
    shared: bool = True,
) -> list[Finding]:
    """Chiffon's findings for the entries ``entry_ids`` of ``catalog`` (and, with ``shared``,
    for the files they all use: inventory, group_vars, host_vars), sorted by file and line.

    Raises ``UnreadableFile`` when ``catalog.yml`` or an entry's playbook cannot be read.
    """
    index = load_document(catalog.root, CATALOG_FILE)
    found: list[Finding] = []
    for entry_id in entry_ids:
        entry = catalog.entries[entry_id]
        context = Context(catalog, index, entry, read_playbook(catalog.root, entry.playbook),
                          pins or {})  # fmt: skip
        for rule in RULES:
            found.extend(rule(context))
    if shared:
        found.extend(secrets.check_shared(catalog.root, catalog.inventory.path))
    return sorted(_unique(found), key=lambda f: (f.path, f.line, f.rule, f.key))


def _unique(findings: Iterable[Finding]) -> Iterator[Finding]:
    seen: set[tuple[str, str | None, str, str]] = set()
    for finding in findings:
        mark = (finding.rule, finding.entry, finding.path, finding.key)
        if mark not in seen:
            seen.add(mark)
            yield finding


__all__ = ["RULES", "RULE_IDS", "Playbook", "UnreadableFile", "run_rules"]
