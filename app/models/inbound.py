"""Schemas of the public intake endpoints: mail webhooks and the website contact form."""

from datetime import datetime

import pydantic
from pydantic import ConfigDict, EmailStr
from sqlmodel import Field, SQLModel

from app.models.base import UTCDateTime
from app.models.common import Input, Schema


class InboundResult(Schema):
    """The delivery is stored; a redelivery answers the same with `duplicate: true`.

    Stored as a ticket, or, when it cannot be one (no sender anywhere, not an email), kept raw
    in the quarantine for staff (`quarantined`, `quarantine_id`; no ticket yet) (P1).
    """

    ticket_id: int | None
    """The ticket the message was stored on; null while it is quarantined."""
    ticket_number: str | None
    """Its number; null while it is quarantined."""
    duplicate: bool
    """True when this delivery had been stored before (a provider's retry)."""
    quarantined: bool = False
    """True when it is kept in the quarantine instead (GET /api/v1/quarantine/{id})."""
    quarantine_id: int | None = None
    """The quarantined item, when it is (or was, before a retry made a ticket of it) one."""


class ContactIn(Input):
    """The website's CONTACT form (R6)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "example": {
                "name": "Mario Rossi",
                "email": "mario@rossi.it",
                "subject": "Il modulo ordini non invia",
                "message": "Da ieri il modulo dà errore.",
            }
        },
    )

    name: str = pydantic.Field(min_length=1, max_length=200)
    email: EmailStr
    subject: str = pydantic.Field(min_length=1, max_length=998)
    message: str = pydantic.Field(min_length=1, max_length=20_000)
    website: str = pydantic.Field(
        default="", max_length=2000, description="Honeypot: leave empty (hidden from people)."
    )


class ContactResult(Schema):
    ticket_number: str
    """The number to quote in any later message."""
    take_charge_due_at: datetime | None
    """By when the request will be taken in charge; null with no contractual commitment (R2)."""


class ContactHit(SQLModel, table=True):
    """One contact-form submission counted against its sender's address (the rate limit).

    Kept in the database so that every API process behind one proxy shares one limit; rows
    older than the window are deleted as new ones come.
    """

    __tablename__ = "contact_hit"

    id: int | None = Field(default=None, primary_key=True)
    client: str = Field(max_length=64, index=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
