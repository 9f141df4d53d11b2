"""A ticket's conversation: the messages in and out.

Messages are only ever inserted, with one statement each, but for one step: our own email's
copy is inserted when it is caused (replies thread to its Message-ID, its delivery shows), and
its words are filled in once, when the outbox worker writes the email from its facts.
"""

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlmodel import Session

from app.models.base import table_of
from app.models.message import Author, Message, MessageRead, NewMessage
from app.models.staff import StaffMember
from app.services.tickets import queue
from app.services.tickets.attachments import attachments_of

_MESSAGES = table_of(Message)
_STAFF = table_of(StaffMember)
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
    """The conversation, oldest first: each message with its kind, author, delivery and files."""
    return _completed(queue.list_messages(ticket_id, session=session), session=session)


def read_message(message_id: int, *, session: Session) -> MessageRead:
    """One message of a conversation, with its author and files."""
    row = session.get(Message, message_id)
    assert row is not None
    return _completed([MessageRead.model_validate(row, from_attributes=True)], session=session)[0]


def _completed(messages: list[MessageRead], *, session: Session) -> list[MessageRead]:
    files = attachments_of((message.id for message in messages), session=session)
    authors = _authors_of([message.id for message in messages], session=session)
    for message in messages:
        message.attachments = files.get(message.id, [])
        message.author = authors.get(message.id)
    return messages


def _authors_of(message_ids: list[int], *, session: Session) -> dict[int, Author]:
    """Who wrote each of these messages that a staff member wrote (one query)."""
    if not message_ids:
        return {}
    rows = session.execute(
        select(_MESSAGES.c.id, _STAFF.c.id, _STAFF.c.name)
        .join(_STAFF, _STAFF.c.id == _MESSAGES.c.author_id)
        .where(_MESSAGES.c.id.in_(message_ids))
    )
    return {message_id: Author(id=staff_id, name=name) for message_id, staff_id, name in rows}
