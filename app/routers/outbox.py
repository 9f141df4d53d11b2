"""The outbox, visible: what was sent, what waits, what failed and why; retry a failed one."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import Admin, Agent, Now, SessionDep
from app.enums import OutboxState
from app.models.common import IdCursor, Limit, ResourceId
from app.models.outbox import OutboxPage, OutboxRead
from app.routers._responses import READ, WRITE
from app.services.notifications import outbox_desk as service

router = APIRouter(prefix="/outbox", tags=["outbox"])


@router.get("", response_model=OutboxPage, status_code=200, responses=READ)
def list_(
    session: SessionDep,
    _: Agent,
    state: Annotated[
        OutboxState | None, Query(description="Only rows in this state (default: all).")
    ] = None,
    limit: Limit = 50,
    cursor: IdCursor = None,
) -> OutboxPage:
    """Emails and alerts, newest first, with their attempts and last error (R11, R17)."""
    return service.list_outbox(session=session, state=state, limit=limit, cursor=cursor)


@router.post("/{outbox_id}/retry", response_model=OutboxRead, status_code=200, responses=WRITE)
def retry(outbox_id: ResourceId, session: SessionDep, now: Now, _: Admin) -> OutboxRead:
    """Queue a failed or held row again, now; it keeps its Message-ID. Other states: 409."""
    return service.retry(outbox_id, session=session, now=now)
