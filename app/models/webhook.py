"""Webhook subscriptions: internal tools hear what happens, as signed events (Standard
Webhooks). An event is queued in the outbox, one row per subscription wanting it, in the
transaction of its cause (services.webhooks.events)."""

from datetime import datetime
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

import pydantic
from pydantic import AwareDatetime, field_validator
from sqlmodel import Field, SQLModel

from app.enums import EventType, OutboxState
from app.models.base import JSONType, Sealed, UTCDateTime, utcnow
from app.models.common import Input, Schema

MAX_OVERLAP_HOURS = 24 * 7


class WebhookSubscription(SQLModel, table=True):
    """Where events go, which ones, and the secrets they are signed with."""

    __tablename__ = "webhook_subscription"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    events: list[str] = Field(default_factory=list, sa_type=JSONType)
    description: str = Field(default="", max_length=500)
    enabled: bool = True
    # `whsec_` and base64: the key that signs; never shown after it is made. Both secrets are
    # stored sealed (app.sealing: 164 characters for the 50 of a secret).
    secret: str = Field(sa_type=Sealed(200))
    # The secret before the last rotation: it signs too, until `previous_secret_until`.
    previous_secret: str | None = Field(default=None, sa_type=Sealed(200))
    previous_secret_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Why it was disabled by Sportello (the receiver answered 410 Gone), if it was.
    disabled_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def _checked_url(value: str) -> str:
    """https anywhere; plain http only to this machine (a receiver under test)."""
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return value
    raise ValueError("must be an https URL, or http to this machine (localhost, 127.0.0.1, ::1)")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _distinct(events: list[EventType]) -> list[EventType]:
    return list(dict.fromkeys(events))


class WebhookCreate(Input):
    """A subscription: where, which events, what for."""

    url: str = pydantic.Field(
        max_length=2000, examples=["https://tools.example.com/sportello/events"]
    )
    """The receiver: https, or http to this machine (tests)."""
    events: list[EventType] = pydantic.Field(min_length=1, examples=[["ticket.created"]])
    """The event types it wants (docs/webhooks.md)."""
    description: str = pydantic.Field(default="", max_length=500)
    """What it is for, for staff."""
    enabled: bool = True
    """Whether events are queued for it."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _checked_url(value)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[EventType]) -> list[EventType]:
        return _distinct(value)


class WebhookUpdate(Input):
    """What changes; omitted fields stay."""

    url: str | None = pydantic.Field(default=None, max_length=2000)
    """The receiver: https, or http to this machine (tests)."""
    events: list[EventType] | None = pydantic.Field(default=None, min_length=1)
    """The event types it wants."""
    description: str | None = pydantic.Field(default=None, max_length=500)
    """What it is for."""
    enabled: bool | None = None
    """Enabling it again clears why it was disabled; events resume from then."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _checked_url(value)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[EventType] | None) -> list[EventType] | None:
        return None if value is None else _distinct(value)


class RotateIn(Input):
    """How long the old secret keeps signing next to the new one."""

    overlap_hours: float = pydantic.Field(default=24, ge=0, le=MAX_OVERLAP_HOURS)
    """Both secrets sign every delivery for this long (0: the old one stops at once)."""


class WebhookRead(Schema):
    """A subscription, without its secret."""

    id: int
    """Its id."""
    url: str
    """The receiver."""
    events: list[EventType]
    """The event types it wants."""
    description: str
    """What it is for."""
    enabled: bool
    """Whether events are queued for it."""
    disabled_reason: str | None
    """Why Sportello disabled it (its receiver answered 410 Gone), if it did."""
    previous_secret_until: AwareDatetime | None
    """Until when the secret before the last rotation still signs, if it does."""
    created_at: AwareDatetime
    """When it was made."""


class WebhookSecret(Schema):
    """A new secret, shown this once: keep it where the receiver reads it."""

    id: int
    """The subscription's id."""
    secret: str
    """`whsec_` then base64: what any Standard Webhooks library's `Webhook(secret)` takes."""
    previous_secret_until: AwareDatetime | None
    """Until when the previous secret still signs too (rotation); null for a new one."""


