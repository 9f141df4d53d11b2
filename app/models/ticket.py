"""Support requests (tickets) and their SLA snapshot; their audit trail is models/audit.py,
their status links models/status_link.py."""

from datetime import date, datetime
from typing import Annotated, Any, Literal

import pydantic
from pydantic import (
    BeforeValidator,
    ConfigDict,
    EmailStr,
    field_validator,
)
from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.enums import (
    BillingReason,
    Category,
    Channel,
    Consent,
    Coverage,
    DeliveryMode,
    Policy,
    SlaState,
    Status,
    Urgency,
)
from app.models.base import EnumString, JSONType, UTCDateTime, partial_index, utcnow
from app.models.calendar import ExplanationRead
from app.models.common import Id, Input, Instant, OneLine, Schema

OPEN_PREDICATE = "status NOT IN ('resolved', 'closed')"
BREACH_PREDICATE = f"{OPEN_PREDICATE} AND breach_at IS NOT NULL"
LATE_PREDICATE = (
    "take_charge_due_at IS NOT NULL"
    " AND (taken_in_charge_at IS NULL OR taken_in_charge_at > take_charge_due_at)"
)
UNTAKEN_PREDICATE = (
    f"{OPEN_PREDICATE} AND taken_in_charge_at IS NULL AND take_charge_due_at IS NOT NULL"
)
# `breach_at >= :now` (at risk, pending) implies `breach_at IS NOT NULL`: the index serves it.
UNTAKEN_BREACH_PREDICATE = (
    f"{OPEN_PREDICATE} AND taken_in_charge_at IS NULL AND breach_at IS NOT NULL"
)


class TicketBase(SQLModel):
    """What every view of a ticket shows; the table adds the SLA snapshot and queue columns."""

    model_config = ConfigDict(use_attribute_docstrings=True)  # type: ignore[assignment]

    status: Status = Field(default=Status.NEW, sa_type=EnumString(Status, 32))
    """Where the request is: new, taken_in_charge, in_progress, waiting_third_party (R10),
    resolved, closed.
    """
    channel: Channel = Field(sa_type=EnumString(Channel, 16))
    """How it arrived: email or web_form (R6; telephone is not a channel, R7)."""
    subject: str = Field(default="", max_length=998)
    """The subject as the customer wrote it (URGENTE in it claims urgency, R12)."""
    body: str = Field(default="")
    """The request's text (the first message)."""
    from_email: str = Field(max_length=320, index=True)
    """The sender's address, lower case; it decides the customer (R1)."""
    from_name: str = Field(default="", max_length=200)
    """The sender's display name, if given."""
    customer_id: int | None = Field(default=None, foreign_key="customer.id", ondelete="SET NULL")
    """The customer matched by the sender's address or domain; null: unknown sender (R2)."""
    contract_id: int | None = Field(default=None, foreign_key="contract.id", ondelete="SET NULL")
    """The contract in force when the request arrived; null: no contract (R2)."""
    contract_lapsed_on: date | None = None
    """The last day of the customer's contract, when it lapsed within
    SPORTELLO_LAPSED_CONTRACT_DAYS before the request and none is in force: handled at support
    rates until it is renewed (R2); null otherwise."""
    category: Category | None = Field(default=None, sa_type=EnumString(Category, 32))
    """What it is about: website, hosting, backup, email, other; null until triaged."""
    urgent: bool = False
    """Handled first in the queue (R12): claimed or confirmed urgency, not rejected."""
    urgency: Urgency = Field(default=Urgency.NONE, sa_type=EnumString(Urgency, 16))
    """none; claimed (URGENTE in the subject); confirmed or rejected by staff (R13)."""
    priority_handling: bool = False
    """The customer asked for priority handling: billed as a surcharge (R13)."""
    coverage: Coverage = Field(default=Coverage.NO_CONTRACT, sa_type=EnumString(Coverage, 16))
    """contract (covered), not_covered (outside the contract's categories, R3) or no_contract (R2).
    """
    billable: bool = False
    """True when the work is billed on top of the annual fee (R2, R3, R13)."""
    billing_reasons: list[BillingReason] = Field(default_factory=list, sa_type=JSONType)
    """Why it is billable: no_contract, not_covered, priority_surcharge."""
    consent: Consent = Field(default=Consent.NOT_NEEDED, sa_type=EnumString(Consent, 16))
    """Whether the customer agreed to billable work: pending, given, declined, or not_needed
    when nothing is billable (R2, R4, R5, R13); asked on the status page."""
    received_at: datetime = Field(sa_type=UTCDateTime)
    """When the request reached the service."""
    estimated_resolution_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """The estimate told to the customer at take-charge (R11); null: not predictable yet."""
    taken_in_charge_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When staff took the request in charge (R9); stops the SLA clock."""
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When it was resolved (R11)."""
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When it was closed; a closed ticket cannot be reopened."""
    resolution: str | None = None
    """What was done, as told to the customer."""
    delivery_mode: DeliveryMode | None = Field(default=None, sa_type=EnumString(DeliveryMode, 16))
    """How the work was delivered: online or remote (R14)."""
    auto_submitted: bool = False
    """The request came from an automatic sender (no automatic answer goes back)."""
    parent_ticket_id: int | None = Field(default=None, foreign_key="ticket.id", ondelete="SET NULL")
    """An earlier ticket this one is linked to (a reply to a closed ticket, or from a stranger)."""
    assignee_id: int | None = Field(
        default=None, foreign_key="staff_member.id", ondelete="SET NULL"
    )
    """The staff member who owns it; null: nobody yet (taking it in charge makes one)."""
    merged_into_id: int | None = Field(default=None, foreign_key="ticket.id", ondelete="SET NULL")
    """Set when it was merged into another ticket (the survivor): it is closed and read-only,
    its conversation, time and history are the survivor's now."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    """When the row was written."""
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    """When the ticket last changed."""


