"""Time recorded on tickets, and the billing lines that go beyond the contract (R2, R4, R13)."""

import re
from datetime import date, datetime
from decimal import Decimal

import pydantic
from sqlalchemy import Numeric
from sqlmodel import Field, SQLModel

from app.enums import BillingReason, Consent
from app.models.base import UTCDateTime, utcnow
from app.models.common import MAX_ID, Input, Schema

ITEM_ID_PATTERN = r"^[1-9][0-9]{0,9}:(no_contract|not_covered|priority_surcharge)$"


class TimeEntry(SQLModel, table=True):
    """Minutes of work a staff member recorded on a ticket."""

    __tablename__ = "time_entry"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True, ondelete="CASCADE")
    author: str = Field(max_length=200)
    minutes: int
    note: str = Field(default="", max_length=2000)
    billable: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BilledItem(SQLModel, table=True):
    """A billing line marked billed: its figures as invoiced, so it is never billed twice."""

    __tablename__ = "billed_item"

    id: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(max_length=64, unique=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True, ondelete="RESTRICT")
    reason: str = Field(max_length=32)
    minutes: int
    amount: Decimal = Field(sa_type=Numeric(12, 2))
    invoice_ref: str = Field(max_length=100)
    billed_by: str = Field(max_length=200)
    billed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- API schemas -------------------------------------------------------------------------


class TimeEntryCreate(Input):
    minutes: int = pydantic.Field(ge=1, le=24 * 60)
    """Minutes of work (1 to 1440)."""
    note: str = pydantic.Field(default="", max_length=2000)
    """What was done."""
    billable: bool | None = None
    """Whether it counts for billing; by default, whether the ticket is billable (R2, R4, R13)."""


class TimeEntryRead(Schema):
    id: int
    """The entry's id."""
    ticket_id: int
    """The ticket it was recorded on."""
    author: str
    """Who recorded it (the token's name); only they or an admin may delete it."""
    minutes: int
    """Minutes of work."""
    note: str
    """What was done."""
    billable: bool
    """Whether it counts for billing."""
    created_at: datetime
    """When it was recorded."""


class BillingLine(Schema):
    """One billable item: a ticket and a reason, with its time, rate and amount."""

    item_id: str
    """`{ticket_id}:{reason}`: what `POST /billing/mark-billed` takes."""
    ticket_id: int
    """The ticket."""
    ticket_number: str
    """Its number."""
    customer_id: int | None
    """The customer; null for a sender no customer matches (R2)."""
    customer_name: str | None
    """The customer's name."""
    from_email: str
    """Who asked."""
    received_at: datetime
    """When the request arrived (its month is the billing month)."""
    reason: BillingReason
    """no_contract (R2), not_covered (R4, R5) or priority_surcharge (R13)."""
    recorded_minutes: int
    """Billable minutes recorded on the ticket."""
    minutes: int
    """Minutes charged: at least the minimum charge, rounded up to the increment."""
    hourly_rate: Decimal
    """The support rate (EUR per hour)."""
    amount: Decimal
    """EUR; for a priority surcharge, the percentage of the time at the support rate, or the
    fixed amount."""
    state: str
    """`open`, or `billed` (then the figures are those invoiced)."""
    consent: Consent = Consent.NOT_NEEDED
    """The customer's consent to the billable work: given, pending, declined (not_needed once
    triage made the ticket covered); a line is billed only with it, unless `force`."""
    invoice_ref: str | None = None
    """The invoice it was billed on."""
    billed_at: datetime | None = None
    """When it was marked billed."""


class CustomerTotal(Schema):
    customer_id: int | None
    """The customer (null: senders no customer matches)."""
    customer_name: str | None
    """Its name."""
    open: Decimal
    """EUR not billed yet."""
    billed: Decimal
    """EUR billed."""
    lines: int
    """How many lines."""


class BillingReport(Schema):
    """Billable items of the requests received in a month (Europe/Rome)."""

    month: str
    """YYYY-MM."""
    first_day: date
    """The month's first day."""
    currency: str
    """Always EUR."""
    lines: list[BillingLine]
    """By customer, then ticket."""
    totals: list[CustomerTotal]
    """Per customer."""
    total_open: Decimal
    """EUR not billed yet, all customers."""
    total_billed: Decimal
    """EUR billed, all customers."""


class MarkBilledIn(Input):
    item_ids: list[str] = pydantic.Field(min_length=1, max_length=1000)
    """The lines' `item_id`s."""
    invoice_ref: str = pydantic.Field(min_length=1, max_length=100)
    """The invoice they go on."""
    force: bool = False
    """Bill lines whose customer has not agreed to the work (logged); otherwise 409."""

    @pydantic.field_validator("item_ids")
    @classmethod
    def _shape(cls, value: list[str]) -> list[str]:
        bad = [
            item
            for item in value
            if not re.fullmatch(ITEM_ID_PATTERN, item) or int(item.split(":")[0]) > MAX_ID
        ]
        if bad:
            raise ValueError(
                f"not item ids ({{ticket_id}}:{{reason}}, the ticket id at most {MAX_ID}): "
                f"{', '.join(bad[:5])}"
            )
        if len(set(value)) != len(value):
            raise ValueError("an item id is given twice")
        return value


class MarkBilledOut(Schema):
    invoice_ref: str
    """The invoice."""
    lines: list[BillingLine]
    """The lines now billed, with the figures invoiced."""
