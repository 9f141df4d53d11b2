"""Schemas of the SLA views: preview, breaches, at-risk."""

from datetime import datetime

import pydantic
from pydantic import ConfigDict, EmailStr

from app.enums import Category, Coverage, Policy
from app.models.common import Input, Instant, Schema
from app.models.ticket import AcceptedChannel


class SlaPreviewIn(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "received_at": "2026-11-28T10:00:00+01:00",
                "from_email": "mario@rossi.it",
                "subject": "URGENTE: posta non funziona",
                "channel": "email",
            }
        },
    )

    received_at: Instant
    """When a request like this would arrive."""
    from_email: EmailStr
    """Its sender's address (decides customer and contract, R1)."""
    subject: str = pydantic.Field(default="", max_length=998)
    """Its subject (URGENTE claims urgency, R12)."""
    channel: AcceptedChannel
    """email or web_form (R6, R7)."""
    category: Category | None = None
    """What it is about, if known (coverage, R3)."""


class SlaPreview(Schema):
    """What a request like this would get."""

    customer_id: int | None
    """The customer the sender matches; null: unknown (R2)."""
    contract_id: int | None
    """The contract in force at that time; null: none (R2)."""
    coverage: Coverage
    """contract, not_covered (R3) or no_contract (R2)."""
    urgent: bool
    """Handled first (R12)."""
    policy: Policy
    """contract, on_call (R16) or support (R2)."""
    clock_started_at: datetime | None
    """When business time would start to run (R8)."""
    take_charge_due_at: datetime | None
    """The take-charge deadline; null with no commitment."""
    target_seconds: int | None
    """The commitment in business seconds; null without one."""
    billable: bool
    """Billed on top of the annual fee (R2, R3, R13)."""
    billing_reasons: list[str]
    """no_contract, not_covered, priority_surcharge."""
    on_call_alert: bool
    """Urgent and received while the calendar is closed: on-call staff would be alerted (R15, R17).
    """
