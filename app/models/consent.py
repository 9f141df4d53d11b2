"""The customer's answer to billable work (R2, R4, R5, R13): given or declined, once, kept as
it was given (the rate text shown and its version, the status link used, the client address)."""

from datetime import datetime
from typing import Literal

import pydantic
from pydantic import ConfigDict
from sqlmodel import Field, SQLModel

from app.enums import Consent
from app.models.base import JSONType, UTCDateTime
from app.models.common import Input, Schema

ConsentDecision = Literal[Consent.GIVEN, Consent.DECLINED]


class ConsentRecord(SQLModel, table=True):
    """An answer to billable work, written once, never changed: one per set of billing reasons
    asked about (a ticket that becomes billable for a new reason is asked again)."""

    __tablename__ = "consent_record"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True, ondelete="CASCADE")
    decision: str = Field(max_length=16)
    decided_at: datetime = Field(sa_type=UTCDateTime)
    via: str = Field(max_length=16)  # status_page, or staff (given by other means)
    status_link_id: int | None = Field(
        default=None, foreign_key="status_link.id", ondelete="SET NULL"
    )
    client_address: str | None = Field(default=None, max_length=64)
    language: str = Field(max_length=8)
    rate_text: str
    rate_version: str = Field(max_length=32)
    actor: str | None = Field(default=None, max_length=200)
    note: str = ""
    reasons: list[str] = Field(default_factory=list, sa_type=JSONType)
    """The billing reasons the answer was about: a reason added later is asked about again."""


class ConsentRead(Schema):
    """A ticket's consent: its state, and the record of the answer once there is one."""

    state: Consent
    """pending, given, declined or not_needed (nothing billable)."""
    decided_at: datetime | None = None
    """When the customer (or staff, for an answer given by other means) answered."""
    via: Literal["status_page", "staff"] | None = None
    """Where: the status page's button, or staff recording an answer given by other means."""
    status_link_id: int | None = None
    """The status link used (its id; the token itself is never shown)."""
    client_address: str | None = None
    """The address the status page was answered from."""
    rate_text: str | None = None
    """The rates as the customer read them (or as they stood when staff recorded it)."""
    rate_version: str | None = None
    """The version of that text: a digest of it."""
    actor: str | None = None
    """The staff member who recorded an answer given by other means."""
    note: str | None = None
    """How it was given, for an answer recorded by staff."""
    billing_reasons: list[str] = []
    """Why the work is billable now."""


class ConsentIn(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"decision": "given", "note": "Confermato per email il 7/12 da M. Rossi."}
        },
    )

    decision: ConsentDecision = Consent.GIVEN
    """given (the default) or declined."""
    note: str = pydantic.Field(min_length=1, max_length=2000)
    """How the customer answered (an email, a signed order): kept with the record."""
