"""One error shape for every response: ``{"detail": "<sentence>", "code": "<machine_code>"}``.

Core errors (:mod:`apart.errors`) carry their own message and code; this module
gives each one its HTTP status, in :data:`STATUS_BY_ERROR` and nowhere else.
Errors that only the API knows (no token, a body too large, a ``scenario_path``
outside the scenarios directory) are :class:`ApiError`. Request validation,
unknown paths, unexpected exceptions and database outages are rendered in the
same shape. Some errors add machine-readable fields: ``issues`` (scenario
problems: ``[{path, problem, fix}]``) and ``errors`` (invalid fields).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from apart.errors import (
    ApartError,
    ConfigError,
    InvalidRequest,
    InvalidTransition,
    LeaseLost,
    ProviderError,
    RunIdTaken,
    RunNotFound,
    ScenarioError,
    SimulatorContractError,
)

log = logging.getLogger(__name__)

#: the HTTP status of each core error (the first matching class wins)
STATUS_BY_ERROR: tuple[tuple[type[ApartError], int], ...] = (
    (RunNotFound, 404),
    (RunIdTaken, 409),
    (InvalidTransition, 409),
    (LeaseLost, 409),
    (ScenarioError, 422),
    (InvalidRequest, 422),
    (ConfigError, 400),
    (ProviderError, 502),
    (SimulatorContractError, 502),
)

#: machine codes of plain HTTP errors (unknown path, wrong method…)
_HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    503: "unavailable",
}


class ApiError(HTTPException):
    """An error only the API knows about, with its status, code and sentence."""

    def __init__(self, status: int, code: str, detail: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, detail, headers)
        self.code = code


def status_of(error: ApartError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 500


def error_response(http_status: int, detail: str, code: str,
                   headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:
    """The one error shape; ``extra`` adds machine-readable fields (issues, errors…)."""
    body: dict[str, Any] = {"detail": detail, "code": code, **extra}
    return JSONResponse(body, status_code=http_status, headers=dict(headers or {}))


def apart_error_response(error: ApartError) -> JSONResponse:
    extra: dict[str, Any] = {}
    if isinstance(error, ScenarioError):
        extra["issues"] = [
            {"path": issue.path, "problem": issue.problem, "fix": issue.fix}
            for issue in error.issues
        ]
    if isinstance(error, InvalidTransition):
        extra["status"] = error.status
    return error_response(status_of(error), error.message, error.code, **extra)


async def _apart_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApartError)
    if status_of(exc) >= 500:
        log.error("%s %s failed: %s: %s", request.method, request.url.path,
                  type(exc).__name__, exc.message)
    return apart_error_response(exc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    code = getattr(exc, "code", None) or _HTTP_CODES.get(status, f"http_{status}")
    detail = str(exc.detail)
    if status == 404 and detail == HTTPStatus.NOT_FOUND.phrase:
        detail = f"no endpoint at {request.url.path}; the API is described at /docs"
    elif status == 405 and detail == HTTPStatus.METHOD_NOT_ALLOWED.phrase:
        detail = f"{request.method} is not allowed on {request.url.path}; see /docs"
    return error_response(status, detail, code, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(part) for part in err.get("loc", ())], "msg": str(err.get("msg", "")),
         "type": str(err.get("type", ""))}
        for err in exc.errors()
    ]
    if any(err["type"] == "json_invalid" for err in exc.errors()):
        detail = "the request body is not valid JSON; send a JSON object"
    else:
        problems = "; ".join(
            f"{_where([str(p) for p in err.get('loc', ())])}: {err.get('msg', '')}"
            for err in exc.errors())
        detail = f"invalid request: {problems}"
    return error_response(422, detail, "validation_error", errors=errors)


def _where(loc: list[str]) -> str:
    """``["body", "budget", "usd"]`` -> ``budget.usd (body)``."""
    if not loc:
        return "request"
    source, *path = loc
    return f"{'.'.join(path)} ({source})" if path else source


def _reason(exc: Exception) -> str:
    """The driver's own first line, without the statement and its parameters."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DataError):
        log.warning("%s %s: value refused by the database: %s", request.method,
                    request.url.path, _reason(exc))
        return error_response(422, "a value in the request does not fit the database "
                              f"({_reason(exc)})", "invalid_request")
    log.error("%s %s: database unavailable: %s", request.method, request.url.path,
              _reason(exc))
    return error_response(503, "the database is unavailable; try again shortly "
                          "(GET /api/health/detailed shows what is down)",
                          "database_unavailable")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette re-raises the exception after this response, so the server logs its traceback
    log.error("%s %s failed: %s: %s", request.method, request.url.path,
              type(exc).__name__, exc)
    return error_response(500, "internal server error; the server log has the details",
                          "internal_error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApartError, _apart_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for db_error in (OperationalError, InterfaceError, DataError):
        app.add_exception_handler(db_error, _database_error)
    app.add_exception_handler(Exception, _unexpected)
