"""A ticket's conversation: the messages in and out.

Messages are only ever inserted, with one statement each, but for one step: our own email's
copy is inserted when it is caused (replies thread to its Message-ID, its delivery shows), and
its words are filled in once, when the outbox worker writes the email from its facts.
"""

from datetime import datetime

from sqlalchemy import case, insert, update
from sqlmodel import Session

from app.models.base import table_of
from app.models.message import Message, NewMessage

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
        .values(
            subject=subject,
            text=text,
            # A reply keeps what its author wrote as the stripped text (the status page shows
            # it); a letter's is its text.
            text_stripped=case(
                (_MESSAGES.c.text_stripped == "", text), else_=_MESSAGES.c.text_stripped
            ),
            html=html,
        )
    )
