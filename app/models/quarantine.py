"""Deliveries that reached us but could not become a ticket, kept raw (P1: nothing that reached
us is lost): listed for staff, downloadable byte for byte, retried into a ticket once."""

from datetime import datetime

from pydantic import ConfigDict, EmailStr
from sqlalchemy import LargeBinary
from sqlmodel import Field, SQLModel

from app.enums import QuarantineReason, QuarantineState
from app.models.base import EnumString, UTCDateTime
from app.models.common import Input, Schema
from app.models.message import MAX_SUBJECT

MAX_SOURCE = 64


class QuarantineBase(SQLModel):
    """What the API shows of a quarantined delivery (never its bytes: see `.../raw`)."""

    model_config = ConfigDict(use_attribute_docstrings=True)  # type: ignore[assignment]

    source: str = Field(max_length=MAX_SOURCE)
    """Where it came from: `mailgun`, `sendgrid`, `postmark`, `mime` (the webhooks) or
    `mailbox:<id>` (an IMAP mailbox)."""
    reason: QuarantineReason = Field(sa_type=EnumString(QuarantineReason, 32))
    """Why it is not a ticket: no_sender, not_an_email, parser_error, intake_error, or
    file_too_large (an attachment over the per-file limit; a retry is 413 until it is raised)."""
    detail: str = Field(default="", max_length=1000)
    """What the reader said about it."""
    content_type: str = Field(max_length=255)
    """The media type of the bytes kept: `message/rfc822` for a raw message, otherwise the
    provider's request type (its form or its JSON), so that a retry reads them the same way."""
    size: int
    """How many bytes were kept."""
    sha256: str = Field(max_length=64)
    """Hex SHA-256 of the bytes kept (the download is checked against it)."""
    received_at: datetime = Field(sa_type=UTCDateTime)
    """When it reached us; a ticket made from it counts its deadline from here (R9)."""
    subject: str = Field(default="", max_length=MAX_SUBJECT)
    """Its subject, as far as it could be read; empty otherwise."""
    urgent: bool = False
    """The subject holds URGENTE (R12): staff are told at once, even out of hours."""
    told_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When staff were told of it (a digest per run of failures); null until then."""
    ticket_id: int | None = Field(
        default=None, foreign_key="ticket.id", index=True, ondelete="SET NULL"
    )
    """The ticket a retry made of it; null while held."""
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When a retry made it a ticket."""
    released_by: str | None = Field(default=None, max_length=200)
    """Who retried it."""


class Quarantine(QuarantineBase, table=True):
    """Rows are written with Core only; `raw` is read only by the download and the retry."""

    __tablename__ = "quarantine"

    id: int | None = Field(default=None, primary_key=True)
    # The source and a digest of what was delivered (the bytes, or a provider's form without
    # its per-request signature): a redelivery finds its row instead of adding one.
    dedup_key: str = Field(max_length=MAX_SOURCE + 65, unique=True)
    raw: bytes = Field(sa_type=LargeBinary)


class QuarantineRead(QuarantineBase):
    id: int
    """The item's id."""
    state: QuarantineState
    """held (waiting for staff) or released (retried into `ticket_id`)."""
    ticket_number: str | None = None
    """The number of the ticket a retry made of it."""


class QuarantinePage(Schema):
    """A page of the quarantine, newest first; pass `next_cursor` back as `cursor`."""

    items: list[QuarantineRead]
    """The items."""
    next_cursor: int | None
    """The cursor of the next page; null on the last."""


class QuarantineRetry(Input):
    """Retry a quarantined delivery through the normal intake path."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"from_email": "mario.rossi@example.com"}}
    )

    from_email: EmailStr | None = None
    """The sender, when the delivery names none that can be read: it becomes the ticket's
    requester (recorded as given by staff)."""
