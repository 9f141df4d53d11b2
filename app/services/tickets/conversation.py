"""A ticket's conversation: the messages in and out.

Messages are only ever inserted, with one statement each, but for one step: our own email's
copy is inserted when it is caused (replies thread to its Message-ID, its delivery shows), and
its words are filled in once, when the outbox worker writes the email from its facts.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session

from app.enums import Channel
from app.models.base import table_of
from app.models.message import Message

_MESSAGES = table_of(Message)
_INSERT_MESSAGE = insert(_MESSAGES).returning(_MESSAGES.c.id)
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


def fill_in_words(
    message_id: str, *, session: Session, subject: str, text: str, html: str | None
) -> None:
    """Give our email's copy (Message-ID `message_id`) the words it was written with."""
    session.connection().execute(
        update(_MESSAGES)
        .where(_MESSAGES.c.message_id == message_id, _MESSAGES.c.direction == "outbound")
        .values(subject=subject, text=text, text_stripped=text, html=html)
    )
