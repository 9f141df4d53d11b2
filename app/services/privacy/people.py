"""Which messages are a person's, found the same way by their export (art. 15, 20 GDPR) and
their erasure (art. 17): the ones they sent or were sent, on any ticket."""

from collections.abc import Sequence

from sqlalchemy import ColumnElement, String, cast, func, or_

from app.models.base import table_of
from app.models.message import Message

_M = table_of(Message)


def messages_of(emails: Sequence[str]) -> ColumnElement[bool]:
    """The messages these addresses (lower case) sent or were sent."""
    return or_(func.lower(_M.c.from_email).in_(emails), naming(_M.c.to, emails))


def naming(column: ColumnElement[object], emails: Sequence[str]) -> ColumnElement[bool]:
    """A JSON column whose text holds one of the addresses (lower case) as a string, in any
    case: a message's recipients, a history event's details."""
    written = func.lower(cast(column, String))
    return or_(*(written.like(f'%"{_like(email)}"%', escape="\\") for email in emails))


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
