"""Bearer tokens for the internal API, stored hashed."""

from datetime import datetime

import pydantic
from pydantic import ConfigDict
from sqlmodel import Field, SQLModel

from app.enums import Role
from app.models.base import EnumString, UTCDateTime, utcnow
from app.models.common import Id, Input, OneLine, Schema


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    # The staff member it belongs to; null for a feed token (a calendar app, not a person).
    staff_id: int | None = Field(
        default=None, foreign_key="staff_member.id", index=True, ondelete="RESTRICT"
    )
    role: Role = Field(sa_type=EnumString(Role, 16))
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TokenRead(Schema):
    id: int
    """The token's id."""
    name: str
    """Whose it is: the staff member's name, or what a feed token is for."""
    role: Role
    """The role it was issued with (a staff member's tokens never exceed their role)."""
    staff_id: int | None
    """The staff member it belongs to; null for a feed token."""
    prefix: str
    """Its first characters, to recognise it."""
    created_at: datetime
    """When it was issued."""
    last_used_at: datetime | None
    """When it was last used, where known."""
    revoked_at: datetime | None
    """When it was revoked; null while it works."""


class TokenCreate(Input):
    model_config = ConfigDict(json_schema_extra={"example": {"staff_id": 3}})

    staff_id: Id | None = None
    """The staff member it is for: it gets their name and role."""
    name: OneLine | None = pydantic.Field(default=None, min_length=1, max_length=100)
    """For a feed token only (no staff member): what it is for."""
    role: Role | None = None
    """Only `feed`, for a token without a staff member; a staff token takes their role."""


class TokenIssued(TokenRead):
    token: str
    """The token in clear: shown this once, never stored."""
