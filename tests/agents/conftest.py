"""The infra agent's tests run real ansible-playbook against localhost, on a tiny catalog
(tests/agents/catalog) whose playbooks print a secret, write a file, or wait."""

from __future__ import annotations

from pathlib import Path

import pytest

from chiffon.planning.catalog import Catalog, load_catalog

CATALOG_DIR = Path(__file__).parent / "catalog"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(CATALOG_DIR)
