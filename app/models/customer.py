"""Customers, their contacts and their email domains."""

from datetime import datetime

import pydantic
from pydantic import ConfigDict, EmailStr, field_validator
from sqlmodel import Field, SQLModel

from app.enums import Language
from app.models.base import EnumString, UTCDateTime, utcnow
from app.models.common import Input, Schema


class CustomerBase(SQLModel):
    """What a customer is, as stored, given and shown; domains and contacts are rows of
    their own (CustomerDomain, Contact)."""

    model_config = ConfigDict(use_attribute_docstrings=True)  # type: ignore[assignment]

    name: str = Field(min_length=1, max_length=200)
    """The customer's name."""
    language: Language = Field(default=Language.IT, sa_type=EnumString(Language, 2))
    """The language of the emails and pages the customer receives: it or en."""


class Customer(CustomerBase, table=True):
    __tablename__ = "customer"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CustomerDomain(SQLModel, table=True):
    """A domain whose senders belong to the customer; one customer per domain."""

    __tablename__ = "customer_domain"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True, ondelete="CASCADE")
    domain: str = Field(max_length=253, unique=True)


class Contact(SQLModel, table=True):
    """A person who writes for the customer; an address belongs to one customer."""

    __tablename__ = "contact"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=320, unique=True)
    name: str = Field(default="", max_length=200)


def _normalise_domain(value: str) -> str:
    domain = value.strip().lower().lstrip("@").rstrip(".")
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels) or any(len(label) > 63 for label in labels):
        raise ValueError(f"{value!r} is not a domain name")
    if not all(ch.isalnum() or ch in "-." for ch in domain):
        raise ValueError(f"{value!r} is not a domain name")
    return domain


class ContactIn(Input):
    model_config = ConfigDict(
        json_schema_extra={"example": {"email": "mario@rossi.it", "name": "Mario Rossi"}}
    )

    email: EmailStr
    """A person's address; mail from it matches this customer (R1)."""
    name: str = pydantic.Field(default="", max_length=200)
    """The person's name."""

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class ContactRead(Schema):
    email: str
    """The person's address."""
    name: str
    """The person's name."""


class CustomerCreate(CustomerBase, Input):
    model_config = ConfigDict(  # type: ignore[assignment]
        extra="forbid",
        json_schema_extra={
            "example": {
                "name": "Rossi Arredamenti S.r.l.",
                "email_domains": ["rossi.it"],
                "contacts": [{"email": "mario@rossi.it", "name": "Mario Rossi"}],
                "language": "it",
            }
        },
    )

    email_domains: list[str] = pydantic.Field(default_factory=list, max_length=50)
    """Mail from these domains matches this customer (R1), e.g. rossi.it."""
    contacts: list[ContactIn] = pydantic.Field(default_factory=list, max_length=200)
    """People who write from other addresses (a gmail.com address, say)."""

    @field_validator("email_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(_normalise_domain(v) for v in value))


class CustomerUpdate(Input):
    model_config = ConfigDict(extra="forbid")

    name: str | None = pydantic.Field(default=None, min_length=1, max_length=200)
    """A new name."""
    email_domains: list[str] | None = pydantic.Field(default=None, max_length=50)
    """Replaces the domains."""
    contacts: list[ContactIn] | None = pydantic.Field(default=None, max_length=200)
    """Replaces the contacts."""
    language: Language | None = None
    """it or en."""

    @field_validator("email_domains")
    @classmethod
    def _domains(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(_normalise_domain(v) for v in value))


class CustomerRead(CustomerBase):
    id: int
    """The customer's id."""
    email_domains: list[str]
    """Domains whose mail matches this customer (R1)."""
    contacts: list[ContactRead]
    """Addresses outside those domains that match this customer."""
    created_at: datetime
    """When it was recorded."""
    updated_at: datetime
    """When it last changed."""
