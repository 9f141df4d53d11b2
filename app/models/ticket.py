"""Support requests (tickets), their audit trail and their SLA snapshot."""

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.models.base import JSONType, UTCDateTime, utcnow

STATUSES = ("new", "taken_in_charge", "in_progress", "waiting_third_party", "resolved", "closed")
CHANNELS = ("email", "web_form")  # R6; R7: no phone channel


class Ticket(SQLModel, table=True):
    __tablename__ = "ticket"
    __table_args__ = (
        Index("ix_ticket_status_urgent_due", "status", "urgent", "take_charge_due_at", "id"),
        Index("ix_ticket_customer_id_received_at", "customer_id", "received_at"),
        Index("ix_ticket_contract_id_received_at", "contract_id", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str | None = Field(default=None, max_length=32, unique=True)
    status: str = Field(default="new", max_length=32)
    channel: str = Field(max_length=16)
    subject: str = Field(default="", max_length=998)
    body: str = Field(default="")
    from_email: str = Field(max_length=320, index=True)
    from_name: str = Field(default="", max_length=200)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", ondelete="SET NULL")
    contract_id: int | None = Field(default=None, foreign_key="contract.id", ondelete="SET NULL")
    category: str | None = Field(default=None, max_length=32)
    urgent: bool = False
    urgency: str = Field(default="none", max_length=16)
    priority_handling: bool = False
    coverage: str = Field(default="no_contract", max_length=16)
    billable: bool = False
    billing_reasons: list[str] = Field(default_factory=list, sa_type=JSONType)
    received_at: datetime = Field(sa_type=UTCDateTime)
    estimated_resolution_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    taken_in_charge_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution: str | None = None
    delivery_mode: str | None = Field(default=None, max_length=16)
    # SLA snapshot taken at creation (recomputed only by an explicit, logged action).
    sla_policy: str = Field(default="support", max_length=16)
    sla_calendar: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    sla_target_seconds: int | None = None
    clock_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    take_charge_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    on_call_alert: bool = False
    auto_submitted: bool = False
    parent_ticket_id: int | None = Field(default=None, foreign_key="ticket.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TicketEvent(SQLModel, table=True):
    """The audit trail: who did what to a ticket, when, from which state to which."""

    __tablename__ = "ticket_event"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True, ondelete="CASCADE")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    from_status: str | None = Field(default=None, max_length=32)
    to_status: str | None = Field(default=None, max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
