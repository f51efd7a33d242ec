"""``/api/v1/me`` and ``/api/v1/tokens``: who the caller is, and their tokens.

A user manages their own tokens; an ``admin`` sees and revokes everybody's. A token made here
may not grant more than the caller's own scope (nor, made with a token, more than that
token's).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, status
from pydantic import BaseModel, Field

from chiffon.access import InsufficientScope, Principal, Scope, TokenInfo, UnknownToken, included
from chiffon.api.auth import Reader
from chiffon.api.context import ApiContext, context
from chiffon.api.problems import answers
from chiffon.api.v1.models import Body

router = APIRouter(tags=["identity"])

Context = Annotated[ApiContext, Depends(context)]
TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$", description="A token's public id.")]


class Me(BaseModel):
    user: str
    scope: Scope
    scopes: list[Scope]
    via: Literal["token", "session"]
    token_id: str | None


class Token(BaseModel):
    id: str
    user: str
    scope: Scope
    state: Literal["active", "expired", "revoked"]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    @classmethod
    def of(cls, info: TokenInfo) -> Token:
        return cls(
            id=info.id,
            user=info.user,
            scope=info.scope,
            state=info.state(dt.datetime.now(dt.UTC)),
            created_at=info.created_at,
            expires_at=info.expires_at,
            revoked_at=info.revoked_at,
            last_used_at=info.last_used_at,
        )


class NewToken(Body):
    scope: Scope = "read"
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class CreatedToken(Token):
    secret: str = Field(description="The token itself: shown in this answer only.")


@router.get("/me", summary="Who the credential of this request belongs to")
async def me(principal: Reader) -> Me:
    return Me(
        user=principal.user,
        scope=principal.scope,
        scopes=sorted(principal.scopes, key=["read", "run", "approve", "admin"].index),
        via=principal.via,
        token_id=principal.token_id,
    )


@router.get("/tokens", summary="Your tokens (everybody's, for an admin)")
async def list_tokens(principal: Reader, ctx: Context) -> list[Token]:
    found = await ctx.access.tokens(None if principal.allows("admin") else principal.user)
    return [Token.of(info) for info in found]


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    summary="Create a token of yours; its secret is in this answer only",
)
async def create_token(body: NewToken, principal: Reader, ctx: Context) -> CreatedToken:
    if body.scope not in included(principal.scope):
        raise InsufficientScope(principal.user, body.scope)
    expires = None if body.expires_in_days is None else dt.timedelta(days=body.expires_in_days)
    info, secret = await ctx.access.create_token(principal.user, body.scope, expires)
    return CreatedToken(**Token.of(info).model_dump(), secret=secret)


@router.delete(
    "/tokens/{token_id}",
    summary="Revoke a token of yours (anyone's, for an admin)",
    responses=answers({404: "No token of yours has this id"}),
)
async def revoke_token(token_id: TokenId, principal: Reader, ctx: Context) -> Token:
    if not principal.allows("admin") and not await _owns(ctx, principal, token_id):
        raise UnknownToken(token_id)
    return Token.of(await ctx.access.revoke_token(token_id))


async def _owns(ctx: ApiContext, principal: Principal, token_id: str) -> bool:
    return any(info.id == token_id for info in await ctx.access.tokens(principal.user))
