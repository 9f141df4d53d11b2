"""The DomainError family and the one RFC 9457 problem-details renderer."""

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from app import logs
from app.logs import note_hang_up, note_refusal

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://sportello.dev/problems/"


class DomainError(Exception):
    """An error the client can act on; rendered as problem+json."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors) if errors else None
        self.headers = headers
        self.extra = extra


class BadRequest(DomainError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(DomainError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(DomainError):
    status, slug, title = 404, "not-found", "Not found"


class NotAcceptable(DomainError):
    """Input a mail provider must not send again: Mailgun stops retrying on 406."""

    status, slug, title = 406, "not-acceptable", "Not acceptable"


class Conflict(DomainError):
    status, slug, title = 409, "conflict", "Conflict"


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "Transition not allowed"


class PayloadTooLarge(DomainError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(DomainError):
    """A body of a media type the route does not read (not a delivery at all)."""

    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class Unprocessable(DomainError):
    """Input that is well-formed but breaks a rule; `errors` names the fields."""

    status, slug, title = 422, "validation-error", "Invalid input"


class TooManyRequests(DomainError):
    status, slug, title = 429, "rate-limited", "Too many requests"


class ServiceUnavailable(DomainError):
    status, slug, title = 503, "unavailable", "Service temporarily unavailable"


def field_error(field: str, message: str, *, kind: str = "value_error") -> dict[str, str]:
    """One entry of a problem's `errors` list."""
    return {"field": field, "message": message, "type": kind}


def problem(
    status: int,
    *,
    detail: str,
    slug: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build an RFC 9457 response."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug if slug else "about:blank",
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_name(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"} and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    note_refusal(request.scope, exc.detail)
    return problem(
        exc.status,
        detail=exc.detail,
        slug=exc.slug,
        title=exc.title,
        instance=request.url.path,
        headers=exc.headers,
        errors=exc.errors,
        **exc.extra,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    if any(e.get("type") == "json_invalid" for e in raw):
        return _malformed_json(request)
    errors = [
        {
            "field": _field_name(e.get("loc", ())),
            "message": e.get("msg", ""),
            "type": e.get("type", "value_error"),
            "location": (e.get("loc") or ["body"])[0],
        }
        for e in raw
    ]
    names = ", ".join(dict.fromkeys(e["field"] for e in errors)) or "the request"
    note_refusal(request.scope, f"Invalid input: {names}.")
    return problem(
        422,
        detail=f"Invalid input: {names}.",
        slug="validation-error",
        title="Invalid input",
        instance=request.url.path,
        errors=errors,
    )


def _malformed_json(request: Request) -> JSONResponse:
    note_refusal(request.scope, "The request body is not valid JSON.")
    return problem(
        400,
        detail="The request body is not valid JSON.",
        slug="malformed-json",
        title="Malformed JSON",
        instance=request.url.path,
    )


# FastAPI's words for a JSON body its decoder gave up on otherwise (bytes that are not UTF-8,
# nesting past the recursion limit, a number of thousands of digits): malformed JSON all the same.
_UNREADABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    json_body = "json" in request.headers.get("content-type", "json")
    if exc.status_code == 400 and exc.detail == _UNREADABLE_BODY and json_body:
        return _malformed_json(request)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No resource at {request.url.path}."
    elif exc.status_code == 405:
        detail = f"Method {request.method} is not allowed on {request.url.path}."
    slug = "payload-too-large" if exc.status_code == 413 else None
    note_refusal(request.scope, detail)
    return problem(
        exc.status_code,
        detail=detail,
        slug=slug,
        instance=request.url.path,
        headers=getattr(exc, "headers", None),
    )


async def _client_gone(request: Request, exc: Exception) -> JSONResponse:
    # The client hung up while sending its body: nothing to answer, nothing broken here.
    # One line at INFO, no traceback, so nobody can flood the error log by hanging up.
    log.info(
        "client disconnected during the body of %s %s",
        request.method,
        logs.loggable_path(request.url.path),
    )
    note_hang_up(request.scope)  # not a refusal: nobody hears the answer
    return problem(400, detail="The request body did not arrive whole.", instance=request.url.path)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Never a stack trace to the client; the log has it, under the request id the answer
    # names, so that whoever reports the error can point at its line.
    log.exception("unhandled error on %s %s", request.method, logs.loggable_path(request.url.path))
    return problem(
        500,
        detail="An unexpected error occurred; it has been logged.",
        slug="internal",
        instance=request.url.path,
        request_id=logs.request_id.get(),
    )


def install_error_handlers(app: FastAPI) -> None:
    """Render every error the app can raise as application/problem+json."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, unexpected_error)


# What SQLite says when the file, not the statement, is the trouble: another writer holds it
# longer than the busy timeout, or the disk fails. Any other SQLite error is a bug.
_SQLITE_OUTAGES = ("database is locked", "database is busy", "disk i/o error", "unable to open")


def is_outage(exc: BaseException) -> bool:
    """A database that is away or busy (retry later), as opposed to a bug in a statement.

    Away: the pool has no connection to give, a connection was lost or closed, PostgreSQL
    cannot be reached or gave up waiting for a lock (an OperationalError there). SQLite raises
    OperationalError for bad SQL too, so only its busy and I/O messages count.
    """
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, PoolTimeout | InterfaceError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    if type(exc.orig).__module__.startswith("sqlite3"):
        return str(exc.orig).lower().startswith(_SQLITE_OUTAGES)
    return True


def install_database_error_handler(app: FastAPI) -> None:
    """Database outages answer 503 with Retry-After and one line; other errors are bugs."""
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    for error in (DBAPIError, PoolTimeout):
        app.add_exception_handler(error, _database_error)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if is_outage(exc):
        return await _database_unavailable(request, exc)
    return await unexpected_error(request, exc)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # A lost connection, a busy SQLite file or a failed commit: nothing was stored, so the
    # caller (a mail provider above all) should retry. One line, no traceback: an outage of a
    # minute must not bury the log under one traceback per request.
    log.error(
        "database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    return problem(
        503,
        detail="The database is unavailable; nothing was stored. Retry later.",
        slug="unavailable",
        title="Service temporarily unavailable",
        instance=request.url.path,
        headers={"Retry-After": "30"},
    )
