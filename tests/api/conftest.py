"""The API through its ASGI app (httpx, no socket) over a real ``System`` on the machine's
PostgreSQL, with users and tokens made through ``Access`` as ``chiffon users``/``tokens``
would."""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI

from chiffon.access import Access, Scope
from chiffon.api.app import create_app
from chiffon.api.context import ApiOptions
from chiffon.assembly import System
from chiffon.settings import Settings

PASSWORD = "correct horse battery"
BASE_URL = "http://chiffon.test"


@dataclasses.dataclass(frozen=True)
class User:
    name: str
    scope: Scope
    token: str
    token_id: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Users:
    """Makes users, each with a token of their own scope."""

    def __init__(self, access: Access) -> None:
        self.access = access

    async def add(self, scope: Scope = "admin", *, token_scope: Scope | None = None) -> User:
        name = f"u-{secrets.token_hex(4)}"
        await self.access.add_user(name, PASSWORD, scope=scope)
        info, secret = await self.access.create_token(name, token_scope or scope)
        return User(name, scope, secret, info.id)


@dataclasses.dataclass(frozen=True)
class Api:
    system: System
    app: FastAPI
    client: httpx.AsyncClient
    users: Users


@contextlib.asynccontextmanager
async def serving(
    dsn: str, home: Path, options: ApiOptions | None = None, *, catalog: Path | None = None
) -> AsyncIterator[Api]:
    """A started ``System`` on ``dsn``, its app, and an httpx client calling it in-process
    (from the documentation address 203.0.113.7)."""
    settings = Settings.load(database_url=dsn, home=home, auto_upgrade=False)
    async with System(settings, configure_logs=False, catalog=catalog) as system:
        app = create_app(system, options=options)
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield Api(system, app, client, Users(Access(system.database)))


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    """``response`` is an RFC 9457 problem document of ``status`` carrying ``code``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:chiffon:problem:{code}"
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body
