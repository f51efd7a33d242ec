"""What every rule is given: the catalog, its ``catalog.yml`` with line marks, one entry and
its playbook read, and the image tags the user asked to pin."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from chiffon.catalog import Catalog, CatalogEntry
from chiffon.playbooks.documents import Document, Node
from chiffon.playbooks.playbook import Playbook

CATALOG_FILE = "catalog.yml"


@dataclass(frozen=True, slots=True)
class Context:
    """One catalog entry under review."""

    catalog: Catalog
    index: Document
    entry: CatalogEntry
    book: Playbook
    pins: Mapping[str, str] = field(default_factory=dict)

    @property
    def entry_node(self) -> Node | None:
        """The entry's mapping in ``catalog.yml``."""
        entries = self.index.data.get("entries") if isinstance(self.index.data, dict) else None
        for node in entries if isinstance(entries, list) else []:
            if isinstance(node, Node) and node.get("id") == self.entry.id:
                return node
        return None

    @property
    def variable_nodes(self) -> Node | None:
        node = self.entry_node
        variables = node.get("variables") if node is not None else None
        return variables if isinstance(variables, Node) else None
