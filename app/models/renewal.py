"""A contract's end watched (R1, R2): the reminders staff were sent, and a renewal's terms."""

from datetime import date, datetime

import pydantic
from pydantic import ConfigDict, field_validator
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.enums import Category
from app.models.base import UTCDateTime
from app.models.common import Id, Input
from app.models.contract import Fee, TargetHours, _with_website


class ContractReminder(SQLModel, table=True):
    """One reminder step told to staff about one contract's end: never told twice, whatever
    restarts or however many runners (services.directory.renewals)."""

    __tablename__ = "contract_reminder"
    # A step is told once per last day: a contract whose end moves is watched again.
    __table_args__ = (UniqueConstraint("contract_id", "ends_on", "step"),)

    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", ondelete="CASCADE")
    ends_on: date
    step: str = Field(max_length=16)
    told_at: datetime = Field(sa_type=UTCDateTime, index=True)


class ContractRenew(Input):
    """The next year of a contract: its fee and proposal; the rest as the year before unless
    given."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"annual_fee": "1300.00", "proposal_ref": "PROP-2026-201"}},
    )

    annual_fee: Fee  # type: ignore[valid-type]
    """The new annual fee (R1), a decimal string."""
    proposal_ref: str = pydantic.Field(min_length=1, max_length=200)
    """The commercial proposal of the new year."""
    code: str | None = pydantic.Field(default=None, min_length=1, max_length=64)
    """Its code; default: the old one with the new year in place of the old (ASS-2026-001
    becomes ASS-2027-001), or with the new year added."""
    coverage: list[Category] | None = None
    """The categories covered; default: the same (website always, R3)."""
    calendar_id: Id | None = None
    """The business calendar; default: the same."""
    take_charge_hours: TargetHours | None = None
    """The take-charge target; default: the same."""

    @field_validator("coverage")
    @classmethod
    def _covers_website(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _with_website(value)
