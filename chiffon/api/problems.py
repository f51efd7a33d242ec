"""Errors as RFC 9457 problem documents (``application/problem+json``).

Every refusal the API makes is one: ``type`` is ``urn:chiffon:problem:<code>``, ``code`` is
the ``ChiffonError`` code (or the HTTP layer's own: ``invalid_request``, ``not_found``, …),
``detail`` is the one sentence a person reads. A ``ChiffonError`` maps to its status by code;
a retryable one the table does not know is a 503, any other a 400: a condition Chiffon raised
on purpose is never a 500.
"""

from __future__ import annotations

import http
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from chiffon.errors import ChiffonError

MEDIA_TYPE = "application/problem+json"

STATUS_BY_CODE: dict[str, int] = {
    # identity
    "unauthenticated": 401,
    "token_expired": 401,
    "token_revoked": 401,
    "insufficient_scope": 403,
    "csrf_failed": 403,
    "foreign_origin": 403,
    "four_eyes": 403,
    "unknown_user": 404,
    "unknown_token": 404,
    "user_exists": 409,
    "scope_too_wide": 422,
    "invalid_user_name": 422,
    "weak_password": 422,
    # runs
    "run_not_found": 404,
    "ambiguous_run_id": 400,
    "bad_cursor": 400,
    "stale_revision": 409,
    "already_decided": 409,
    "not_awaiting_approval": 409,
    "not_cancellable": 409,
    "run_ended": 409,
    "illegal_transition": 409,
    "invalid_decision": 422,
    "approval_expired": 410,
    "idempotency_conflict": 422,
    "invalid_plan": 422,
    "unusable_plan": 422,
    "planning_failed": 422,
    "catalog_error": 422,
    "budget_exceeded": 422,
    "no_model_configured": 422,
    "suggestion_not_found": 404,
    "suggestion_not_open": 409,
    "no_mechanical_fix": 422,
    "patch_does_not_apply": 409,
    "not_a_repository": 422,
    "unknown_entry": 404,
    "no_catalog": 503,
    # the HTTP layer
    "invalid_request": 422,
    "invalid_cursor": 400,
    "malformed_json": 400,
    "body_too_large": 413,
    "rate_limited": 429,
    # the machinery behind it
    "journal_unavailable": 503,
    "audit_unavailable": 503,
    "model_unreachable": 503,
}


class Problem(BaseModel):
    """An RFC 9457 problem document with Chiffon's error code; some carry more members
    (``current_revision`` on a stale decision, ``errors`` on an invalid request)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None


class ProblemError(Exception):
    """Raised by routes and dependencies to answer with a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra


def status_of(error: ChiffonError) -> int:
    known = STATUS_BY_CODE.get(error.code)
    if known is not None:
        return known
    return 503 if error.retryable else 400


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = Problem(
        type=f"urn:chiffon:problem:{code}",
        title=http.HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        code=code,
        instance=instance,
        **extra,
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def from_error(error: ChiffonError, *, instance: str | None = None) -> JSONResponse:
    """The problem document for a ``ChiffonError``, with what its attributes add (a stale
    decision's current revision and plan hash)."""
    status = status_of(error)
    extra: dict[str, Any] = {}
    for name in ("current_revision", "current_plan_hash"):
        value = getattr(error, name, None)
        if value is not None:
            extra[name] = value
    headers = {"Retry-After": "5"} if status == 503 else None
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="chiffon"'}
    return problem_response(
        status, error.code, str(error), instance=instance, headers=headers, **extra
    )


def install(app: FastAPI) -> None:
    """Answer every error with a problem document: Chiffon's, FastAPI's validation, Starlette's
    HTTP errors (404, 405), and, as the last resort, anything else (logged, then a 500)."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(
            exc.status,
            exc.code,
            exc.detail,
            instance=request.url.path,
            headers=exc.headers,
            **exc.extra,
        )

    async def on_chiffon(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ChiffonError)
        return from_error(exc, instance=request.url.path)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [_validation_item(item) for item in exc.errors()]
        malformed = next((e for e in errors if e["type"] == "json_invalid"), None)
        if malformed is not None:
            return problem_response(
                400, "malformed_json", f"the body is not valid JSON: {malformed['message']}",
                instance=request.url.path,
            )  # fmt: skip
        first = errors[0] if errors else {"where": "body", "message": "is invalid"}
        return problem_response(
            422,
            "invalid_request",
            f"{first['where']}: {first['message']}",
            instance=request.url.path,
            errors=errors,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = (
            exc.detail if isinstance(exc.detail, str) else http.HTTPStatus(exc.status_code).phrase
        )
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"there is nothing at {request.url.path}"
        return problem_response(
            exc.status_code, code, detail, instance=request.url.path, headers=exc.headers
        )

    async def on_anything(request: Request, exc: Exception) -> JSONResponse:
        logging.getLogger("chiffon.api").error(
            "unexpected error answering %s %s", request.method, request.url.path, exc_info=exc
        )
        return problem_response(
            500,
            "internal_error",
            "the server failed to answer this request",
            instance=request.url.path,
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(ChiffonError, on_chiffon)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_anything)


def _validation_item(item: Mapping[str, Any]) -> dict[str, str]:
    location = [str(part) for part in item.get("loc", ())]
    where = ".".join(location) or "body"
    message = str(item.get("msg", "is invalid"))
    if item.get("type") == "extra_forbidden":
        message = "is not a field this request accepts"
    elif item.get("type") == "json_invalid":
        where = "body"
        message = f"{item.get('ctx', {}).get('error', 'malformed')} at character {location[-1]}"
    return {"where": where, "message": message, "type": str(item.get("type", ""))}


def answers(described: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for problem documents: each status with what it means there."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        status: {"model": Problem, "content": {MEDIA_TYPE: {"schema": schema}}, "description": d}
        for status, d in described.items()
    }


def problems_only(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with each problem answer described as ``application/problem+json`` only:
    FastAPI lists a response ``model`` under ``application/json`` too, which no problem is."""
    for path in document.get("paths", {}).values():
        for operation in path.values():
            for answer in operation.get("responses", {}).values():
                content = answer.get("content", {})
                if MEDIA_TYPE in content:
                    content.pop("application/json", None)
    return document


RESPONSES = answers(
    {
        400: "Bad request",
        401: "Not authenticated",
        403: "Not allowed",
        413: "Body too large",
        422: "Invalid request",
        429: "Too many requests",
        503: "Unavailable",
    }
)
"""The problem answers every API route may give, for the OpenAPI document."""

RUN_NOT_FOUND = answers({404: "No run has this id (or id prefix)"})
