"""Schemas of the SLA views: preview, breaches, at-risk."""

from datetime import datetime

import pydantic
from pydantic import BaseModel, ConfigDict, EmailStr

from app.enums import Category, Coverage, Policy
from app.models.common import Input, Instant
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
    from_email: EmailStr
    subject: str = pydantic.Field(default="", max_length=998)
    channel: AcceptedChannel
    category: Category | None = None


class SlaPreview(BaseModel):
    """What a request like this would get."""

    customer_id: int | None
    contract_id: int | None
    coverage: Coverage
    urgent: bool
    policy: Policy
    clock_started_at: datetime | None
    take_charge_due_at: datetime | None
    target_seconds: int | None
    billable: bool
    billing_reasons: list[str]
    on_call_alert: bool
