"""Side effects (emails, alerts) written in the same transaction as their cause, and their
delivery: every attempt is recorded."""

from datetime import datetime
from typing import Any

from pydantic import ConfigDict
from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from app.enums import OutboxChannel, OutboxState
from app.models.base import EnumString, JSONType, UTCDateTime, utcnow
from app.models.common import Schema


class OutboxBase(SQLModel):
    """What the API shows of a queued email or alert."""

    model_config = ConfigDict(use_attribute_docstrings=True)  # type: ignore[assignment]

    kind: str = Field(max_length=64)
    """What it says, e.g. customer.taken_in_charge, customer.resolved, staff.on_call_alert."""
    channel: OutboxChannel = Field(sa_type=EnumString(OutboxChannel, 16))
    """email (SMTP, or an .eml file without SMTP) or webhook (the staff alert webhook)."""
    ticket_id: int | None = Field(
        default=None, foreign_key="ticket.id", index=True, ondelete="SET NULL"
    )
    """The ticket it is about, if any."""
    recipient: str = Field(default="", max_length=320)
    """The address it goes to (for the alert webhook: `alert webhook`)."""
    message_id: str = Field(max_length=998, unique=True)
    """The email's Message-ID, derived from the cause: a resend carries the same one."""
    state: OutboxState = Field(default=OutboxState.PENDING, sa_type=EnumString(OutboxState, 16))
    """pending, sent, failed, held (kept back, see `last_error`) or cancelled."""
    attempts: int = 0
    """Delivery attempts so far."""
    last_error: str | None = Field(default=None, max_length=2000)
    """Why the last attempt failed, or why it is held."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    """When its cause happened."""
    available_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    """Not tried before this instant (backoff after a temporary failure)."""
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When it was last tried."""
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When the SMTP server or the webhook accepted it."""
    request_id: str | None = Field(default=None, max_length=64)
    """The request that caused it (its X-Request-Id), if any: the worker's log lines about it
    carry the same id."""


# A literal, not a bound parameter, so that both databases see a query with it may use the
# partial index below.
NOT_HELD = text(f"state <> '{OutboxState.HELD}'")


class Outbox(OutboxBase, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        # The worker's claim: pending rows whose time has come, oldest first.
        Index("ix_outbox_state_available_at", "state", "available_at"),
        # The loop guard: emails to one recipient within the last hour, held ones not
        # counted (notifications/notify). Partial, so that a loop that is being held back does
        # not make every later count read its held rows.
        Index(
            "ix_outbox_recipient_created_at_not_held",
            "recipient",
            "created_at",
            sqlite_where=NOT_HELD,
            postgresql_where=NOT_HELD,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Makes enqueueing idempotent: the same cause (ticket, kind, revision) never yields two.
    dedup_key: str = Field(max_length=255, unique=True)
    # The email as it will be sent (from, to, subject, text, html, date, headers), or the
    # webhook's JSON: written once, when it is queued.
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    # A worker's claim: until then no other worker takes the row; after, it is free again
    # (the worker died), and is sent again with the same Message-ID.
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    leased_by: str | None = Field(default=None, max_length=64)


class OutboxAttempt(SQLModel, table=True):
    """One delivery attempt: when, by which worker, and how it ended."""

    __tablename__ = "outbox_attempt"

    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(foreign_key="outbox.id", index=True, ondelete="CASCADE")
    at: datetime = Field(sa_type=UTCDateTime)
    worker: str = Field(max_length=64)
    ok: bool
    error: str | None = Field(default=None, max_length=2000)


class OutboxRead(OutboxBase):
    id: int
    """The row's id (for `retry`)."""


class OutboxPage(Schema):
    """A page of the outbox, newest first; pass `next_cursor` back as `cursor`."""

    items: list[OutboxRead]
    """The rows."""
    next_cursor: int | None
    """The cursor of the next page; null on the last."""
