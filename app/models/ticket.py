"""Support requests (tickets), their audit trail and their SLA snapshot."""

from datetime import datetime
from typing import Annotated, Any, Literal

import pydantic
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    field_validator,
)
from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from app.enums import (
    BillingReason,
    Category,
    Channel,
    Coverage,
    DeliveryMode,
    Policy,
    SlaState,
    Status,
    Urgency,
)
from app.models.base import EnumString, JSONType, UTCDateTime, utcnow
from app.models.common import Input, Instant

OPEN_PREDICATE = "status NOT IN ('resolved', 'closed')"
BREACH_PREDICATE = f"{OPEN_PREDICATE} AND breach_at IS NOT NULL"


class TicketBase(SQLModel):
    """What every view of a ticket shows; the table adds the SLA snapshot and queue columns."""

    status: Status = Field(default=Status.NEW, sa_type=EnumString(Status, 32))
    channel: Channel = Field(sa_type=EnumString(Channel, 16))
    subject: str = Field(default="", max_length=998)
    body: str = Field(default="")
    from_email: str = Field(max_length=320, index=True)
    from_name: str = Field(default="", max_length=200)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", ondelete="SET NULL")
    contract_id: int | None = Field(default=None, foreign_key="contract.id", ondelete="SET NULL")
    category: Category | None = Field(default=None, sa_type=EnumString(Category, 32))
    urgent: bool = False
    urgency: Urgency = Field(default=Urgency.NONE, sa_type=EnumString(Urgency, 16))
    priority_handling: bool = False
    coverage: Coverage = Field(default=Coverage.NO_CONTRACT, sa_type=EnumString(Coverage, 16))
    billable: bool = False
    billing_reasons: list[BillingReason] = Field(default_factory=list, sa_type=JSONType)
    received_at: datetime = Field(sa_type=UTCDateTime)
    estimated_resolution_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    taken_in_charge_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution: str | None = None
    delivery_mode: DeliveryMode | None = Field(default=None, sa_type=EnumString(DeliveryMode, 16))
    auto_submitted: bool = False
    parent_ticket_id: int | None = Field(default=None, foreign_key="ticket.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Ticket(TicketBase, table=True):
    """A support request; written by app.services.tickets (intake and lifecycle) only."""

    __tablename__ = "ticket"
    __table_args__ = (
        # The work queue: open tickets, urgent first, then nearest deadline (R12, R17).
        Index(
            "ix_ticket_queue_open",
            "priority",
            "queue_due_at",
            "id",
            postgresql_where=text(OPEN_PREDICATE),
            sqlite_where=text(OPEN_PREDICATE),
        ),
        # Open tickets with a breach time: `sla_state=breached` / at-risk pages stay fast even
        # when a handful of breaches hide among thousands of open tickets.
        Index(
            "ix_ticket_queue_breach",
            "priority",
            "queue_due_at",
            "id",
            postgresql_where=text(BREACH_PREDICATE),
            sqlite_where=text(BREACH_PREDICATE),
        ),
        Index("ix_ticket_queue", "priority", "queue_due_at", "id"),
        Index("ix_ticket_customer_id_received_at", "customer_id", "received_at"),
        Index("ix_ticket_contract_id_received_at", "contract_id", "received_at"),
        Index("ix_ticket_received_at", "received_at"),
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


class TicketEventBase(SQLModel):
    """One entry of the audit trail: who did what to a ticket, when, from which state."""

    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    from_status: str | None = Field(default=None, max_length=32)
    to_status: str | None = Field(default=None, max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)


class TicketEvent(TicketEventBase, table=True):
    __tablename__ = "ticket_event"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True, ondelete="CASCADE")


class TicketEventRead(TicketEventBase):
    id: int


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
    from_email: EmailStr
    from_name: str = pydantic.Field(default="", max_length=200)
    subject: str = pydantic.Field(default="", max_length=998)
    body: str = pydantic.Field(default="", max_length=MAX_BODY_CHARS)
    received_at: Instant | None = pydantic.Field(
        default=None,
        description="When the request reached the service; defaults to now. "
        "Set it to import history; never in the future.",
    )
    category: Category | None = None

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
    customer_id: int | None = pydantic.Field(default=None, ge=1, le=2**31 - 1)
    urgency: StaffUrgency | None = pydantic.Field(
        default=None, description="Staff decision on a claimed urgency (R13)."
    )
    priority_handling: bool | None = pydantic.Field(
        default=None, description="Handled with priority at the customer's request (R13)."
    )
    estimated_resolution_at: Instant | None = None


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
    note: str = pydantic.Field(default="", max_length=5000)


class ResolveIn(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"resolution": "Riavviato il servizio PHP-FPM.", "delivery_mode": "remote"}
        },
    )

    resolution: str = pydantic.Field(min_length=1, max_length=20_000)
    delivery_mode: DeliveryMode


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
    note: str = pydantic.Field(default="", max_length=5000)


class SlaBlock(BaseModel):
    """Where the request stands against its take-charge deadline, computed at request time."""

    policy: Policy
    state: SlaState
    clock_started_at: datetime | None
    take_charge_due_at: datetime | None
    taken_in_charge_at: datetime | None
    business_seconds_elapsed: int
    business_seconds_remaining: int | None
    target_seconds: int | None
    on_call_alert: bool


class TicketRead(TicketBase):
    id: int
    number: str
    sla: SlaBlock


class TicketPage(BaseModel):
    """A page of tickets in queue order; pass `next_cursor` back as `cursor` for the next."""

    items: list[TicketRead]
    limit: int
    next_cursor: str | None
