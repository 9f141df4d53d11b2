"""Time staff record on a ticket: what billing at support rates counts (R2, R4, R13).

An entry is deleted by its author or an admin; once a ticket's line is billed its time is
frozen (an invoice was made from it), so adding or deleting time there is refused, also while
a line is being billed at that very moment (the ticket's row is held: billing.lock_billing).
"""

from datetime import datetime

from sqlmodel import Session, col, select

from app.enums import Role
from app.errors import Conflict, Forbidden, NotFound
from app.models.billing import TimeEntry, TimeEntryCreate, TimeEntryRead
from app.models.ticket import Ticket
from app.services.directory.auth import Principal
from app.services.reports.billing import billed_invoices, lock_billing
from app.services.tickets import audit


def add(
    ticket: Ticket, data: TimeEntryCreate, *, session: Session, actor: str, now: datetime
) -> TimeEntryRead:
    """Record minutes of work; billable by default when the ticket is (R2, R4, R13)."""
    ticket_id = _id(ticket)
    _not_billed(ticket_id, session=session)
    entry = TimeEntry(
        ticket_id=ticket_id,
        author=actor,
        minutes=data.minutes,
        note=data.note,
        billable=ticket.billable if data.billable is None else data.billable,
        created_at=now,
    )
    session.add(entry)
    session.flush()
    audit.record(
        ticket_id,
        session=session,
        actor=actor,
        kind="time_recorded",
        at=now,
        data={"time_entry_id": entry.id, "minutes": entry.minutes, "billable": entry.billable},
    )
    return read(entry)


def list_entries(ticket: Ticket, *, session: Session) -> list[TimeEntryRead]:
    """The ticket's time entries, oldest first."""
    rows = session.exec(
        select(TimeEntry)
        .where(TimeEntry.ticket_id == _id(ticket))
        .order_by(col(TimeEntry.created_at), col(TimeEntry.id))
    )
    return [read(entry) for entry in rows]


def delete(
    ticket: Ticket, entry_id: int, *, session: Session, principal: Principal, now: datetime
) -> None:
    """Delete an entry: its author or an admin (403 otherwise); 409 once the ticket is billed."""
    entry = session.get(TimeEntry, entry_id)
    if entry is None or entry.ticket_id != ticket.id:
        raise NotFound(f"No time entry {entry_id} on ticket {ticket.number}.")
    if entry.author != principal.name and not principal.can(Role.ADMIN):
        raise Forbidden("Only the entry's author or an admin may delete it.")
    _not_billed(entry.ticket_id, session=session)
    session.delete(entry)
    audit.record(
        entry.ticket_id,
        session=session,
        actor=principal.name,
        kind="time_deleted",
        at=now,
        data={"time_entry_id": entry_id, "minutes": entry.minutes, "author": entry.author},
    )


def read(entry: TimeEntry) -> TimeEntryRead:
    """The API view of an entry."""
    return TimeEntryRead.model_validate(entry, from_attributes=True)


def _not_billed(ticket_id: int, *, session: Session) -> None:
    # Held until the commit: a line of this ticket being billed now is billed before or after.
    lock_billing([ticket_id], session=session)
    invoices = billed_invoices(ticket_id, session=session)
    if invoices:
        raise Conflict(
            f"The ticket's time was billed already (invoice {', '.join(invoices)}); "
            "it can no longer change.",
            invoices=invoices,
        )


def _id(ticket: Ticket) -> int:
    assert ticket.id is not None  # a stored ticket
    return ticket.id