class WebhookCreated(WebhookRead):
    """A new subscription, with its secret shown this once."""

    secret: str
    """`whsec_` then base64: what any Standard Webhooks library's `Webhook(secret)` takes."""


class WebhookDeliveryAttempt(Schema):
    """One try at delivering an event."""

    at: AwareDatetime
    """When."""
    worker: str
    """Which worker tried."""
    ok: bool
    """Whether the receiver accepted it (2xx)."""
    error: str | None
    """Why not: the HTTP status or the network error."""


class WebhookDelivery(Schema):
    """An event on its way to one subscription, and every attempt at it."""

    id: int
    """The delivery's id (for `redeliver`)."""
    event_id: str
    """The event's id: the `webhook-id` header, the same on every attempt."""
    type: EventType
    """The event type."""
    ticket_id: int | None
    """The ticket it is about, if any."""
    state: OutboxState
    """pending, sent, failed (given up) or cancelled (its subscription was disabled)."""
    last_error: str | None
    """Why the last attempt failed."""
    created_at: AwareDatetime
    """When the event happened."""
    sent_at: AwareDatetime | None
    """When the receiver accepted it."""
    attempts: list[WebhookDeliveryAttempt]
    """Every attempt, oldest first."""


class WebhookDeliveryPage(Schema):
    """Deliveries newest first; pass `next_cursor` back as `cursor`."""

    items: list[WebhookDelivery]
    """The deliveries."""
    next_cursor: int | None
    """The cursor of the next page; null on the last."""


# --- The events, as receivers read them -------------------------------------------------


class EventSla(Schema):
    """The ticket's take-charge SLA when the event happened."""

    policy: str
    """contract, on_call or support."""
    state: str
    """pending, at_risk, met, breached or not_applicable, at the event's time."""
    take_charge_due_at: AwareDatetime | None
    """The take-charge deadline; null without a commitment."""
    at_risk_at: AwareDatetime | None
    """When it becomes at risk; null without a commitment."""
    taken_in_charge_at: AwareDatetime | None
    """When it was taken in charge; null until then."""


class EventTicket(Schema):
    """The ticket an event is about."""

    id: int
    """Its id in the API (`GET /api/v1/tickets/{id}`)."""
    number: str
    """The number the customer knows, YYYY-NNNNNN (the year it was received, in Rome)."""
    status: str
    """Its status after the event."""
    subject: str
    """Its subject."""
    urgent: bool
    """Whether it is urgent (R12)."""
    sla: EventSla
    """Where it stands against its deadline."""


class TicketData(Schema):
    """The data of a ticket event."""

    ticket: EventTicket
    """The ticket, as it is after the event."""


class MessageData(TicketData):
    """A message joined the ticket (a customer's reply)."""

    message_id: int
    """The message's id in the ticket's conversation."""


class ReplyData(TicketData):
    """A staff member wrote to the customer from the desk (the email is queued)."""

    message_id: int
    """The reply's id in the ticket's conversation."""
    author_id: int | None
    """The staff member who wrote it; null for a token without a staff member."""
    author_name: str
    """Their name, as the email's sender shows it."""
    took_charge: bool
    """Whether the ticket was taken in charge with it (one email says both)."""
    resolved: bool
    """Whether the ticket was resolved with it (one email says both)."""


class AssignedData(TicketData):
    """The ticket's owner changed."""

    assignee_id: int | None
    """The staff member who owns it now; null: nobody."""
    previous_assignee_id: int | None
    """Who owned it before; null: nobody."""
    by: str
    """Who gave it (a staff member's name), or took it in charge without an owner."""


class EmailFailedData(Schema):
    """An email to a customer was given up on."""

    ticket: EventTicket | None
    """The ticket it was about, if any."""
    kind: str
    """What it was, e.g. customer.receipt."""
    outbox_id: int
    """Its outbox row (`POST /api/v1/outbox/{id}/retry` sends it again)."""
    error: str
    """Why it failed."""


class MailboxFailingData(Schema):
    """A mailbox could not be read (told once per run of failures)."""

    mailbox_id: int
    """The mailbox's id."""
    name: str
    """Its name."""
    error: str
    """Why it could not be read."""


