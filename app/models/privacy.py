"""A person's or a customer's data: the export's document (art. 15 and 20 GDPR) and the record
of an erasure (art. 17), which never holds what was erased."""

from datetime import date, datetime
from typing import Any

import pydantic
from pydantic import ConfigDict, EmailStr, JsonValue
from sqlmodel import Field, SQLModel

from app.models.base import JSONType, MoneyOut, UTCDateTime
from app.models.common import Input, Schema

EXPORT_FORMAT = "sportello-export/1"


class ExportFile(Schema):
    """A file of the conversation, stored in the ZIP at `path`."""

    id: int
    """The attachment's id."""
    filename: str
    """Its (sanitised) name."""
    content_type: str
    """The type it was declared with."""
    size: int
    """Its size in bytes."""
    sha256: str
    """The SHA-256 of its bytes, hex: the file at `path` has it."""
    path: str
    """Where it is in the ZIP, e.g. tickets/2026-000042/attachments/7-schermata.png."""


class ExportMessage(Schema):
    """One message of the conversation."""

    id: int
    """The message's id."""
    kind: str
    """inbound (the person's), reply (staff's email), automatic (our letters) or note
    (internal, only with include_internal=true)."""
    from_email: str
    """Who sent it."""
    from_name: str
    """Their name."""
    to: list[str]
    """Who it was sent to."""
    subject: str
    """Its subject."""
    text: str
    """Its plain text."""
    received_at: datetime
    """When it was received or written."""
    attachments: list[ExportFile]
    """Its files."""


class ExportMessageElsewhere(ExportMessage):
    """A message the person sent or was sent on a ticket that is not theirs (copied to them,
    say)."""

    ticket_number: str
    """The ticket it belongs to."""


class ExportEvent(Schema):
    """One step of the ticket's status history."""

    at: datetime
    """When."""
    kind: str
    """What happened (created, taken_in_charge, resolved, ...)."""
    from_status: str | None
    """The status before."""
    to_status: str | None
    """The status after."""
    data: dict[str, JsonValue] | None = None
    """The details, only with include_internal=true (they may hold staff's notes)."""


class ExportTimeEntry(Schema):
    """Time recorded on the ticket."""

    minutes: int
    """Minutes of work."""
    note: str
    """What was done."""
    billable: bool
    """Whether it counts for billing."""
    created_at: datetime
    """When it was recorded."""


class ExportBilledLine(Schema):
    """A billing line as it was invoiced."""

    reason: str
    """no_contract, not_covered or priority_surcharge."""
    minutes: int
    """Minutes charged."""
    amount: MoneyOut
    """EUR, a decimal string with two places."""
    invoice_ref: str
    """The invoice."""
    billed_at: datetime
    """When it was billed."""


class ExportConsent(Schema):
    """The customer's answer to billable work (R2, R4, R5, R13), as it was recorded."""

    decision: str
    """given or declined."""
    decided_at: datetime
    """When."""
    via: str
    """status_page (the button) or staff (an answer given by other means)."""
    client_address: str | None
    """The address the status page was answered from."""
    language: str
    """The language of the rate text."""
    rate_text: str
    """The rates as the customer read them."""
    rate_version: str
    """The version of that text."""
    note: str
    """How it was given, for an answer recorded by staff."""
    reasons: list[str]
    """The billing reasons it answered."""


class ExportTicket(Schema):
    """A request with its conversation, history and billing."""

    id: int
    """The ticket's id."""
    number: str
    """Its number."""
    status: str
    """Its status."""
    channel: str
    """email or web_form."""
    subject: str
    """The subject."""
    from_email: str
    """Who asked."""
    from_name: str
    """Their name."""
    category: str | None
    """What it is about."""
    received_at: datetime
    """When it arrived."""
    taken_in_charge_at: datetime | None
    """When it was taken in charge."""
    resolved_at: datetime | None
    """When it was resolved."""
    resolution: str | None
    """What was done."""
    messages: list[ExportMessage]
    """The conversation, oldest first."""
    status_history: list[ExportEvent]
    """Its history, oldest first."""
    time_entries: list[ExportTimeEntry]
    """Time recorded."""
    billed_lines: list[ExportBilledLine]
    """Lines invoiced."""
    consents: list[ExportConsent]
    """The customer's answers to billable work, oldest first."""


class ExportContact(Schema):
    """A person who writes for the customer."""

    email: str
    """Their address."""
    name: str
    """Their name."""
    customer_id: int
    """The customer they write for."""


class ExportCustomer(Schema):
    """The customer."""

    id: int
    """Its id."""
    name: str
    """Its name."""
    language: str
    """it or en."""
    email_domains: list[str]
    """Domains whose mail is its."""
    created_at: datetime
    """When it was recorded."""


class ExportContract(Schema):
    """A contract of the customer (R1)."""

    id: int
    """Its id."""
    code: str
    """Its code."""
    starts_on: date
    """First day."""
    ends_on: date
    """Last day."""
    annual_fee: MoneyOut
    """EUR, a decimal string with two places."""
    proposal_ref: str | None
    """The sales proposal."""
    coverage: list[str]
    """Categories covered."""


class ExportDocument(Schema):
    """`data.json` of an export: everything the desk holds of a person or a customer."""

    model_config = ConfigDict(title="Sportello export")

    format: str = EXPORT_FORMAT
    """The document's format and version."""
    exported_at: datetime
    """When it was made."""
    subject: str
    """`customer` or `person`."""
    include_internal: bool
    """Whether internal notes and history details are included (the agency's own use)."""
    customer: ExportCustomer | None
    """The customer (a customer's export)."""
    contacts: list[ExportContact]
    """The people who write for the customer, or the person's own contact records."""
    contracts: list[ExportContract]
    """The customer's contracts."""
    messages_elsewhere: list[ExportMessageElsewhere]
    """A person's messages on tickets they did not ask: the ones they sent or were sent,
    oldest first (erasure finds the same ones)."""
    tickets: list[ExportTicket]
    """The requests, oldest first."""


# --- erasure -----------------------------------------------------------------------------


class Erasure(SQLModel, table=True):
    """An erasure done (art. 17): who asked for it, when, why, which classes of data and how
    many rows; never the erased data itself (not even the address)."""

    __tablename__ = "erasure"

    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=16)  # person | customer
    customer_id: int | None = None  # kept as a number: the customer's row may be anonymous
    reason: str = Field(max_length=1000)
    erased_by: str = Field(max_length=200)
    erased_at: datetime = Field(sa_type=UTCDateTime)
    counts: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)


class ErasureIn(Input):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"reason": "Richiesta del cliente (art. 17)"}}
    )

    reason: str = pydantic.Field(min_length=1, max_length=1000)
    """Why (kept in the erasure's record, with any address in it masked)."""


class PersonErasureIn(ErasureIn):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"email": "mario@rossi.it", "reason": "Richiesta dell'interessato"}
        },
    )

    email: EmailStr
    """The person's address."""


class ErasureRead(Schema):
    """What an erasure removed, or would remove (`dry_run`), counted per class of data."""

    dry_run: bool
    """True: nothing was changed, the counts say what would be."""
    erasure_id: int | None
    """The erasure's record; null for a dry run or when there was nothing left to erase."""
    counts: dict[str, int]
    """Rows changed per class: tickets, messages, attachments, blobs, contacts, ..."""
    total: int
    """All rows changed; 0 when everything was erased already (a second erasure)."""
