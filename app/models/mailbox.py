"""IMAP mailboxes read for requests (R6: email to the support address), and how reading goes."""

import ipaddress
from datetime import datetime
from typing import Self

import pydantic
from pydantic import ConfigDict, field_validator, model_validator
from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from app.enums import AfterStore, MailboxSecurity, MailboxState
from app.models.base import EnumString, Sealed, UTCDateTime, utcnow
from app.models.common import Input, Schema

DEFAULT_PORTS = {MailboxSecurity.IMPLICIT_TLS: 993}  # 143 otherwise
HOST_PATTERN = r"^[A-Za-z0-9._:\-\[\]]+$"
FOLDER_PATTERN = r"^[^\x00-\x1f\"\\*%]+$"  # no control characters, quotes or wildcards


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine (the only place a mailbox may be read without TLS)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class MailboxBase(SQLModel):
    """What a mailbox is, as stored, given and shown (never its password)."""

    model_config = ConfigDict(use_attribute_docstrings=True)  # type: ignore[assignment]

    name: str = Field(min_length=1, max_length=100, unique=True)
    """A unique name, e.g. `assistenza`."""
    host: str = Field(min_length=1, max_length=255, schema_extra={"pattern": HOST_PATTERN})
    """The IMAP server's host name or address."""
    port: int = Field(ge=1, le=65535)
    """The IMAP server's port (993 for implicit TLS, 143 for STARTTLS)."""
    security: MailboxSecurity = Field(
        default=MailboxSecurity.IMPLICIT_TLS, sa_type=EnumString(MailboxSecurity, 16)
    )
    """implicit_tls, starttls, or plain (no TLS: only for a server on this machine)."""
    username: str = Field(min_length=1, max_length=320)
    """The login name."""
    folder: str = Field(
        default="INBOX", min_length=1, max_length=200, schema_extra={"pattern": FOLDER_PATTERN}
    )
    """The folder read for new messages."""
    after_store: AfterStore = Field(
        default=AfterStore.MARK_SEEN, sa_type=EnumString(AfterStore, 16)
    )
    """Once a message is stored: mark_seen (flag it \\Seen) or move (to `move_to`)."""
    move_to: str | None = Field(
        default=None, min_length=1, max_length=200, schema_extra={"pattern": FOLDER_PATTERN}
    )
    """The folder stored messages are moved to (with after_store = move)."""
    poll_seconds: int = Field(default=60, ge=1, le=3600)
    """How often it is read when the server has no IMAP IDLE (with IDLE, new mail is read at
    once and the folder is looked at again at least this often)."""
    enabled: bool = True
    """Whether it is read."""


class Mailbox(MailboxBase, table=True):
    __tablename__ = "mailbox"

    id: int | None = Field(default=None, primary_key=True)
    # Needed to log in; never returned by the API nor written to a log; stored sealed
    # (app.sealing: up to 760 characters for the 500 bytes of a password).
    password: str = Field(sa_type=Sealed(1000))
    # Where reading stopped: the folder's UIDVALIDITY and the highest UID done with (stored,
    # then flagged or moved, or left in place and reported).
    # (IMAP's are unsigned 32-bit numbers: beyond a signed INTEGER.)
    uidvalidity: int | None = Field(default=None, sa_type=BigInteger)
    last_uid: int = Field(default=0, sa_type=BigInteger)
    messages_stored: int = 0
    messages_left: int = 0
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=1000)
    last_error_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failures: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # One reader at a time across processes: a lease renewed while reading.
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Bumped by every change through the API, so that a reader picks the change up.
    revision: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def _check_security(host: str, security: MailboxSecurity) -> None:
    if security == MailboxSecurity.PLAIN and not is_loopback(host):
        raise ValueError(
            "security plain (no TLS) is allowed only for a server on this machine "
            "(localhost, 127.0.0.1, ::1); use implicit_tls or starttls"
        )


MAX_PASSWORD_BYTES = 500  # sealed, it fits the column's 1000 characters (app.sealing)


def _password_fits(password: pydantic.SecretStr | None) -> pydantic.SecretStr | None:
    """At most 500 bytes in UTF-8 (500 characters of 4 bytes each would not fit sealed)."""
    if password is not None and len(password.get_secret_value().encode()) > MAX_PASSWORD_BYTES:
        raise ValueError(f"the password is longer than {MAX_PASSWORD_BYTES} bytes in UTF-8")
    return password


