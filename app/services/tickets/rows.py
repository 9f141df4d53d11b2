"""A ticket's row: read as a value under a lock, written back with one UPDATE.

Tickets are written with Core statements only, as intake inserts them; the lifecycle, the
owners, replies and merging all read and write them here.
"""

from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from app.errors import InvalidTransition, NotFound
from app.models.base import table_of
from app.models.ticket import Ticket

_TICKETS = table_of(Ticket)
_FOR_UPDATE = select(_TICKETS).where(_TICKETS.c.id == bindparam("ticket_id")).with_for_update()
_WRITABLE = tuple(column.name for column in _TICKETS.columns if column.name != "id")
_UPDATE = update(_TICKETS).where(_TICKETS.c.id == bindparam("ticket_id"))


def locked_ticket(ticket_id: int, *, session: Session) -> Ticket:
    """The ticket as a value, its row locked until the commit (PostgreSQL; SQLite writers are
    serialised already). Changes to it are written by the move that makes them."""
    row = session.connection().execute(_FOR_UPDATE, {"ticket_id": ticket_id}).mappings().first()
    if row is None:
        raise NotFound(f"No ticket with id {ticket_id}.")
    return Ticket.model_validate(dict(row))


def save_ticket(ticket: Ticket, *, session: Session) -> None:
    """Write the ticket back: one UPDATE of its row."""
    values = {name: getattr(ticket, name) for name in _WRITABLE}
    session.connection().execute(_UPDATE.values(values), {"ticket_id": id_of(ticket)})


def check_writable(ticket: Ticket) -> None:
    """409 for a ticket merged into another: it is read-only, the survivor is written on."""
    if ticket.merged_into_id is not None:
        raise InvalidTransition(
            f"The ticket {ticket.number} was merged into ticket {ticket.merged_into_id}: "
            "write on that one.",
            merged_into_id=ticket.merged_into_id,
        )


def id_of(ticket: Ticket) -> int:
    """The id of a stored ticket."""
    assert ticket.id is not None  # a stored ticket
    return ticket.id
