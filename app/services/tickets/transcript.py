"""A ticket's transcript: the conversation as staff read it, each message with its kind, author,
delivery and files."""

from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlmodel import Session

from app.errors import NotFound
from app.models.base import table_of
from app.models.common import Items
from app.models.message import (
    Attachment,
    AttachmentRead,
    Author,
    Delivery,
    Message,
    MessageBase,
    MessageRead,
)
from app.models.outbox import Outbox
from app.models.staff import StaffMember
from app.models.ticket import Ticket
from app.services.tickets.attachments import attachments_of
from app.services.tickets.snapshot import json_shape

_MESSAGES = table_of(Message)
_STAFF = table_of(StaffMember)
_FILES = table_of(Attachment)
_OUTBOX = table_of(Outbox)
_TICKETS = table_of(Ticket)

_SHOWN = [*MessageBase.model_fields, "id"]  # its own columns MessageRead shows, in its order
_MESSAGE_SHAPE = json_shape(
    MessageRead,
    author=json_shape(Author) | None,
    delivery=json_shape(Delivery) | None,
    attachments=list[json_shape(AttachmentRead)],  # type: ignore[misc]
)
_CONVERSATION_JSON = TypeAdapter(json_shape(Items[MessageRead], items=list[_MESSAGE_SHAPE]))  # type: ignore[misc, valid-type]

# The conversation in three queries on the ticket's id, whatever its length: the messages with
# their authors, their files, and our emails' outbox rows.
_CONVERSATION = (
    select(*(_MESSAGES.c[name] for name in _SHOWN), _STAFF.c.id, _STAFF.c.name)
    .outerjoin(_STAFF, _STAFF.c.id == _MESSAGES.c.author_id)
    .order_by(_MESSAGES.c.received_at, _MESSAGES.c.id)
)
_FILES_OF_TICKET = (
    select(_FILES.c.message_id, *(_FILES.c[name] for name in AttachmentRead.model_fields))
    .join(_MESSAGES, _MESSAGES.c.id == _FILES.c.message_id)
    .order_by(_FILES.c.id)
)
_DELIVERIES_OF_TICKET = (
    select(
        _MESSAGES.c.id,
        _OUTBOX.c.id,
        _OUTBOX.c.state,
        _OUTBOX.c.attempts,
        _OUTBOX.c.last_error,
        _OUTBOX.c.sent_at,
    )
    .join(_OUTBOX, _OUTBOX.c.message_id == _MESSAGES.c.message_id)
    .where(_MESSAGES.c.direction == "outbound")
)


def conversation_json(ticket_id: int, *, session: Session) -> bytes:
    """The conversation, oldest first, as the API's JSON (what FastAPI writes for
    `Items[MessageRead]`): each message with its kind, author, delivery and files."""
    return _CONVERSATION_JSON.dump_json({"items": conversation(ticket_id, session=session)})


def conversation(ticket_id: int, *, session: Session) -> list[dict[str, Any]]:
    """The conversation, oldest first, as MessageRead's values (plain dicts): each message
    with its kind, author, delivery and files (the console's ticket page reads it too)."""
    connection = session.connection()
    if connection.execute(select(_TICKETS.c.id).where(_TICKETS.c.id == ticket_id)).first() is None:
        raise NotFound(f"No ticket with id {ticket_id}.")
    mine = _MESSAGES.c.ticket_id == ticket_id
    files: dict[int, list[dict[str, Any]]] = {}
    for message_id, *values in connection.execute(_FILES_OF_TICKET.where(mine)).all():
        file = dict(zip(AttachmentRead.model_fields, values, strict=True))
        files.setdefault(message_id, []).append(file)
    deliveries = {
        message_id: {
            "outbox_id": outbox_id,
            "state": state,
            "attempts": attempts,
            "last_error": last_error,
            "sent_at": sent_at,
        }
        for message_id, outbox_id, state, attempts, last_error, sent_at in connection.execute(
            _DELIVERIES_OF_TICKET.where(mine)
        ).all()
    }
    items = []
    for *values, author_id, author_name in connection.execute(_CONVERSATION.where(mine)).all():
        message = dict(zip(_SHOWN, values, strict=True))
        message["author"] = None if author_id is None else {"id": author_id, "name": author_name}
        message["delivery"] = deliveries.get(message["id"])
        message["attachments"] = files.get(message["id"], [])
        items.append(message)
    return items


def read_message(message_id: int, *, session: Session) -> MessageRead:
    """One message of a conversation, with its author and files."""
    row = session.get(Message, message_id)
    assert row is not None
    message = MessageRead.model_validate(row, from_attributes=True)
    message.attachments = attachments_of([message_id], session=session).get(message_id, [])
    if row.author_id is not None:
        author = session.get(StaffMember, row.author_id)
        if author is not None and author.id is not None:
            message.author = Author(id=author.id, name=author.name)
    return message