class Ticket(TicketBase, table=True):
    """A support request; written by app.services.tickets (intake and lifecycle) only."""

    __tablename__ = "ticket"
    __table_args__ = (
        # The work queue: open tickets, urgent first, then nearest deadline (R12, R17).
        partial_index(
            "ix_ticket_queue_open",
            "priority",
            "queue_due_at",
            "id",
            where=OPEN_PREDICATE,
        ),
        # Open tickets with a breach time: `sla_state=breached` / at-risk pages stay fast even
        # when a handful of breaches hide among thousands of open tickets.
        partial_index(
            "ix_ticket_queue_breach",
            "priority",
            "queue_due_at",
            "id",
            where=BREACH_PREDICATE,
        ),
        Index("ix_ticket_queue", "priority", "queue_due_at", "id"),
        # `assignee=me`: one staff member's open tickets, in the queue's order.
        partial_index(
            "ix_ticket_assignee_open",
            "assignee_id",
            "priority",
            "queue_due_at",
            "id",
            where=OPEN_PREDICATE,
        ),
        # The console's `consent pending` view (P4): open tickets by consent, in queue order.
        partial_index(
            "ix_ticket_consent_open",
            "consent",
            "priority",
            "queue_due_at",
            "id",
            where=OPEN_PREDICATE,
        ),
        # `sla_state=at_risk`: the few open tickets not taken in charge and not yet in breach,
        # found by breach time without walking the breached ones (bench/console_queue.py).
        partial_index("ix_ticket_untaken_breach", "breach_at", where=UNTAKEN_BREACH_PREDICATE),
        # The SLA alerts' scan (R17) and the deadline feed: open tickets waiting to be taken
        # in charge, by deadline; a few hundred among a million (bench/reports.py).
        partial_index("ix_ticket_untaken", "take_charge_due_at", where=UNTAKEN_PREDICATE),
        Index("ix_ticket_customer_id_received_at", "customer_id", "received_at"),
        Index("ix_ticket_contract_id_received_at", "contract_id", "received_at"),
        Index("ix_ticket_received_at", "received_at"),
        # The statement's breaches: taken in charge late, or not yet (services.reports.statement).
        partial_index("ix_ticket_late", "received_at", where=LATE_PREDICATE),
        # The statement's waits still going on (R10): the few tickets waiting right now.
        partial_index("ix_ticket_waiting", "received_at", where="waiting_since IS NOT NULL"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=32, unique=True)
    # SLA snapshot taken at creation (recomputed only by an explicit, logged action).
    sla_policy: Policy = Field(default=Policy.SUPPORT, sa_type=EnumString(Policy, 16))
    sla_calendar: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    sla_target_seconds: int | None = None
    clock_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    take_charge_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Derived from the snapshot so that the queue order and SLA-state filters are plain,
    # indexable comparisons with `now` (app.services.tickets.snapshot, never by hand):
    priority: int = 1  # 0 urgent, 1 not: urgent first (R12)
    queue_due_at: datetime = Field(sa_type=UTCDateTime)  # the deadline, or far future if none
    at_risk_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    breach_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    on_call_alert: bool = False
    # Business seconds from the clock's start to taking in charge, on the snapshot's calendar:
    # what the monthly statement aggregates (services.reports.statement), derived like the above.
    take_charge_business_seconds: int | None = None
    # R10: wall-clock seconds spent waiting on third parties, and since when it waits now.
    waiting_seconds: int = 0
    waiting_since: datetime | None = Field(default=None, sa_type=UTCDateTime)


# --- API schemas -------------------------------------------------------------------------

StaffUrgency = Literal[Urgency.CONFIRMED, Urgency.REJECTED]  # R13: staff decide a claim
MAX_BODY_CHARS = 200_000


def _accepted_channel(value: object) -> object:
    # R7: telephone requests cannot be taken into account; say which channels can.
    if isinstance(value, str) and value not in set(Channel):
        raise ValueError(
            f"channel {value!r} is not accepted: requests arrive by "
            f"{' or '.join(Channel)} only (R6); telephone requests cannot be "
            "taken into account (R7)"
        )
    return value


AcceptedChannel = Annotated[Channel, BeforeValidator(_accepted_channel)]


class TicketCreate(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "channel": "email",
                "from_email": "mario@rossi.it",
                "from_name": "Mario Rossi",
                "subject": "URGENTE: il sito non risponde",
                "body": "Da stamattina errore 500.",
                "received_at": "2026-11-23T16:00:00+01:00",
                "category": "website",
            }
        },
    )

    channel: AcceptedChannel
    """email or web_form (R6); phone is refused, naming the accepted channels (R7)."""
    from_email: EmailStr
    """The sender's address; it decides customer and contract (R1)."""
    from_name: OneLine = pydantic.Field(default="", max_length=200)
    """The sender's display name (one line: line breaks become spaces)."""
    subject: OneLine = pydantic.Field(default="", max_length=998)
    """The subject (one line); URGENTE in it claims urgency (R12)."""
    body: str = pydantic.Field(default="", max_length=MAX_BODY_CHARS)
    """The request's text."""
    received_at: Instant | None = pydantic.Field(
        default=None,
        description="When the request reached the service; defaults to now. "
        "Set it to import history; never in the future.",
    )
    category: Category | None = None
    """What it is about, if already known (R3 decides coverage from it)."""

    @field_validator("from_email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class TicketUpdate(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"category": "email", "urgency": "rejected", "priority_handling": True}
        },
    )

    category: Category | None = None
    """Triage: what it is about; coverage and billing follow (R3)."""
    customer_id: Id | None = None
    """Triage: the customer, when the sender was not recognised."""
    urgency: StaffUrgency | None = pydantic.Field(
        default=None, description="Staff decision on a claimed urgency (R13)."
    )
    priority_handling: bool | None = pydantic.Field(
        default=None, description="Handled with priority at the customer's request (R13)."
    )
    estimated_resolution_at: Instant | None = None
    """A new estimate; the customer is told (R11)."""
    assignee_id: Id | None = None
    """A new owner (a staff member; null: nobody); they get a staff email if someone else
    gives it to them."""


