"""The staff console's pages: sign-in, the queue, a ticket (its actions: ticket_actions.py), the
language of the signed-in member; their one script is served with the stylesheet (pages.py).
HTTP only: each page calls the services the API's routes call, with the same role checks
(app.console.guard)."""

from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from app.console import ticket_actions
from app.console.forms import model_of
from app.console.guard import (
    COOKIE,
    FORM_COOKIE,
    PATH,
    SIGN_IN,
    PostedDep,
    Refused,
    SignedInDep,
    check_form_token,
    form_token,
    page,
    password_sign_in,
    set_cookie,
)
from app.deps import KnobsDep, Now, SessionDep, SettingsDep, committed_unit
from app.enums import Role
from app.errors import NotFound, TooManyRequests, Unauthorized
from app.models.common import NO_NUL_PATTERN
from app.models.staff import StaffUpdate
from app.services.console import desk, sign_in
from app.services.console.words import words
from app.services.directory import staff

router = APIRouter(prefix=PATH, include_in_schema=False)
TicketNumber = ticket_actions.TicketNumber


def _sign_in_page(
    request: Request, *, status: int = 200, error: str = "", email: str = ""
) -> Response:
    token = form_token(request)
    response = page("sign_in.html", status=status, form_token=token, error=error, email=email)
    settings = request.app.state.settings
    set_cookie(response, FORM_COOKIE, token, settings=settings)
    return response


@router.get("/sign-in")
def sign_in_form(request: Request) -> Response:
    """The sign-in form: email and password."""
    return _sign_in_page(request)


def _signed_in(token: str, request: Request) -> Response:
    response = RedirectResponse(f"{PATH}/", status_code=303)
    set_cookie(response, COOKIE, token, settings=request.app.state.settings)
    response.delete_cookie(FORM_COOKIE, path=PATH)
    return response


@router.post("/sign-in")
async def sign_in_post(
    request: Request,
    settings: SettingsDep,
    now: Now,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Sign in with email and password; attempts are limited per address and per account."""
    check_form_token(request, csrf)
    client = request.client.host if request.client else "unknown"
    try:
        await committed_unit(
            request,
            lambda session: sign_in.count_attempt(
                client,
                email,
                session=session,
                now=now,
                limit=settings.console_sign_in_limit,
                window_seconds=settings.console_sign_in_window_seconds,
            ),
        )
    except TooManyRequests as exc:
        seconds = exc.headers.get("Retry-After", "60") if exc.headers else "60"
        raise Refused(
            429, words("it")["too_many"].format(seconds=seconds), headers={"Retry-After": seconds}
        ) from None

    try:
        token = await password_sign_in(request, email, password, now=now)
    except Unauthorized:
        return _sign_in_page(request, status=401, error=words("it")["refused"], email=email)
    return _signed_in(token, request)


@router.get("/link/{token}")
def link_form(request: Request, token: Annotated[str, Path(max_length=64)]) -> Response:
    """A one-time sign-in link: a button that uses it (a link prefetcher uses nothing)."""
    form = form_token(request)
    response = page("link.html", form_token=form, token=token)
    set_cookie(response, FORM_COOKIE, form, settings=request.app.state.settings)
    return response


@router.post("/link")
async def link_post(
    request: Request,
    now: Now,
    token: Annotated[str, Form(max_length=64)] = "",
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Sign in with a one-time link: once, within its minutes."""
    check_form_token(request, csrf)
    try:
        session_token = await committed_unit(
            request, lambda session: sign_in.with_link(token, session=session, now=now)
        )
    except Unauthorized:
        raise Refused(401, words("it")["link_refused"]) from None
    return _signed_in(session_token, request)


@router.post("/sign-out")
async def sign_out(request: Request, user: PostedDep) -> Response:
    """Sign out: the session is deleted, whatever its cookie says later."""
    token = request.cookies.get(COOKIE, "")
    await committed_unit(request, lambda session: sign_in.close_session(token, session=session))
    response = RedirectResponse(SIGN_IN, status_code=303)
    response.delete_cookie(COOKIE, path=PATH)
    return response


@router.get("/")
def queue_page(
    user: SignedInDep,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    view: Annotated[str, Query(pattern="^(" + "|".join(desk.VIEWS) + ")$")] = "",
    q: Annotated[str, Query(max_length=200, pattern=NO_NUL_PATTERN)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The queue: open requests, urgent first, then the nearest deadline (as GET /tickets)."""
    filters = desk.queue_filters(view, q, staff_id=user.principal.staff_id)
    found = desk.queue_rows(
        filters,
        session=session,
        now=now,
        fraction=knobs.at_risk_fraction,
        language=user.language,
        cursor=cursor,
    )
    more = {"view": view, "q": q, "cursor": found["next_cursor"] or ""}
    # The page refreshes itself with its filter; such a load does not keep the session alive.
    refresh = {"view": view, "q": q, "refresh": "auto"}
    return page(
        "queue.html",
        user=user,
        view=view,
        q=q,
        rows=found["rows"],
        next_cursor=found["next_cursor"],
        more_query=urlencode({k: v for k, v in more.items() if v}),
        refresh_query=urlencode({k: v for k, v in refresh.items() if v}),
    )


@router.get("/tickets/{number}")
def ticket_page(
    number: TicketNumber, user: SignedInDep, session: SessionDep, knobs: KnobsDep, now: Now
) -> Response:
    """One request: header, SLA block with its explanation, the conversation."""
    try:
        ticket = desk.ticket_page(
            number,
            session=session,
            now=now,
            fraction=knobs.at_risk_fraction,
            language=user.language,
        )
    except NotFound:
        raise Refused(404, words(user.language)["not_found"], language=user.language) from None
    return page("ticket.html", user=user, ticket=ticket, can_act=user.principal.can(Role.AGENT))


@router.post("/language")
def set_language(
    request: Request,
    user: PostedDep,
    session: SessionDep,
    language: Annotated[str, Form()] = "",
) -> Response:
    """Any staff member reads the console in Italian or English: their own `language`, through
    the service PATCH /staff/{id} calls; then the page they were on."""
    data = model_of(StaffUpdate, {"language": language}, language=user.language)
    if user.principal.staff_id is None:  # every session is a staff member's; kept honest
        raise Refused(404, words(user.language)["not_found"], language=user.language)
    staff.update_staff(user.principal.staff_id, data, session=session)
    came_from = urlsplit(request.headers.get("referer", "")).path
    return RedirectResponse(came_from if came_from.startswith(f"{PATH}/") else f"{PATH}/", 303)


router.include_router(ticket_actions.router)
