"""Time recorded on a ticket: HTTP only."""

from fastapi import APIRouter, Response

from app.deps import Agent, Now, SessionDep, Viewer
from app.models.billing import TimeEntryCreate, TimeEntryRead
from app.models.common import Items, ResourceId, TicketRef
from app.routers._responses import CREATE, READ, WRITE, CreatedDep
from app.services.reports import time_entries as service
from app.services.tickets import queue

router = APIRouter(prefix="/tickets", tags=["time_entries"])


@router.post(
    "/{ticket_ref}/time-entries", response_model=TimeEntryRead, status_code=201, responses=CREATE
)
def add(
    ticket_ref: TicketRef,
    data: TimeEntryCreate,
    session: SessionDep,
    now: Now,
    agent: Agent,
    created: CreatedDep,
) -> TimeEntryRead:
    """Record minutes of work on the ticket; billed at support rates when billable (R2, R13)."""
    ticket = queue.ticket_of(ticket_ref, session=session)
    entry = service.add(ticket, data, session=session, actor=agent.name, now=now)
    created.at(entry.id)
    return entry


@router.get(
    "/{ticket_ref}/time-entries",
    response_model=Items[TimeEntryRead],
    status_code=200,
    responses=READ,
)
def list_(ticket_ref: TicketRef, session: SessionDep, _: Viewer) -> Items[TimeEntryRead]:
    """The time recorded on the ticket, oldest first."""
    ticket = queue.ticket_of(ticket_ref, session=session)
    return Items(items=service.list_entries(ticket, session=session))


@router.delete("/{ticket_ref}/time-entries/{entry_id}", status_code=204, responses=WRITE)
def delete(
    ticket_ref: TicketRef, entry_id: ResourceId, session: SessionDep, now: Now, agent: Agent
) -> Response:
    """Delete an entry: its author or an admin; refused (409) once the ticket's time is billed."""
    ticket = queue.ticket_of(ticket_ref, session=session)
    service.delete(ticket, entry_id, session=session, principal=agent, now=now)
    return Response(status_code=204)
