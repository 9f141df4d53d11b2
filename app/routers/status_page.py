"""The customer's status page: public, reached by the link in every customer email."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from app.deps import Now, SessionDep, SettingsDep, committed_unit
from app.errors import NotFound
from app.models.common import ResourceId
from app.rendering import render
from app.routers._responses import problems
from app.services.intake import contact_form
from app.services.tickets import attachments, status_page

router = APIRouter(tags=["status"])
BINARY = {"type": "string", "format": "binary"}


async def counted(request: Request, settings: SettingsDep, now: Now) -> None:
    """Rate limit per client address, shared by every API process (as the contact form)."""
    client = "status:" + (request.client.host if request.client else "unknown")
    await committed_unit(
        request,
        lambda session: contact_form.count_hit(
            client[:64],
            session=session,
            now=now,
            limit=settings.status_rate_limit,
            window_seconds=settings.contact_rate_window_seconds,
        ),
    )


@router.get(
    "/status/{token}",
    response_class=HTMLResponse,
    status_code=200,
    responses={
        200: {"content": {"text/html": {}}},
        404: {"description": "An unknown or revoked link.", "content": {"text/html": {}}},
        **problems(422, 429),
    },
    dependencies=[Depends(counted)],
)
def page(
    token: Annotated[str, Path(max_length=64, description="The token from the customer's email.")],
    session: SessionDep,
    lang: Annotated[
        str | None, Query(pattern="^(it|en)$", description="it or en; default: the customer's.")
    ] = None,
) -> HTMLResponse:
    """One ticket for its customer: number, status, deadline and why, estimate, history."""
    try:
        facts = status_page.page_facts(token, session=session, language=lang)
    except NotFound:
        return HTMLResponse(render("pages/not_found.html"), status_code=404)
    return HTMLResponse(
        render("pages/status.html", **facts),
        headers={"Cache-Control": "no-store"},  # no-referrer, like every page: app.middleware
    )


@router.get(
    "/status/{token}/files/{attachment_id}",
    response_class=Response,
    status_code=200,
    responses={
        200: {
            "description": "The file's bytes, as a download (never rendered inline).",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        404: {"description": "No such file in this ticket's public conversation."},
        **problems(422, 429, 503),
    },
    dependencies=[Depends(counted)],
)
def file(
    token: Annotated[str, Path(max_length=64, description="The token from the customer's email.")],
    attachment_id: ResourceId,
    session: SessionDep,
) -> Response:
    """A file of the ticket's public conversation (the customer's or our reply's), as a
    download; never a note's."""
    try:
        stored = status_page.public_file(token, attachment_id, session=session)
    except NotFound:
        return HTMLResponse(render("pages/not_found.html"), status_code=404)
    return Response(
        stored.data,
        media_type=attachments.served_type(stored.content_type),
        headers=attachments.download_headers(stored),
    )
