"""Bearer tokens for the internal API, stored hashed."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.enums import Role
from app.models.base import EnumString, UTCDateTime, utcnow
from app.models.common import Schema


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    role: Role = Field(sa_type=EnumString(Role, 16))
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TokenRead(Schema):
    id: int
    name: str
    role: Role
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
