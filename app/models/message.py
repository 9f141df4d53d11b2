"""Messages exchanged on a ticket and their attachments (stored once per content hash)."""

import re
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import pydantic
from pydantic import Base64Bytes, ConfigDict, EmailStr, field_validator, model_validator
from sqlalchemy import LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.enums import Channel, DeliveryMode, MessageKind
from app.models.base import EnumString, JSONType, UTCDateTime, utcnow
from app.models.common import Input, Instant, OneLine, Schema

MAX_SUBJECT = 998  # characters of a subject (RFC 5322's line limit), in and out


class MessageBase(SQLModel):
    """What the API shows of a message of a ticket's conversation."""

    model_config = ConfigDict(use_attribute_docstrings=True)  # type: ignore[assignment]

    direction: str = Field(max_length=8)  # inbound | outbound | internal
    """inbound (from the customer), outbound (our email) or internal (a note)."""
    kind: MessageKind = Field(default=MessageKind.INBOUND, sa_type=EnumString(MessageKind, 16))
    """inbound (the customer's), reply (a staff member's email), note (internal, never sent)
    or automatic (our form letters)."""
    channel: Channel = Field(sa_type=EnumString(Channel, 16))
    """email or web_form."""
    # RFC 5322 Message-ID without angle brackets: the key for idempotency and threading.
    message_id: str | None = Field(default=None, max_length=998, unique=True)
    """The email's Message-ID (threading: replies name it in In-Reply-To)."""
    from_email: str = Field(default="", max_length=320)
    """The sender's address (for outbound: the support address)."""
    from_name: str = Field(default="", max_length=200)
    """The sender's display name."""
    subject: str = Field(default="", max_length=MAX_SUBJECT)
    """The subject."""
    text: str = ""
    """The plain-text body, as received or as sent."""
    text_stripped: str = ""
    """The body without quoted replies and signature, where the provider gave it."""
    html: str | None = None
    """The HTML body, sanitised; null when there was none."""
    auto_submitted: bool = False
    """Sent by an automatic system (auto-reply, bounce, list): never answered automatically."""
    received_at: datetime = Field(sa_type=UTCDateTime)
    """When it was received (inbound) or written (outbound)."""


@dataclass(frozen=True)
class NewMessage:
    """A message's columns as it is written: one model for what a customer sent (an email,
    the contact form, a request typed by staff) and for our own emails' copies."""

    direction: str  # inbound | outbound | internal
    channel: Channel
    text: str
    received_at: datetime
    from_email: str = ""
    from_name: str = ""
    subject: str = ""
    text_stripped: str | None = None  # None: the text itself
    html: str | None = None
    message_id: str | None = None
    provider: str | None = None
    provider_id: str | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    auto_submitted: bool = False
    auto_reason: str | None = None
    kind: MessageKind | None = None  # None: inbound, or automatic for our emails
    author_id: int | None = None  # the staff member who wrote it (a reply, a note)

    def row(self, ticket_id: int, *, created_at: datetime) -> dict[str, Any]:
        """The row of the message table, on `ticket_id`."""
        # Its fields as they are (asdict would copy every header deeply, for nothing).
        columns = {field.name: getattr(self, field.name) for field in fields(self)}
        kind = self.kind or (
            MessageKind.INBOUND if self.direction == "inbound" else MessageKind.AUTOMATIC
        )
        return {
            **columns,
            "kind": kind,
            "text_stripped": self.text if self.text_stripped is None else self.text_stripped,
            "in_reply_to": list(self.in_reply_to),
            "references": list(self.references),
            "to": list(self.to),
            "headers": [list(header) for header in self.headers],
            "ticket_id": ticket_id,
            "created_at": created_at,
        }


class Message(MessageBase, table=True):
    """Inserted with single statements (services.tickets.conversation); only our emails' copies
    change after, once, when their words are written."""

    __tablename__ = "message"
    __table_args__ = (UniqueConstraint("provider", "provider_id"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True, ondelete="CASCADE")
    provider: str | None = Field(default=None, max_length=16)
    provider_id: str | None = Field(default=None, max_length=255)
    in_reply_to: list[str] = Field(default_factory=list, sa_type=JSONType)
    references: list[str] = Field(default_factory=list, sa_type=JSONType)
    to: list[str] = Field(default_factory=list, sa_type=JSONType)
    headers: list[list[str]] = Field(default_factory=list, sa_type=JSONType)
    auto_reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    author_id: int | None = Field(default=None, foreign_key="staff_member.id", ondelete="SET NULL")


class Delivery(Schema):
    """Where an outbound email stands in the outbox."""

    outbox_id: int
    """Its outbox row (GET /outbox, POST /outbox/{id}/retry)."""
    state: str
    """pending, sent, failed, held or cancelled."""
    attempts: int
    """Delivery attempts so far."""
    last_error: str | None
    """Why the last attempt failed, or why it is held."""
    sent_at: datetime | None
    """When the SMTP server accepted it."""


class AttachmentRead(Schema):
    """A file a message carried; `GET /attachments/{id}` serves its bytes."""

    id: int
    """The attachment's id."""
    filename: str
    """Its (sanitised) file name."""
    content_type: str
    """The type it was declared with."""
    size: int
    """Its size in bytes."""
    sha256: str
    """The SHA-256 of its bytes, hex: what the download is checked against."""


class Author(Schema):
    """The staff member who wrote a reply or a note."""

    id: int
    """The staff member's id."""
    name: str
    """Their name."""


class MessageRead(MessageBase):
    id: int
    """The message's id."""
    author: Author | None = None
    """Who wrote it, for replies and notes; null for the customer's messages and our letters."""
    delivery: Delivery | None = None
    """For our emails: their delivery state; null for the customer's messages."""
    attachments: list[AttachmentRead] = []
    """The files it carried, in the order they came."""


class AttachmentBlob(SQLModel, table=True):
    """File content, stored once per SHA-256 however many messages carry it."""

    __tablename__ = "attachment_blob"

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True)
    size: int
    data: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Attachment(SQLModel, table=True):
    """A file as one message carried it: its (sanitised) name and declared type."""

    __tablename__ = "attachment"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True, ondelete="CASCADE")
    blob_id: int = Field(foreign_key="attachment_blob.id", index=True, ondelete="RESTRICT")
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=255)
    size: int
    sha256: str = Field(max_length=64)


