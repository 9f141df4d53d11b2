"""The audit trail: who did what to a ticket, when, from which state to which."""

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from app.models.audit import TicketEvent, TicketEventRead
from app.models.base import table_of

_INSERT_EVENT = insert(table_of(TicketEvent))


def record(
    ticket_id: int,
    *,
    session: Session,
    actor: str,
    kind: str,
    at: datetime,
    data: dict[str, Any],
    from_status: str | None = None,
    to_status: str | None = None,
) -> int:
    """Write an entry of the ticket's audit trail, in the caller's transaction; its id.

    One insert statement: entries are never read back in the transaction that writes them.
    The id names the change, e.g. as the cause of the email it sends.
    """
    result = session.connection().execute(
        _INSERT_EVENT,
        {
            "ticket_id": ticket_id,
            "at": at,
            "actor": actor,
            "kind": kind,
            "from_status": from_status,
            "to_status": to_status,
            "data": data,
        },
    )
    assert result.inserted_primary_key is not None
    event_id: int = result.inserted_primary_key[0]
    return event_id


def list_events(ticket_id: int, *, session: Session) -> list[TicketEventRead]:
    """The ticket's audit trail, oldest first."""
    rows = session.exec(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(col(TicketEvent.id))
    )
    return [TicketEventRead.model_validate(row, from_attributes=True) for row in rows]
