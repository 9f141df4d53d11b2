"""Values of the inbound-email layer: what a provider payload becomes, whoever sent it."""

import hashlib
from dataclasses import dataclass
from datetime import datetime

# Caps that keep one hostile message from bloating a row (they mirror app/models/message.py).
MAX_MESSAGE_ID = 998
MAX_PROVIDER_ID = 255
MAX_EMAIL = 320
MAX_NAME = 200
MAX_SUBJECT = 998
MAX_CONTENT_TYPE = 255
MAX_FILENAME = 150
MAX_HEADERS = 200
MAX_HEADER_NAME = 100
MAX_HEADER_VALUE = 4000
MAX_IDS = 100
MAX_RECIPIENTS = 100
MAX_ATTACHMENTS = 100
MAX_MIME_PARTS = 500
MAX_MIME_DEPTH = 20


class MalformedEmail(ValueError):
    """A payload that cannot yield an email: no sender, not MIME, required fields missing."""


class NoSender(MalformedEmail):
    """An email in which no header names a usable sender (From, Sender, Reply-To, Return-Path)."""


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a provider's multipart/form-data POST, as the HTTP layer received it."""

    field_name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class InboundAttachment:
    """An attachment with a sanitised filename and a well-formed content type."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None  # without angle brackets; set for inline (cid:) parts

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the content (the storage key)."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        """Size of the content in bytes."""
        return len(self.data)


@dataclass(frozen=True)
class InboundEmail:
    """One received email, normalised from whichever provider delivered it."""

    message_id: str | None
    provider: str
    provider_id: str | None
    """The provider's id of the message; without it and without a Message-ID, `sha256:` and a
    digest of the message's content (`content_identity`), so that a redelivery is known."""
    from_email: str
    from_name: str
    to: tuple[str, ...]
    subject: str
    text: str
    text_stripped: str
    html: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    date: datetime | None
    auto_submitted: bool
    auto_reason: str | None
    attachments: tuple[InboundAttachment, ...]
    headers: tuple[tuple[str, str], ...]
    sender_source: str | None = None
    """Where the sender came from when not from the first From: `from` (a later From), `sender`,
    `reply_to`, `return_path`, or `staff` (given by staff retrying a quarantined delivery)."""

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)