class QuarantinedData(Schema):
    """A delivery could not be made a ticket and is kept in the quarantine."""

    quarantine_id: int
    """The item's id (`GET /api/v1/quarantine/{id}`)."""
    source: str
    """Where it came from: a provider's webhook or `mailbox:<id>`."""
    reason: str
    """Why it is held."""
    subject: str | None
    """Its subject, if readable."""


class EventContract(Schema):
    """The contract an event is about (R1)."""

    id: int
    """Its id in the API (`GET /api/v1/contracts/{id}`)."""
    code: str
    """Its code."""
    customer_id: int
    """The customer's id."""
    customer_name: str
    """The customer's name."""
    starts_on: str
    """Its first day (ISO date)."""
    ends_on: str
    """Its last day in force (ISO date)."""
    annual_fee: str
    """The annual fee, a decimal string."""
    proposal_ref: str
    """The commercial proposal it comes from."""


class ContractData(Schema):
    """A contract reached a reminder step of its end (told once per step)."""

    contract: EventContract
    """The contract, not renewed yet."""
    step: str
    """The step: `60d`, `15d` (days before its last day, SPORTELLO_RENEWAL_STEPS_DAYS) or
    `lapsed`."""
    days_left: int
    """Days from the event's day to its last day; negative once lapsed."""


EVENT_DATA: dict[EventType, type[Schema]] = {
    EventType.TICKET_CREATED: TicketData,
    EventType.TICKET_MESSAGE_RECEIVED: MessageData,
    EventType.TICKET_REPLIED: ReplyData,
    EventType.TICKET_TAKEN_IN_CHARGE: TicketData,
    EventType.TICKET_RESOLVED: TicketData,
    EventType.TICKET_REOPENED: TicketData,
    EventType.TICKET_ASSIGNED: AssignedData,
    EventType.SLA_AT_RISK: TicketData,
    EventType.SLA_BREACHED: TicketData,
    EventType.EMAIL_FAILED: EmailFailedData,
    EventType.MAILBOX_FAILING: MailboxFailingData,
    EventType.MESSAGE_QUARANTINED: QuarantinedData,
    EventType.CONTRACT_ENDING: ContractData,
    EventType.CONTRACT_LAPSED: ContractData,
}
"""Each event type's `data`: the catalogue of docs/webhooks.md."""

EVENT_SUMMARY: dict[EventType, str] = {
    EventType.TICKET_CREATED: "A request became a ticket (email, web form or API).",
    EventType.TICKET_MESSAGE_RECEIVED: "A customer's message joined an existing ticket.",
    EventType.TICKET_REPLIED: "A staff member replied to the customer; the email is queued.",
    EventType.TICKET_TAKEN_IN_CHARGE: "Staff took the ticket in charge (R9).",
    EventType.TICKET_RESOLVED: "Staff resolved the ticket (R14).",
    EventType.TICKET_REOPENED: "A resolved ticket was reopened (by staff or a reply).",
    EventType.TICKET_ASSIGNED: "The ticket's owner changed (given, taken back, or set by "
    "taking it in charge without one).",
    EventType.SLA_AT_RISK: "An untaken ticket reached an alert step before its deadline.",
    EventType.SLA_BREACHED: "An untaken ticket passed its take-charge deadline.",
    EventType.EMAIL_FAILED: "An email to a customer failed for good (R11, R17).",
    EventType.MAILBOX_FAILING: "An IMAP mailbox started failing to be read.",
    EventType.MESSAGE_QUARANTINED: "An incoming delivery was kept in the quarantine.",
    EventType.CONTRACT_ENDING: "A contract not yet renewed reached a reminder step before its "
    "last day (R1).",
    EventType.CONTRACT_LAPSED: "A contract's last day passed and it was not renewed: the "
    "customer's requests are handled at support rates (R2).",
}


class Event(Schema):
    """What a receiver gets: the body of every delivery."""

    id: str
    """The event's id, also the `webhook-id` header: the same on every attempt."""
    type: EventType
    """What happened."""
    timestamp: AwareDatetime
    """When it happened (UTC)."""
    data: dict[str, Any]
    """The facts, shaped by `type` (see the catalogue)."""
