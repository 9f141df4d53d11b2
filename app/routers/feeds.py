"""Feeds for calendar apps: the token is in the URL, because they cannot send headers."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.deps import KnobsDep, Now, SessionDep, authenticate_bearer
from app.enums import Role
from app.errors import Forbidden
from app.routers._responses import problems
from app.services.tickets import feed as service

router = APIRouter(prefix="/feeds", tags=["feeds"])


@router.get(
    "/deadlines.ics",
    response_class=Response,
    status_code=200,
    responses={200: {"content": {"text/calendar": {}}}, **problems(401, 403, 422)},
)
def deadlines(
    request: Request,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    token: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            description="A token of role `feed` (`sportello token create --role feed`).",
        ),
    ],
) -> Response:
    """Open take-charge deadlines as an iCalendar feed in Europe/Rome, urgent first (R17)."""
    principal = authenticate_bearer(request, token)
    if principal.role != Role.FEED:
        # Any other token in a URL would leak more than a feed: refuse it, whatever its rank.
        raise Forbidden("This feed needs a token of role 'feed'.", required_role=Role.FEED)
    body = service.deadlines_ics(session=session, now=now, domain=knobs.mail.domain)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=60"},
    )
