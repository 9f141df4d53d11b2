"""A ticket's conversation: the messages in and out, only ever inserted."""

from datetime import datetime

from sqlalchemy import insert
from sqlmodel import Session

from app.models.base import table_of
from app.models.message import Message, NewMessage

_INSERT_MESSAGE = insert(table_of(Message)).returning(table_of(Message).c.id)


def add_message(
    ticket_id: int, message: NewMessage, *, session: Session, created_at: datetime | None = None
) -> int:
    """Attach a message to a ticket's conversation; the message's id.

    Messages are only ever inserted, with one statement each.
    """
    row = message.row(ticket_id, created_at=created_at or message.received_at)
    message_id: int = session.connection().execute(_INSERT_MESSAGE, row).scalar_one()
    return message_id
