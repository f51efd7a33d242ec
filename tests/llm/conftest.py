"""Fixtures of the model path's tests: the scripted model server and a real Database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from chiffon.database import Database
from chiffon.llm.client import close_clients

from .model_server import ModelServer
from .support import open_database


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer() as running:
        yield running


@pytest.fixture
async def database(embedded_dsn: str) -> AsyncIterator[Database]:
    async with open_database(embedded_dsn) as opened:
        yield opened


@pytest.fixture(autouse=True)
async def _litellm_clients_closed() -> AsyncIterator[None]:
    """No LiteLLM connection outlives the test's event loop."""
    yield
    await close_clients()
