"""The quarantine (P1): deliveries that reached us but could not become a ticket. HTTP only."""

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from app.deps import Admin, Agent, KnobsDep, Now, SessionDep, SettingsDep
from app.enums import QuarantineState
from app.models.common import IdCursor, Limit, ResourceId
from app.models.quarantine import QuarantinePage, QuarantineRead, QuarantineRetry
from app.routers._responses import AUTH, READ, problems
from app.services.intake import quarantine as service

router = APIRouter(prefix="/quarantine", tags=["quarantine"])

RAW = {
    200: {
        "description": "The bytes exactly as received, as a download (never rendered).",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    **READ,
}


@router.get("", response_model=QuarantinePage, status_code=200, responses=READ)
def list_(
    session: SessionDep,
    _: Agent,
    state: Annotated[
        QuarantineState | None, Query(description="Only items in this state (default: all).")
    ] = None,
    limit: Limit = 50,
    cursor: IdCursor = None,
) -> QuarantinePage:
    """Deliveries kept raw because they could not become a ticket, newest first (P1)."""
    return service.list_items(session=session, state=state, limit=limit, cursor=cursor)


@router.get("/{item_id}", response_model=QuarantineRead, status_code=200, responses=READ)
def get(item_id: ResourceId, session: SessionDep, _: Agent) -> QuarantineRead:
    """One quarantined delivery: where it came from, why it is held, its ticket once retried."""
    return service.get_item(item_id, session=session)


@router.get("/{item_id}/raw", response_class=Response, status_code=200, responses=RAW)
def raw(item_id: ResourceId, session: SessionDep, _: Agent) -> Response:
    """The delivery's bytes exactly as received (a raw message, or the provider's request
    body: its media type is the item's `content_type`), as an attachment."""
    data, item = service.raw_of(item_id, session=session)
    extension = "eml" if item.content_type == "message/rfc822" else "bin"
    # Opaque bytes, downloaded: never rendered (every answer also carries nosniff).
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="quarantine-{item.id}.{extension}"'},
    )


@router.post(
    "/{item_id}/retry",
    response_model=QuarantineRead,
    status_code=200,
    # No 409: a second retry answers the same ticket. 413: a file over the per-file limit.
    responses=problems(400, *AUTH, 404, 413, 422),
)
def retry(
    item_id: ResourceId,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    settings: SettingsDep,
    agent: Agent,
    data: Annotated[QuarantineRetry | None, Body()] = None,
) -> QuarantineRead:
    """Make a ticket of it through the normal intake path, once: a second retry answers the
    same ticket. `from_email` names the sender when the delivery names none; still unreadable
    without it: 422."""
    return service.retry(
        item_id,
        session=session,
        knobs=knobs,
        now=now,
        max_file_bytes=settings.max_file_bytes,
        actor=agent.name,
        from_email=data.from_email if data else None,
    )


@router.delete("/{item_id}", status_code=204, responses=READ)
def delete(item_id: ResourceId, session: SessionDep, _: Admin) -> Response:
    """Forget a delivery and its bytes for good (a ticket made of it stays)."""
    service.delete_item(item_id, session=session)
    return Response(status_code=204)
