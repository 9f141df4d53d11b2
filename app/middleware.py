"""ASGI middleware: body limits (size, read time), access logs, security headers, and the
answer to a bug."""

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import logs, metrics
from app.errors import problem, unexpected_error

log = logging.getLogger("sportello.access")


class Bugs:
    """Whatever the handlers below did not answer (a bug) is the logged 500 problem here,
    inside the access log and the security headers: so the answer and its one traceback carry
    the request id. (Starlette answers it outside every middleware, then raises it again for
    the server to log a second time under no request.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except Exception as exc:
            if started:  # too late for another answer: the server logs it and cuts it off
                raise
            response = await unexpected_error(Request(scope), exc)
            await response(scope, receive, send)


class BodyLimits:
    """Refuse bodies over a size limit with 413 (declared or streamed), and cut off with 408
    a body that has not fully arrived `read_timeout` seconds after the endpoint began to read
    it (a client trickling bytes would otherwise hold a connection and a worker for ever)."""

    def __init__(
        self, app: ASGIApp, *, limit_for: Callable[[str], int], read_timeout: float
    ) -> None:
        self.app = app
        self.limit_for = limit_for
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        deadline: float | None = None
        complete = False

        async def counted_receive() -> Message:
            nonlocal received, deadline, complete
            if complete:  # after the body, only a disconnect can come: no deadline
                return await receive()
            deadline = deadline or asyncio.get_running_loop().time() + self.read_timeout
            try:
                # asyncio.timeout, not wait_for: no task of its own for each piece of a body.
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                log.info("body not received within %ss: %s", self.read_timeout, scope["path"])
                raise HTTPException(
                    408,
                    detail=f"The request body did not arrive within {self.read_timeout:g} seconds.",
                    headers={"Connection": "close"},
                ) from None
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException, because FastAPI turns any other error raised
                    # while it reads the body into a 400.
                    raise HTTPException(413, detail=_too_large(limit))
            return message

        await self.app(scope, counted_receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        logs.note_refusal(scope, _too_large(limit))
        response = problem(
            413,
            detail=_too_large(limit),
            slug="payload-too-large",
            title="Payload too large",
            instance=scope["path"],
            limit_bytes=limit,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _too_large(limit: int) -> str:
    return f"The request body is larger than the limit of {limit} bytes."


def route_template(scope: Scope) -> str:
    """The route a request matched, its parameters named (`/api/v1/tickets/{ticket_ref}`), so
    that metrics never carry ids or tokens; `unmatched` for a path no route serves."""
    if scope.get("route") is None:
        return "unmatched"
    names = {str(value): name for name, value in scope.get("path_params", {}).items()}
    return "/".join(
        f"{{{names[part]}}}" if part in names else part for part in scope["path"].split("/")
    )


class AccessLog:
    """One line per request: method, path, status, duration, request id. Never headers.

    A 4xx on a path under `watched` (where mail providers and the website deliver) is a
    WARNING with its reason: a refused delivery is final for a relay, and must be seen (P1).
    Every response carries its request id.
    """

    def __init__(self, app: ASGIApp, *, watched: tuple[str, ...] = ()) -> None:
        self.app = app
        self.watched = watched

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming[:64] if incoming.isprintable() and incoming else uuid.uuid4().hex
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        with logs.request_context(request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                path = logs.loggable_path(scope["path"])
                seconds = time.perf_counter() - started
                refused = 400 <= status < 500 and not logs.hung_up(scope)
                if refused and path.startswith(self.watched):
                    reason = logs.refusal_of(scope) or HTTPStatus(status).phrase
                    log.warning(
                        "%s %s %s %.1fms refused: %s",
                        scope["method"],
                        path,
                        status,
                        seconds * 1000,
                        reason,
                    )
                else:
                    log.info("%s %s %s %.1fms", scope["method"], path, status, seconds * 1000)
                metrics.observe_request(scope["method"], route_template(scope), status, seconds)


class SecurityHeaders:
    """What every response tells a browser, pages first (the status page, the contact form's
    pages, the printable report):

    - `Content-Security-Policy`: `policy` (no script, only the pages' own style, never framed),
      unless the route set its own (the API docs, which need their packaged script);
    - `X-Frame-Options: DENY`, for browsers that do not read `frame-ancestors`;
    - `Referrer-Policy: no-referrer`: a status page's URL is its customer's key;
    - `X-Content-Type-Options: nosniff`: no browser guesses a type other than the one declared
      (a stored attachment or page can never be sniffed into script).
    """

    def __init__(self, app: ASGIApp, *, policy: str) -> None:
        self.app = app
        self.headers = [
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-content-type-options", b"nosniff"),
        ]
        self.policy = (b"content-security-policy", policy.encode("ascii"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                added = [h for h in (*self.headers, self.policy) if h[0] not in names]
                message["headers"] = [*headers, *added]
            await send(message)

        await self.app(scope, receive, send_with_headers)
