"""What the model path's tests share: a Database over a real PostgreSQL, routers pointed at
the scripted ``ModelServer``, and the ``llm_calls`` rows of a run."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select

from chiffon.database import Database
from chiffon.journal.database import PostgresDatabase
from chiffon.journal.postgres import create_pool
from chiffon.llm.client import LLMClient, ModelEndpoint
from chiffon.llm.costs import CostRecorder
from chiffon.llm.routing import ModelRouter
from chiffon.llm.tables import llm_calls

from .model_server import ModelServer

LOCAL = "ollama_chat/llama3.1"
EXTERNAL = "openai/gpt-4o-mini"  # priced by LiteLLM's cost map, served here by ModelServer
TIMEOUT_S = 2.0
"""Per attempt. Slow answers in the tests take far longer, so none is answered in time."""


@asynccontextmanager
async def open_database(dsn: str) -> AsyncIterator[Database]:
    pool = await create_pool(dsn, size=2)
    try:
        yield PostgresDatabase(pool)
    finally:
        await pool.close()


def local_endpoint(server: ModelServer, model: str = LOCAL) -> ModelEndpoint:
    return ModelEndpoint(model, api_base=server.ollama_base, priced=False)


def external_endpoint(server: ModelServer, model: str = EXTERNAL) -> ModelEndpoint:
    return ModelEndpoint(model, api_base=server.openai_base, api_key="sk-test")


def make_router(
    server: ModelServer,
    database: Database,
    *,
    local: bool = True,
    external: bool = True,
    quota: bool = False,
    timeout_s: float = TIMEOUT_S,
) -> ModelRouter:
    """A router over the server's Ollama API (the local model) and its OpenAI API (the
    external one), recording into ``database``."""
    return ModelRouter(
        LLMClient(timeout_s=timeout_s, num_retries=1),
        CostRecorder(database),
        local=local_endpoint(server) if local else None,
        external=external_endpoint(server) if external else None,
        quota_url=server.quota_url if quota else None,
    )


async def calls_of(database: Database, run_id: uuid.UUID | None) -> Sequence[Mapping[str, Any]]:
    """The run's ``llm_calls`` rows, oldest first."""
    return await database.fetch(
        select(llm_calls).where(llm_calls.c.run_id == run_id).order_by(llm_calls.c.id)
    )
