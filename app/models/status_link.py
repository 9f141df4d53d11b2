"""The customer's links to a ticket's status page."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import UTCDateTime
from app.models.common import Schema


class LinksRevoked(Schema):
    """The ticket's status links were revoked; the next customer email carries a new one."""

    revoked: int
    """How many active links there were."""


class StatusLink(SQLModel, table=True):
    """The customer's link to a ticket's status page (`/status/{token}`), revocable.

    The token is 192 random bits: unguessable, and a tampered one matches nothing. It is kept
    in clear because every later email carries the same link (the emails hold it anyway).
    """

    __tablename__ = "status_link"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True, ondelete="CASCADE")
    token: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