MAX_TOKEN_CHARS = 255  # Mailgun's tokens are 50 characters


class WebhookToken(SQLModel, table=True):
    """A provider's one-time token already seen (replay protection for signed webhooks)."""

    __tablename__ = "webhook_token"

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=16)
    token: str = Field(max_length=MAX_TOKEN_CHARS)
    seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)

    __table_args__ = (UniqueConstraint("provider", "token"),)


MAX_FILES = 20  # files per reply or note


class FileIn(Input):
    """A file given with a reply or a note: its bytes base64-encoded."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "filename": "istruzioni.pdf",
                "content_type": "application/pdf",
                "content_base64": "JVBERi0xLjQK",
            }
        }
    )

    filename: OneLine = pydantic.Field(min_length=1, max_length=255)
    """Its name (sanitised as an email's: no path, no control characters)."""
    content_type: str = pydantic.Field(
        default="application/octet-stream",
        max_length=255,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$",
    )
    """Its type, e.g. image/png."""
    content_base64: Base64Bytes
    """Its bytes, base64 (at most SPORTELLO_MAX_FILE_BYTES once decoded: 413 otherwise)."""


class NoteIn(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"text": "Il cliente usa ancora PHP 7.4: vedi il ticket 41."}
        },
    )

    text: str = pydantic.Field(min_length=1, max_length=100_000)
    """The note, plain text: for colleagues only, never emailed nor shown to the customer."""
    attachments: list[FileIn] = pydantic.Field(default_factory=list, max_length=MAX_FILES)
    """Files kept with the note."""


MAX_CC = 20
MAX_RICH_BODY = 200_000  # a reply's HTML or Markdown body, characters
_NOT_IN_A_BARE_ADDRESS = re.compile(r"[\s<>,;:\"()\[\]\\]|=\?|[\x00-\x1f\x7f-\x9f]")


class ReplyIn(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "text": "Buongiorno,\nquale pagina mostra l'errore? Ci mandi una schermata.",
                "cc": ["boss@rossi.it"],
            }
        },
    )

    text: str = pydantic.Field(min_length=1, max_length=100_000)
    """The reply, plain text; the email adds the signature and the status link."""
    body_html: str | None = pydantic.Field(default=None, min_length=1, max_length=MAX_RICH_BODY)
    """The reply as HTML too (optional): sanitised with the rules of inbound HTML (no script,
    style, event handler or javascript: URL), sent as the email's HTML part beside `text`."""
    body_markdown: str | None = pydantic.Field(default=None, min_length=1, max_length=MAX_RICH_BODY)
    """The reply as Markdown (optional; instead of `body_html`): made HTML (CommonMark, raw
    HTML shown as text), then sanitised like `body_html`."""
    cc: list[EmailStr] = pydantic.Field(default_factory=list, max_length=MAX_CC)
    """Copies: the customer's contacts or addresses already on the ticket (others need
    `allow_other_recipients`); the reply always goes to the requester."""
    allow_other_recipients: bool = False
    """Let `cc` name other addresses too (logged in the audit trail)."""
    attachments: list[FileIn] = pydantic.Field(default_factory=list, max_length=MAX_FILES)
    """Files sent with the reply."""
    take_charge: bool = False
    """Take the ticket in charge too (R9); the one email says it, with the estimate (R11)."""
    estimated_resolution_at: Instant | None = None
    """With `take_charge`: the estimated resolution told to the customer."""
    proceed_without_consent: bool = False
    """With `take_charge`: take billable work the customer has not agreed to in charge anyway
    (logged); otherwise 409."""
    resolve: bool = False
    """Resolve the ticket too (R14); the one email says it, with the resolution."""
    resolution: str | None = pydantic.Field(default=None, min_length=1, max_length=20_000)
    """With `resolve`: what was done."""
    delivery_mode: DeliveryMode | None = None
    """With `resolve`: online or remote (R14)."""

    @field_validator("cc", mode="before")
    @classmethod
    def _bare_addresses(cls, value: object) -> object:
        # One bare address each: no display name, list, encoded word or line break to carry
        # a second recipient (P2).
        for address in value if isinstance(value, list) else []:
            if isinstance(address, str) and _NOT_IN_A_BARE_ADDRESS.search(address):
                raise ValueError("each copy must be one bare address, like name@example.com")
        return value

    @field_validator("cc")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(address.lower() for address in value))

    @model_validator(mode="after")
    def _together(self) -> "ReplyIn":
        if self.estimated_resolution_at is not None and not self.take_charge:
            raise ValueError("estimated_resolution_at goes with take_charge")
        if self.resolve != (self.resolution is not None and self.delivery_mode is not None):
            raise ValueError("resolve goes with resolution and delivery_mode, and they with it")
        if self.body_html is not None and self.body_markdown is not None:
            raise ValueError("body_html or body_markdown, not both")
        return self
