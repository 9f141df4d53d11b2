"""Who is at the console: the session cookie, CSRF tokens, roles, and the pages for refusals.

The session cookie is HttpOnly and SameSite=Strict, Secure unless the service is reached over
plain http or loopback; every POST carries a CSRF token (the session's, or before sign-in the
sign-in form's own cookie), compared in constant time.
"""

import hmac
import inspect
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

import anyio.to_thread
from fastapi import Depends, FastAPI, Form, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine

from app.db import unit_of_work
from app.deps import Now, committed_unit
from app.enums import Role
from app.errors import DomainError, NotFound
from app.rendering import console_policy, console_script, render
from app.services.console import desk_views, sign_in
from app.services.console.sign_in import SignedIn
from app.services.console.words import words
from app.settings import Settings

COOKIE = "sportello_console"
FORM_COOKIE = "sportello_console_form"  # the sign-in forms' CSRF token, before any session
PATH = "/console"
SIGN_IN = "/console/sign-in"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
T = TypeVar("T")


class SignInNeeded(Exception):
    """No valid session: the answer is a redirect (303) to the sign-in page."""


class Refused(Exception):
    """A console page that says no: 403 (CSRF, role), 404, 409 or 429."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        language: str = "it",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}
        self.language = language


def page(
    name: str, *, status: int = 200, headers: dict[str, str] | None = None, **context: object
) -> HTMLResponse:
    """A console page, with the console's own headers: its CSP, same-origin referrers, no store."""
    user = context.get("user")
    if not isinstance(user, SignedIn):
        user = None
    language = user.language if user else str(context.pop("language", "it"))
    context.setdefault("user", None)
    context.setdefault("sections", desk_views.sections(user.principal) if user else [])
    html = render(
        f"console/{name}",
        language=language,
        words=words(language),
        script_url=f"/pages/console.{console_script().version}.js",
        **context,
    )
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "Content-Security-Policy": console_policy(),
            "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store",
            **(headers or {}),
        },
    )


def secure_cookies(settings: Settings) -> bool:
    """Cookies are Secure unless the service is reached over http or on loopback."""
    url = urlsplit(settings.public_url)
    return url.scheme == "https" and (url.hostname or "") not in LOOPBACK


def set_cookie(response: Response, name: str, value: str, *, settings: Settings) -> None:
    response.set_cookie(
        name,
        value,
        max_age=settings.console_session_hours * 3600,
        path=PATH,
        secure=secure_cookies(settings),
        httponly=True,
        samesite="strict",
    )


def form_token(request: Request) -> str:
    """The sign-in forms' CSRF token: the form cookie's value, or a new one."""
    given = request.cookies.get(FORM_COOKIE, "")
    return given if 20 <= len(given) <= 64 and given.isascii() else secrets.token_urlsafe(32)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: Request) -> bool:
    """Whether a posted form comes from the console's own pages, by the Origin a browser sends:
    the address the request was made to, or SPORTELLO_PUBLIC_URL's. A form from another site
    is refused whatever its token (a sibling subdomain can plant the sign-in form's cookie); a
    request without Origin (not a browser) is judged by its token alone."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = {_origin(str(request.base_url)), _origin(request.app.state.settings.public_url)}
    return origin.strip().rstrip("/").lower() in own


def check_form_token(request: Request, given: str) -> None:
    """A sign-in form from another site, or without the token its page was served with, is
    refused (403)."""
    expected = request.cookies.get(FORM_COOKIE, "")
    if not same_origin(request) or not expected:
        raise Refused(403, words("it")["forbidden_csrf"])
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise Refused(403, words("it")["forbidden_csrf"])


async def signed_in(request: Request, now: Now) -> SignedIn:
    """The staff member of the request's session; else SignInNeeded (a 303 to sign in)."""
    settings: Settings = request.app.state.settings
    token = request.cookies.get(COOKIE, "")
    if not token or len(token) > 128:
        raise SignInNeeded
    try:
        return await committed_unit(
            request,
            lambda session: sign_in.signed_in(
                token,
                session=session,
                now=now,
                idle=timedelta(minutes=settings.console_idle_minutes),
                absolute=timedelta(hours=settings.console_session_hours),
                renew=request.query_params.get("refresh") != "auto",
            ),
        )
    except sign_in.TimedOut:
        # The failed lookup's unit rolled back: the timed-out session is deleted for good here.
        await committed_unit(request, lambda session: sign_in.close_session(token, session=session))
        raise SignInNeeded from None
    except NotFound:
        raise SignInNeeded from None


