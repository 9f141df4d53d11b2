"""A ticket's conversation: the messages in and out.

Messages are only ever inserted, with one statement each, but for one step: our own email's
copy is inserted when it is caused (replies thread to its Message-ID, its delivery shows), and
its words are filled in once, when the outbox worker writes the email from its facts.
"""

from datetime import datetime

from sqlalchemy import insert, update
from sqlmodel import Session

from app.models.base import table_of
from app.models.message import Message, MessageRead, NewMessage
from app.services.tickets import queue
from app.services.tickets.attachments import attachments_of

_MESSAGES = table_of(Message)
_INSERT_MESSAGE = insert(_MESSAGES).returning(_MESSAGES.c.id)


def add_message(
    ticket_id: int, message: NewMessage, *, session: Session, created_at: datetime | None = None
) -> int:
    """Attach a message to a ticket's conversation; the message's id.

    Messages are only ever inserted, with one statement each.
    """
    row = message.row(ticket_id, created_at=created_at or message.received_at)
    message_id: int = session.connection().execute(_INSERT_MESSAGE, row).scalar_one()
    return message_id


def fill_in_words(
    message_id: str, *, session: Session, subject: str, text: str, html: str | None
) -> None:
    """Give our email's copy (Message-ID `message_id`) the words it was written with."""
    session.connection().execute(
        update(_MESSAGES)
        .where(_MESSAGES.c.message_id == message_id, _MESSAGES.c.direction == "outbound")
        .values(subject=subject, text=text, text_stripped=text, html=html)
    )


def read_conversation(ticket_id: int, *, session: Session) -> list[MessageRead]:
    """The conversation, oldest first: each message with its delivery and its files."""
    messages = queue.list_messages(ticket_id, session=session)
    files = attachments_of((message.id for message in messages), session=session)
    for message in messages:
        message.attachments = files.get(message.id, [])
    return messages