class AssignIn(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"assignee_id": 3}})

    assignee_id: Id | None
    """The staff member who owns it from now on; null: nobody."""


class MergeIn(Input):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"into": "2026-000041"}}
    )

    into: str = pydantic.Field(
        pattern=r"^([1-9][0-9]{0,9}|[0-9]{4}-[0-9]{6,10})$", examples=["2026-000041"]
    )
    """The surviving ticket: its id or its number."""
    force: bool = False
    """Merge even when the two tickets are of different customers."""


class TakeChargeIn(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "estimated_resolution_at": "2026-11-25T17:00:00+01:00",
                "note": "Verifichiamo il server.",
            }
        },
    )

    estimated_resolution_at: Instant | None = None
    """The estimated resolution told to the customer (R11); null: not predictable yet."""
    note: str = pydantic.Field(default="", max_length=5000)
    """An internal note for the audit trail."""
    proceed_without_consent: bool = False
    """Take charge of billable work the customer has not agreed to (logged): otherwise 409."""


class ResolveIn(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"resolution": "Riavviato il servizio PHP-FPM.", "delivery_mode": "remote"}
        },
    )

    resolution: str = pydantic.Field(min_length=1, max_length=20_000)
    """What was done; sent to the customer (R11)."""
    delivery_mode: DeliveryMode
    """online or remote (R14)."""


