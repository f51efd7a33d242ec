"""The infra agent's tests run real ansible-playbook against localhost, on a tiny catalog
(tests/agents/catalog) whose playbooks print a secret, write a file, or wait."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from chiffon.catalog import Catalog, load_catalog
from chiffon.journal import open_store
from chiffon.journal.store import Store

from .executors import FLAVOURS, Flavour

CATALOG_DIR = Path(__file__).parent / "catalog"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(CATALOG_DIR)


@asynccontextmanager
async def opened(dsn: str, tmp_path: Path) -> AsyncIterator[Store]:
    """A store on the session's database (a helper, not a fixture: the store's task group
    must be entered and left by the same task)."""
    async with open_store(
        dsn, tmp_path, pool_size=2, batch_size=64, flush_delay_s=0.001, auto_upgrade=False
    ) as store:
        yield store


@pytest.fixture(params=[f.name for f in FLAVOURS])
def flavour(request: pytest.FixtureRequest) -> Flavour:
    """Each executor in turn (``tests/agents/executors.py``)."""
    return next(f for f in FLAVOURS if f.name == request.param)
