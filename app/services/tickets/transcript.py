"""A ticket's transcript: the conversation as staff read it, each message with its kind, author,
delivery and files."""

from sqlalchemy import select
from sqlmodel import Session

from app.models.base import table_of
from app.models.message import Author, Message, MessageRead
from app.models.staff import StaffMember
from app.services.tickets import queue
from app.services.tickets.attachments import attachments_of

_MESSAGES = table_of(Message)
_STAFF = table_of(StaffMember)


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