class StatusIn(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "status": "waiting_third_party",
                "note": "Guasto del provider, ticket aperto.",
            }
        },
    )

    status: Literal[Status.IN_PROGRESS, Status.WAITING_THIRD_PARTY, Status.CLOSED]
    """in_progress, waiting_third_party (R10), or closed; in_progress on a resolved ticket reopens
    it.
    """
    note: str = pydantic.Field(default="", max_length=5000)
    """Why, for the audit trail."""


class SlaBlock(Schema):
    """Where the request stands against its take-charge deadline, computed at request time."""

    policy: Policy
    """contract (the contract's target), on_call (R16 agreement) or support (no contract, R2)."""
    state: SlaState
    """pending, at_risk, met, breached or not_applicable (no commitment)."""
    clock_started_at: datetime | None
    """When business time started to run: the next opening at or after receipt (R8)."""
    take_charge_due_at: datetime | None
    """The take-charge deadline; null under a policy with no commitment."""
    taken_in_charge_at: datetime | None
    """When it was taken in charge; null while pending."""
    business_seconds_elapsed: int
    """Business seconds from the clock's start to take-charge or now."""
    business_seconds_remaining: int | None
    """Business seconds left before the deadline (0 once breached); null without a deadline."""
    target_seconds: int | None
    """The commitment in business seconds (4 h = 14400); null without one."""
    on_call_alert: bool
    """An urgent request received while the calendar is closed: on-call staff are alerted (R15,
    R17).
    """


class SlaExplained(SlaBlock):
    """The SLA block, and why its deadline is what it is."""

    explanation: ExplanationRead | None
    """From the ticket's own snapshot (the calendar it was computed with, even if it changed
    since); null under a policy with no commitment."""


class TicketRead(TicketBase):
    id: int
    """The ticket's id."""
    number: str
    """The number told to the customer, YYYY-NNNNNN; in every email subject."""
    sla: SlaBlock
    """The SLA block, computed at request time."""


class TicketPage(Schema):
    """A page of tickets in queue order; pass `next_cursor` back as `cursor` for the next."""

    items: list[TicketRead]
    """Tickets in queue order: urgent first (R12), then nearest deadline."""
    limit: int
    """The page size asked for."""
    next_cursor: str | None
    """Pass it back as `cursor` for the next page; null on the last."""