def _check_move(after_store: AfterStore, move_to: str | None) -> None:
    if after_store == AfterStore.MOVE and not move_to:
        raise ValueError("move_to is required with after_store = move")


class MailboxCreate(MailboxBase, Input):
    model_config = ConfigDict(  # type: ignore[assignment]
        extra="forbid",
        json_schema_extra={
            "example": {
                "name": "assistenza",
                "host": "imap.example.com",
                "security": "implicit_tls",
                "username": "assistenza@example.com",
                "password": "app-password",
                "folder": "INBOX",
                "after_store": "move",
                "move_to": "Sportello",
                "poll_seconds": 60,
            }
        },
    )

    port: int | None = pydantic.Field(default=None, ge=1, le=65535)  # type: ignore[assignment]
    """The IMAP server's port; default 993 for implicit_tls, 143 otherwise."""
    password: pydantic.SecretStr = pydantic.Field(min_length=1, max_length=500)
    """The password (stored to log in; never shown again): at most 500 bytes in UTF-8."""

    _password_fits = field_validator("password")(_password_fits)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_security(self.host, self.security)
        _check_move(self.after_store, self.move_to)
        if self.port is None:
            self.port = DEFAULT_PORTS.get(self.security, 143)
        return self


class MailboxUpdate(Input):
    model_config = ConfigDict(extra="forbid")

    name: str | None = pydantic.Field(default=None, min_length=1, max_length=100)
    """A new name."""
    host: str | None = pydantic.Field(
        default=None, min_length=1, max_length=255, pattern=HOST_PATTERN
    )
    """Another server."""
    port: int | None = pydantic.Field(default=None, ge=1, le=65535)
    """Another port."""
    security: MailboxSecurity | None = None
    """Another protection."""
    username: str | None = pydantic.Field(default=None, min_length=1, max_length=320)
    """Another login name."""
    password: pydantic.SecretStr | None = pydantic.Field(default=None, min_length=1, max_length=500)
    """A new password (after it changed at the provider, say): at most 500 bytes in UTF-8."""
    folder: str | None = pydantic.Field(
        default=None, min_length=1, max_length=200, pattern=FOLDER_PATTERN
    )
    """Another folder to read."""
    after_store: AfterStore | None = None
    """What becomes of stored messages."""
    move_to: str | None = pydantic.Field(
        default=None, min_length=1, max_length=200, pattern=FOLDER_PATTERN
    )
    """Where stored messages are moved."""
    poll_seconds: int | None = pydantic.Field(default=None, ge=1, le=3600)
    """How often it is read without IDLE."""
    enabled: bool | None = None
    """Read it, or not."""

    _password_fits = field_validator("password")(_password_fits)

    @classmethod
    def check(cls, mailbox: Mailbox) -> None:
        """The rules a mailbox keeps once a change is applied (422 naming them otherwise)."""
        _check_security(mailbox.host, mailbox.security)
        _check_move(mailbox.after_store, mailbox.move_to)


class MailboxHealth(Schema):
    """How reading the mailbox goes."""

    state: MailboxState
    """waiting (not read yet), ok, failing (see last_error; retried with backoff), disabled."""
    last_success_at: datetime | None
    """When it was last read without error."""
    last_error: str | None
    """What went wrong the last time it failed (wrong password, server down, TLS...)."""
    last_error_at: datetime | None
    """When it last failed."""
    failing_since: datetime | None
    """When the current run of failures began (one staff alert for the run); null when ok."""
    failures: int
    """Failed attempts in a row."""
    next_attempt_at: datetime | None
    """When a failing mailbox is tried again."""
    messages_stored: int
    """Messages stored as requests or replies from this mailbox."""
    messages_left: int
    """Messages left in the mailbox and reported to staff (over the size limit, unreadable)."""


class MailboxRead(MailboxBase):
    id: int
    """The mailbox's id."""
    health: MailboxHealth
    """How reading it goes."""
    created_at: datetime
    """When it was recorded."""
    updated_at: datetime
    """When it last changed."""
