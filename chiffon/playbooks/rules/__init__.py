"""Chiffon's own rules for automation that must be re-runnable, pure Python over the YAML.

Each module holds one rule family and a ``check(context)`` yielding ``Finding``s:

- ``commands``  ``command-without-guard``
- ``secrets``   ``plaintext-secret``
- ``images``    ``image-unpinned``
- ``restarts``  ``restart-without-handler``
- ``hosts``     ``hardcoded-hosts``
- ``metadata``  ``catalog-metadata[…]``
- ``collections`` ``collection-missing``
- ``secrets``   ``placeholder-secret`` too: a value that stands in for a secret

``changed-on-rerun`` (observed non-idempotence) reads the runs' records, so it lives in
``chiffon.playbooks.idempotence``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from chiffon.catalog import Catalog
from chiffon.playbooks.documents import load_document
from chiffon.playbooks.errors import UnreadableFile
from chiffon.playbooks.findings import Finding
from chiffon.playbooks.playbook import Playbook
from chiffon.playbooks.rules import (
    collections,
    commands,
    hosts,
    images,
    metadata,
    restarts,
    secrets,
)
from chiffon.playbooks.rules.context import CATALOG_FILE, Context
from chiffon.playbooks.scope import Scope, attributed

RULES: tuple[Callable[[Context], Iterable[Finding]], ...] = (
    commands.check,
    secrets.check,
    images.check,
    restarts.check,
    hosts.check,
    metadata.check,
    collections.check,
)
RULE_IDS = (
    commands.RULE,
    secrets.RULE,
    images.RULE,
    restarts.RULE,
    hosts.RULE,
    collections.RULE,
    secrets.PLACEHOLDER_RULE,
    "changed-on-rerun",
    f"{metadata.RULE}[…]",
)


def run_rules(
    catalog: Catalog,
    entry_ids: Sequence[str],
    *,
    pins: Mapping[str, str] | None = None,
    shared: bool = True,
    scope: Scope | None = None,
) -> list[Finding]:
    """Chiffon's findings for the entries ``entry_ids`` of ``catalog`` (and, with ``shared``,
    for the files they all use: inventory, group_vars, host_vars), sorted by file and line.
    A finding in a file several entries read is reported once, for the file (``entry``
    ``None``); ``scope`` is what the check has read already.

    Raises ``UnreadableFile`` when ``catalog.yml`` or an entry's playbook cannot be read.
    """
    scope = scope or Scope(catalog)
    index = load_document(catalog.root, CATALOG_FILE)
    found: list[Finding] = []
    for entry_id in entry_ids:
        entry = catalog.entries[entry_id]
        context = Context(catalog, index, entry, scope.book(entry_id), pins or {})
        for rule in RULES:
            found.extend(rule(context))
    if shared:
        found.extend(secrets.check_shared(catalog.root, catalog.inventory.path))
    found = attributed(scope, found)
    return sorted(found, key=lambda f: (f.path, f.line, f.rule, f.key))


__all__ = ["RULES", "RULE_IDS", "Playbook", "UnreadableFile", "run_rules"]
