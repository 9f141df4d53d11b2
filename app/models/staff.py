"""The desk's staff members: who answers, owns tickets and holds tokens."""

from datetime import datetime
from typing import Literal

import pydantic
from pydantic import ConfigDict, EmailStr, field_validator
from sqlmodel import Field, SQLModel

from app.enums import Role
from app.models.base import EnumString, UTCDateTime, utcnow
from app.models.common import Input, OneLine, Schema

STAFF_ROLES = (Role.ADMIN, Role.AGENT, Role.VIEWER)  # `feed` is a token of its own


def _staff_role(value: Role) -> Role:
    if value not in STAFF_ROLES:
        raise ValueError("a staff member is an admin, an agent or a viewer")
    return value


class StaffBase(SQLModel):
    """A staff member as stored and shown."""

    model_config = ConfigDict(use_attribute_docstrings=True)  # type: ignore[assignment]

    name: str = Field(min_length=1, max_length=200)
    """Their name: the display name of the replies they write (`Marco Bianchi - Assistenza`)."""
    # Null for those made from an existing token's name, until an admin gives them one.
    email: str | None = Field(default=None, max_length=320, unique=True)
    """Their address: staff emails (a ticket given to them) go there."""
    role: Role = Field(sa_type=EnumString(Role, 16))
    """admin, agent or viewer: what their tokens may do."""
    active: bool = True
    """An inactive member's tokens are refused (401), and they cannot sign in to the console."""
    language: str = Field(default="it", max_length=2, sa_column_kwargs={"server_default": "it"})
    """it or en: the language of the console for them."""


class StaffMember(StaffBase, table=True):
    __tablename__ = "staff_member"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # argon2id (argon2-cffi's PHC string); null: no password, a one-time link signs them in.
    password_hash: str | None = Field(default=None, max_length=255)


class StaffCreate(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"name": "Marco Bianchi", "email": "marco@agency.example", "role": "agent"}
        }
    )

    name: OneLine = pydantic.Field(min_length=1, max_length=200)
    """Their name (one line)."""
    email: EmailStr
    """Their address (unique among staff)."""
    role: Role
    """admin, agent or viewer."""
    language: Literal["it", "en"] = "it"
    """The language of the console for them."""

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("role")
    @classmethod
    def _role(cls, value: Role) -> Role:
        return _staff_role(value)


class StaffUpdate(Input):
    model_config = ConfigDict(json_schema_extra={"example": {"role": "viewer", "active": False}})

    name: OneLine | None = pydantic.Field(default=None, min_length=1, max_length=200)
    """A new name."""
    email: EmailStr | None = None
    """A new address."""
    role: Role | None = None
    """A new role; their tokens follow it at once."""
    active: bool | None = None
    """False: their tokens stop working (401); true again: they work again."""
    language: Literal["it", "en"] | None = None
    """The language of the console for them."""

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return None if value is None else value.lower()

    @field_validator("role")
    @classmethod
    def _role(cls, value: Role | None) -> Role | None:
        return None if value is None else _staff_role(value)


class StaffRead(StaffBase):
    id: int
    """The staff member's id."""
    created_at: datetime
    """When they were added."""


class Me(Schema):
    """Who the caller is."""

    name: str
    """The staff member's name (or the token's, for the bootstrap admin)."""
    role: Role
    """What the caller may do now."""
    staff: StaffRead | None
    """The staff member behind the token; null for the bootstrap admin token."""
    token_id: int | None
    """The token used; null for the bootstrap admin token."""
