"""Every error the API returns is JSON of one shape, with the status code that says whose fault.

    {"error": {"message": "…", "problems": [{"file": …, "line": …, "field": …, "message": …}]}}

- 400: the content is wrong (an :class:`~detente.errors.InputError` from the library: a bad
  observation row, an agreement that does not validate, a bad query value);
- 401: no token or an unknown one; 403: the token's role may not do this;
- 404: no such agreement, claim, finding or channel;
- 409: the request conflicts with what is stored (an observation id already stored with other
  content, a hotline record that is not the channel's next one);
- 422: the request does not have the shape the OpenAPI document describes (FastAPI's own check).

A bad request is never a 500: anything else that escapes a handler is a bug, logged, and
answered with a 500 in the same shape without internals.

    >>> raise NotFound("no agreement 'minsk3'")        # doctest: +SKIP
    → 404 {"error": {"message": "no agreement 'minsk3'", "problems": []}}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from detente.errors import InputError, Problem

log = logging.getLogger("detente.api")


class ApiError(Exception):
    """An error with its HTTP status; raise a subclass."""

    status = 400

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class ProblemOut(BaseModel):
    """One thing wrong: where (file, line, field) and what."""

    file: str
    line: int | None = None
    field: str
    message: str


class ErrorBody(BaseModel):
    message: str
    problems: list[ProblemOut]


class ErrorOut(BaseModel):
    """The body of every error response."""

    error: ErrorBody


#: For the OpenAPI document: the error responses every authenticated operation can give.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (400, "Bad content (problems name the file, line and field)"),
        (401, "No token, or an unknown one"),
        (403, "The token's role may not do this"),
        (404, "No such thing"),
        (409, "Conflicts with what is stored"),
        (422, "The request does not match this document"),
    )
}


def problem_dict(p: Problem) -> dict[str, Any]:
    return {"file": p.file, "line": p.line, "field": p.field, "message": p.message}


def error_response(
    status: int,
    message: str,
    problems: Sequence[Problem] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"message": message, "problems": [problem_dict(p) for p in problems]}}
    return JSONResponse(body, status_code=status, headers=headers)


def input_error_message(exc: InputError) -> str:
    """One line for an InputError: its only problem, or how many there are."""
    if len(exc.problems) == 1:
        return str(exc.problems[0])
    return f"{len(exc.problems)} problems; nothing was stored"


#: InputError problems whose message says the input contradicts stored data: a 409, not a 400.
_CONFLICT_PHRASES = ("already stored with different content",)


def status_of(exc: InputError) -> int:
    """409 when every problem is a conflict with stored data, else 400."""
    from detente.hotline import ChainConflict

    if isinstance(exc, ChainConflict):
        return 409
    if exc.problems and all(
        any(phrase in p.message for phrase in _CONFLICT_PHRASES) for p in exc.problems
    ):
        return 409
    return 400


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the shape above."""

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.message, exc.problems, headers)

    async def on_input_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InputError)
        return error_response(status_of(exc), input_error_message(exc), exc.problems)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = [
            Problem(
                str(err["loc"][0]) if err.get("loc") else "request",
                ".".join(str(part) for part in err.get("loc", ())[1:]),
                str(err.get("msg", "invalid")),
            )
            for err in exc.errors()
        ]
        return error_response(422, "the request does not match the API's schema", problems)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(exc.status_code, str(exc.detail), (), exc.headers)

    async def on_race(request: Request, exc: Exception) -> JSONResponse:
        # Two requests wrote the same key at once (e.g. two uploads both taking version 3): the
        # database kept one; the other may simply be sent again.
        log.info("write conflict on %s %s: %s", request.method, request.url.path, exc)
        return error_response(409, "conflicts with a concurrent change; send the request again")

    async def on_anything(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not the client's fault: log it whole, say nothing of the internals.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error (logged on the server)")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(InputError, on_input_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    for race in _race_errors():
        app.add_exception_handler(race, on_race)
    app.add_exception_handler(Exception, on_anything)


def _race_errors() -> tuple[type[Exception], ...]:
    """The database errors that mean "another transaction got there first"."""
    import duckdb
    import psycopg

    return (
        duckdb.ConstraintException,
        duckdb.TransactionException,
        psycopg.errors.UniqueViolation,
        psycopg.errors.SerializationFailure,
        psycopg.errors.DeadlockDetected,
    )
