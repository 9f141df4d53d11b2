"""A ticket's conversation: the messages in and out, only ever inserted."""

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from app.enums import Channel
from app.models.base import table_of
from app.models.message import Message

_INSERT_MESSAGE = insert(table_of(Message)).returning(table_of(Message).c.id)
_MESSAGE_DEFAULTS: dict[str, Any] = {
    "message_id": None,
    "provider": None,
    "provider_id": None,
    "in_reply_to": [],
    "references": [],
    "from_email": "",
    "from_name": "",
    "to": [],
    "subject": "",
    "html": None,
    "headers": [],
    "auto_submitted": False,
    "auto_reason": None,
}


def add_message(
    ticket_id: int,
    *,
    session: Session,
    direction: str,
    channel: Channel,
    text: str,
    received_at: datetime,
    created_at: datetime | None = None,
    **fields: Any,
) -> int:
    """Attach a message to a ticket's conversation; the message's id.

    Messages are only ever inserted, with one statement each.
    """
    unknown = fields.keys() - _MESSAGE_DEFAULTS.keys() - {"text_stripped"}
    if unknown:
        raise TypeError(f"unknown message fields: {', '.join(sorted(unknown))}")
    row = {
        **_MESSAGE_DEFAULTS,
        "ticket_id": ticket_id,
        "direction": direction,
        "channel": channel,
        "text": text,
        "text_stripped": fields.pop("text_stripped", text),
        "received_at": received_at,
        "created_at": created_at or received_at,
        **fields,
    }
    message_id: int = session.connection().execute(_INSERT_MESSAGE, row).scalar_one()
    return message_id
