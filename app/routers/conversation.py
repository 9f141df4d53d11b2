"""A ticket's conversation and its people: the audit trail, messages, notes, replies, the
owner, and merging a duplicate. HTTP only."""

from fastapi import APIRouter, Response

from app.deps import Agent, KnobsDep, Now, SessionDep, SettingsDep, Viewer
from app.models.audit import TicketEventRead
from app.models.common import Items, TicketRef
from app.models.message import MessageRead, NoteIn, ReplyIn
from app.models.ticket import AssignIn, MergeIn, TicketRead
from app.routers._responses import READ, WRITE, serialised
from app.services.tickets import audit, merging, notes, owners, queue, replies, transcript
from app.services.tickets.snapshot import read_ticket

router = APIRouter(prefix="/tickets", tags=["tickets"])


@router.get(
    "/{ticket_ref}/events", response_model=Items[TicketEventRead], status_code=200, responses=READ
)
def events(ticket_ref: TicketRef, session: SessionDep, _: Viewer) -> Items[TicketEventRead]:
    """The audit trail: who changed what, when, from which state to which."""
    ticket = queue.ticket_of(ticket_ref, session=session)
    assert ticket.id is not None
    return Items(items=audit.list_events(ticket.id, session=session))


@router.get(
    "/{ticket_ref}/messages", response_model=Items[MessageRead], status_code=200, responses=READ
)
def messages(ticket_ref: TicketRef, session: SessionDep, _: Viewer) -> Response:
    """The conversation, oldest first."""
    ticket_id = queue.ticket_id_of(ticket_ref, session=session)
    return serialised(transcript.conversation_json(ticket_id, session=session))  # 1,000s: once


@router.post("/{ticket_ref}/notes", response_model=MessageRead, status_code=201, responses=WRITE)
def add_note(
    ticket_ref: TicketRef,
    data: NoteIn,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    agent: Agent,
) -> MessageRead:
    """Leave an internal note (and files) for colleagues: never emailed, never shown to the
    customer."""
    ticket_id = queue.ticket_id_of(ticket_ref, session=session)
    return notes.add_note(
        ticket_id,
        data,
        session=session,
        author_id=agent.staff_id,
        actor=agent.name,
        now=now,
        max_file_bytes=settings.max_file_bytes,
    )


@router.post("/{ticket_ref}/replies", response_model=MessageRead, status_code=201, responses=WRITE)
def reply(
    ticket_ref: TicketRef,
    data: ReplyIn,
    session: SessionDep,
    settings: SettingsDep,
    knobs: KnobsDep,
    now: Now,
    agent: Agent,
) -> MessageRead:
    """Write to the customer from the desk (sent once, in the ticket's thread); optionally take
    it in charge (R9, R11) or resolve it (R14) with the same one email."""
    ticket_id = queue.ticket_id_of(ticket_ref, session=session)
    return replies.reply(
        ticket_id,
        data,
        session=session,
        knobs=knobs,
        author_id=agent.staff_id,
        actor=agent.name,
        now=now,
        max_file_bytes=settings.max_file_bytes,
    )


@router.post("/{ticket_ref}/assign", response_model=TicketRead, status_code=200, responses=WRITE)
def assign(
    ticket_ref: TicketRef,
    data: AssignIn,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    agent: Agent,
) -> TicketRead:
    """Give the ticket to a staff member (or nobody); they get a staff email if someone else
    gives it to them (not while closed, unless urgent: R17)."""
    ticket_id = queue.ticket_id_of(ticket_ref, session=session)
    ticket = owners.assign(
        ticket_id,
        data.assignee_id,
        session=session,
        knobs=knobs,
        actor=agent.name,
        actor_staff_id=agent.staff_id,
        now=now,
    )
    return read_ticket(ticket, now=now, fraction=knobs.at_risk_fraction)


@router.post("/{ticket_ref}/merge", response_model=TicketRead, status_code=200, responses=WRITE)
def merge(
    ticket_ref: TicketRef,
    data: MergeIn,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    agent: Agent,
) -> TicketRead:
    """Merge this duplicate into `into` (the survivor, answered): conversation, files, time and
    history move; the earliest receipt stays; the customer is told the number to use. Tickets
    of different customers: 409 unless `force`."""
    ticket_id = queue.ticket_id_of(ticket_ref, session=session)
    into_id = queue.ticket_id_of(data.into, session=session)
    survivor = merging.merge(
        ticket_id,
        into_id,
        force=data.force,
        session=session,
        knobs=knobs,
        actor=agent.name,
        now=now,
    )
    return read_ticket(survivor, now=now, fraction=knobs.at_risk_fraction)
