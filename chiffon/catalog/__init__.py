"""The playbook catalog: its entries, inventory and variables (``entries``), the vocabulary
a request is matched against (``matching``) and its error. A neutral package: planning,
the playbook checks and generation, the agents and the orchestrator all read the catalog,
and it imports none of them."""

from chiffon.catalog.entries import (
    Catalog,
    CatalogEntry,
    Inventory,
    Removal,
    Resources,
    Risk,
    Variable,
    VariableType,
    load_catalog,
)
from chiffon.catalog.errors import CatalogError

__all__ = [
    "Catalog",
    "CatalogEntry",
    "CatalogError",
    "Inventory",
    "Removal",
    "Resources",
    "Risk",
    "Variable",
    "VariableType",
    "load_catalog",
]
