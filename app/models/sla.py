"""Schemas of the SLA views: preview, breaches, at-risk."""

from datetime import datetime
from typing import Annotated, Literal

import pydantic
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, EmailStr

from app.models.contract import Category
from app.models.ticket import Channel, _accepted_channel


class SlaPreviewIn(BaseModel):
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

    received_at: AwareDatetime
    from_email: EmailStr
    subject: str = pydantic.Field(default="", max_length=998)
    channel: Annotated[Channel, BeforeValidator(_accepted_channel)]
    category: Category | None = None


class SlaPreview(BaseModel):
    """What a request like this would get."""

    customer_id: int | None
    contract_id: int | None
    coverage: Literal["contract", "not_covered", "no_contract"]
    urgent: bool
    policy: Literal["contract", "on_call", "support"]
    clock_started_at: datetime | None
    take_charge_due_at: datetime | None
    target_seconds: int | None
    billable: bool
    billing_reasons: list[str]
    on_call_alert: bool