SignedInDep = Annotated[SignedIn, Depends(signed_in)]


async def posted(
    request: Request, user: SignedInDep, csrf: Annotated[str, Form(max_length=128)] = ""
) -> SignedIn:
    """A form posted by a signed-in staff member from the console's pages, with their session's
    CSRF token (else 403)."""
    if not same_origin(request) or not sign_in.csrf_matches(request.cookies.get(COOKIE, ""), csrf):
        raise Refused(403, words(user.language)["forbidden_csrf"], language=user.language)
    return user


PostedDep = Annotated[SignedIn, Depends(posted)]


async def password_sign_in(request: Request, email: str, password: str, *, now: datetime) -> str:
    """A new session's token for this address and password, or Unauthorized: the account is
    read, the password verified on a worker thread outside any transaction (SQLite's writers
    never wait for argon2), then the session is written."""
    engine = request.app.state.engine
    account = await anyio.to_thread.run_sync(_account, engine, email)
    staff_id = await anyio.to_thread.run_sync(sign_in.verify, account, password)
    return await committed_unit(
        request, lambda session: sign_in.with_verified(staff_id, session=session, now=now)
    )


def _account(engine: Engine, email: str) -> sign_in.Account:
    with unit_of_work(engine, read_only=True) as session:
        return sign_in.account_of(email, session=session)


def _having(role: Role, user: SignedIn) -> SignedIn:
    if not user.principal.can(role):
        said = words(user.language)["forbidden_role"].format(role=user.principal.role)
        raise Refused(403, said, language=user.language)
    return user


def reading_as(role: Role) -> params.Depends:
    """A page read by a staff member whose role includes `role`, as the API route that reads
    the same thing requires (else 403)."""

    async def _check(user: SignedInDep) -> SignedIn:
        return _having(role, user)

    return Depends(_check)


def acting_as(role: Role) -> params.Depends:
    """A posted form whose staff member's role includes `role`, as the API route that does the
    same thing requires (else 403: a viewer reads, never acts)."""

    async def _check(user: PostedDep) -> SignedIn:
        return _having(role, user)

    return Depends(_check)


def refusing(user: SignedIn, work: Callable[[], T]) -> T:
    """`work()`, its domain error (404, 409, 422 ...) a refusal page with the same status."""
    try:
        return work()
    except DomainError as exc:
        raise Refused(exc.status, exc.detail, language=user.language) from None


def install(app: FastAPI) -> None:
    """The console's refusals as pages, not problem details."""

    async def to_sign_in(request: Request, exc: Exception) -> Response:
        response = RedirectResponse(SIGN_IN, status_code=303)
        if request.cookies.get(COOKIE):
            response.delete_cookie(COOKIE, path=PATH)
        return response

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        return page(
            "refused.html",
            status=exc.status,
            headers=exc.headers,
            message=exc.message,
            refusal=exc.status,
            language=exc.language,
        )

    api_invalid = app.exception_handlers[RequestValidationError]

    async def invalid(request: Request, exc: Exception) -> Response:
        """A console form or link with a bad field: a page naming it (the API's: problem+json)."""
        if not request.url.path.startswith(PATH + "/"):
            answer = api_invalid(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        assert isinstance(exc, RequestValidationError)
        fields = {".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]) for e in exc.errors()}
        said = words("it")["invalid"].format(fields=", ".join(sorted(fields)))
        return page("refused.html", status=422, message=said, refusal=422)

    app.add_exception_handler(SignInNeeded, to_sign_in)
    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(RequestValidationError, invalid)
