"""The playbook catalog: its entries and variables (``entries``), the Ansible inventory read
without Ansible (``inventory``), the vocabulary a request is matched against (``matching``)
and its errors. A neutral package: planning, the playbook checks and generation, the agents
and the orchestrator all read the catalog, and it imports none of them."""

from chiffon.catalog.entries import (
    Catalog,
    CatalogEntry,
    Removal,
    Resources,
    Risk,
    Variable,
    VariableType,
    load_catalog,
)
from chiffon.catalog.errors import CatalogError
from chiffon.catalog.inventory import (
    Inventory,
    InventoryError,
    SourcedValue,
    Vaulted,
    load_inventory,
)

__all__ = [
    "Catalog",
    "CatalogEntry",
    "CatalogError",
    "Inventory",
    "InventoryError",
    "Removal",
    "Resources",
    "Risk",
    "SourcedValue",
    "Variable",
    "VariableType",
    "Vaulted",
    "load_catalog",
    "load_inventory",
]
