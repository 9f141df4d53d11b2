"""The staff console's sign-ins: server-side sessions and one-time sign-in links.

Only SHA-256 digests of their tokens are stored: the clear token is in the staff member's
cookie (a session) or in the link they were given (a sign-in link), never in the database.
"""

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import UTCDateTime


class ConsoleSession(SQLModel, table=True):
    """A staff member signed in to the console; deleting the row signs them out."""

    __tablename__ = "console_session"

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff_member.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    # Renewed as they use the console (at most once a minute): the idle timeout counts from it.
    last_seen_at: datetime = Field(sa_type=UTCDateTime)


class SignInLink(SQLModel, table=True):
    """A one-time sign-in link (`sportello staff login-link EMAIL`): single use, short-lived."""

    __tablename__ = "sign_in_link"

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff_member.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
