"""Side effects (emails, alerts) written in the same transaction as their cause, and their
delivery: every attempt is recorded.

A row holds the facts of what it says (`OutboxFacts`), decided when it was caused; the outbox
worker writes the email or alert from them once, when it first takes the row, and keeps it.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, JsonValue
from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from app.enums import OutboxChannel, OutboxState
from app.models.base import EnumString, NullableJSON, UTCDateTime, partial_index, utcnow
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


class LetterFacts(BaseModel):
    """What a letter says, as facts: words as they are, instants and opening hours as values
    that are put into words (Babel, Europe/Rome, the reader's language) when it is written."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    words: dict[str, JsonValue] = {}
    """Names, subjects, numbers, flags, the explanation line: said as they are."""
    instants: dict[str, AwareDatetime | None] = {}
    """Deadlines, estimates, when it was received or resolved."""
    lists: dict[str, list["LetterFacts"]] = {}
    """Rows of a digest (the tickets of an SLA alert, the items of the quarantine's)."""
    weekly: dict[str, list[list[str]]] | None = None
    """The calendar's weekly hours (`{"mon": [["15:00", "18:00"]]}`), said as `hours`."""

    @classmethod
    def of(
        cls, facts: Mapping[str, Any], *, weekly: dict[str, list[list[str]]] | None = None
    ) -> "LetterFacts":
        """The facts a template is filled with, sorted by what they are."""
        words: dict[str, Any] = {}
        instants: dict[str, datetime] = {}
        lists: dict[str, list[LetterFacts]] = {}
        for name, value in facts.items():
            if isinstance(value, datetime):
                instants[name] = value
            elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
                lists[name] = [cls.of(row) for row in value]
            else:
                words[name] = value
        return cls(words=words, instants=instants, lists=lists, weekly=weekly)


class OutboxFacts(BaseModel):
    """An email's or an alert's facts, decided when it is caused; written from them once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    template: str
    """The letter: a template under app/templates/email/<language>/."""
    language: str
    """The reader's language (an unknown one reads Italian)."""
    caused_at: AwareDatetime
    """When it was caused: the email's Date."""
    sender: str = ""
    """The From address (emails)."""
    sender_name: str = ""
    """The From display name (emails)."""
    to: list[str] = []
    """The recipients (emails): the envelope, never read back from headers."""
    cc: list[str] = []
    """Copies (a staff reply's): in the envelope too, and in the Cc header."""
    attachments: list[int] = []
    """Stored attachments sent with it (a staff reply's files), by id."""
    headers: dict[str, str] = {}
    """Reply-To, Auto-Submitted, and In-Reply-To and References to the customer's message."""
    letter: LetterFacts
    """What it says."""


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
        partial_index(
            "ix_outbox_recipient_created_at_not_held",
            "recipient",
            "created_at",
            where=NOT_HELD.text,
        ),
        # A subscription's deliveries, and the order guard: an event waits while an earlier
        # one of its ticket and subscription is pending (services.notifications.outbox.claim_due).
        Index("ix_outbox_subscription_ticket", "subscription_id", "ticket_id", "id"),
        # The claim's order, to the last column: the first due row that is not waiting behind
        # an earlier event of its ticket is found by walking this index, never by sorting
        # every due row (many share one instant: events published in one transaction).
        Index("ix_outbox_due", "state", "available_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Makes enqueueing idempotent: the same cause (ticket, kind, revision) never yields two.
    dedup_key: str = Field(max_length=255, unique=True)
    # What it says, as facts (OutboxFacts as JSON): decided when it is queued. Null on the
    # rows queued written out, before facts were kept.
    facts: dict[str, Any] | None = Field(default=None, sa_type=NullableJSON)
    # The email as it is sent (from, to, subject, text, html, date, headers), or the webhook's
    # JSON: written from the facts once, when the worker first takes the row; null until then.
    # A resend sends it as it was written: the same bytes, the same Message-ID.
    payload: dict[str, Any] | None = Field(default=None, sa_type=NullableJSON)
    # A worker's claim: until then no other worker takes the row; after, it is free again
    # (the worker died), and is sent again with the same Message-ID.
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    leased_by: str | None = Field(default=None, max_length=64)
    # An event's subscription (channel `event`): deleting it deletes its deliveries.
    subscription_id: int | None = Field(
        default=None, foreign_key="webhook_subscription.id", ondelete="CASCADE"
    )


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
