"""A ticket's audit trail: who did what to it, when, from which state."""

from datetime import datetime
from typing import Any

from pydantic import ConfigDict
from sqlmodel import Field, SQLModel

from app.models.base import JSONType, UTCDateTime, utcnow


class TicketEventBase(SQLModel):
    """One entry of the audit trail: who did what to a ticket, when, from which state."""

    model_config = ConfigDict(use_attribute_docstrings=True)  # type: ignore[assignment]

    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    """When it happened."""
    actor: str = Field(max_length=200)
    """Who did it: a token's name, or the intake that recorded it."""
    kind: str = Field(max_length=32)
    """What happened, e.g. created, message_received, taken_in_charge, updated, resolved, reopened,
    sla_recomputed.
    """
    from_status: str | None = Field(default=None, max_length=32)
    """The status before, for a status change."""
    to_status: str | None = Field(default=None, max_length=32)
    """The status after, for a status change."""
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    """The details: fields changed (old and new values), notes."""


class TicketEvent(TicketEventBase, table=True):
    __tablename__ = "ticket_event"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True, ondelete="CASCADE")


class TicketEventRead(TicketEventBase):
    id: int
    """The event's id."""
