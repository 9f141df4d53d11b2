"""The retention job's runs (GDPR art. 5(1)(e)): one row per day it ran."""

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from app.models.base import NullableJSON, UTCDateTime


class RetentionRun(SQLModel, table=True):
    """The first runner to write the day's row applies the retention settings that day; the
    others find the row and leave it (services.retention.claim_day)."""

    __tablename__ = "retention_run"

    day: date = Field(primary_key=True)
    ran_by: str = Field(max_length=64)
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # What was removed, by class: message_bodies, attachments, quarantined, outbox_payloads.
    removed: dict[str, int] | None = Field(default=None, sa_type=NullableJSON)
