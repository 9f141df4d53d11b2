"""Annual assistance contracts (R1) and what they cover (R3–R5, R16)."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import pydantic
from pydantic import ConfigDict, ValidationInfo, field_validator, model_validator
from sqlmodel import Field, SQLModel

from app.engine.renewals import one_year_from
from app.enums import Category
from app.models.base import Hours, HoursOut, JSONType, Money, MoneyOut, UTCDateTime, utcnow
from app.models.common import MAX_ID, Id, Input

# R3, R5: website always, hosting and backup by default; R4: email and provider_outage only
# when the contract includes them.
DEFAULT_COVERAGE: list[Category] = [Category.WEBSITE, Category.HOSTING, Category.BACKUP]
DEFAULT_TAKE_CHARGE_HOURS = Decimal(4)  # R9


class ContractBase(SQLModel):
    """What a contract is, as stored, given and shown (R1, R3, R9)."""

    model_config = ConfigDict(use_attribute_docstrings=True)  # type: ignore[assignment]

    customer_id: int = Field(
        foreign_key="customer.id", index=True, ondelete="RESTRICT", ge=1, le=MAX_ID
    )
    """The customer it is with."""
    code: str = Field(min_length=1, max_length=64, unique=True)
    """A unique code, e.g. ASS-2026-001."""
    starts_on: date
    """The first day it is in force."""
    annual_fee: MoneyOut = Field(sa_type=Money, ge=0, max_digits=12, decimal_places=2)
    """The annual fee, a decimal string."""
    proposal_ref: str = Field(default="", max_length=200)
    """The commercial proposal it comes from."""
    coverage: list[Category] = Field(
        default_factory=lambda: list(DEFAULT_COVERAGE), sa_type=JSONType
    )
    """Categories covered; always includes website (R3). Default: website, hosting, backup."""
    take_charge_hours: HoursOut = Field(
        default=DEFAULT_TAKE_CHARGE_HOURS,
        sa_type=Hours,
        gt=0,
        le=10_000,
        decimal_places=2,
    )
    """The take-charge target in business hours; default 4 (R9)."""


class Contract(ContractBase, table=True):
    __tablename__ = "contract"

    id: int | None = Field(default=None, primary_key=True)
    ends_on: date
    calendar_id: int = Field(foreign_key="calendar.id", ondelete="RESTRICT")
    on_call_calendar_id: int | None = Field(
        default=None, foreign_key="calendar.id", ondelete="RESTRICT"
    )
    on_call_take_charge_hours: Decimal | None = Field(default=None, sa_type=Hours)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


TargetHours = Annotated[
    HoursOut, pydantic.Field(gt=Decimal(0), le=Decimal(10_000), decimal_places=2)
]
Fee = pydantic.condecimal(ge=0, max_digits=12, decimal_places=2)


class OnCall(Input):
    """R16: a specific agreement for urgent requests received while the calendar is closed."""

    calendar_id: Id
    """The calendar of on-call hours (it must exist; create it first)."""
    take_charge_hours: TargetHours
    """The take-charge target in on-call hours."""


class ContractCreate(ContractBase, Input):
    model_config = ConfigDict(  # type: ignore[assignment]
        extra="forbid",
        json_schema_extra={
            "example": {
                "customer_id": 1,
                "code": "ASS-2026-001",
                "starts_on": "2026-01-01",
                "annual_fee": "1200.00",
                "proposal_ref": "PROP-2025-118",
                "coverage": ["website", "hosting", "backup", "email"],
            }
        },
    )

    ends_on: date | None = None
    """The last day; default one year from starts_on less a day (R1)."""
    calendar_id: Id | None = None
    """The business calendar of its deadlines; default: `default` (R8)."""
    on_call: OnCall | None = None
    """A specific agreement for urgent requests out of hours (R16); null: none."""

    @field_validator("ends_on")
    @classmethod
    def _after_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        starts_on = info.data.get("starts_on")
        if value is not None and starts_on is not None and value <= starts_on:
            raise ValueError("ends_on must be after starts_on")
        return value

    @field_validator("coverage")
    @classmethod
    def _covers_website(cls, value: list[str]) -> list[str]:
        return _with_website(value)

    @model_validator(mode="after")
    def _defaults(self) -> "ContractCreate":
        if self.ends_on is None:
            self.ends_on = one_year_from(self.starts_on)  # R1: one year by default
        self.coverage = list(dict.fromkeys(self.coverage))
        return self


def _with_website(coverage: list[str]) -> list[str]:
    if Category.WEBSITE not in coverage:
        raise ValueError("every contract covers 'website' (R3)")
    return coverage


class ContractUpdate(Input):
    model_config = ConfigDict(extra="forbid")

    code: str | None = pydantic.Field(default=None, min_length=1, max_length=64)
    """A new code."""
    starts_on: date | None = None
    """A new first day."""
    ends_on: date | None = None
    """A new last day."""
    annual_fee: Fee | None = None  # type: ignore[valid-type]
    """A new annual fee."""
    proposal_ref: str | None = pydantic.Field(default=None, max_length=200)
    """A new proposal reference."""
    coverage: list[Category] | None = None
    """Replaces the categories covered (website stays, R3)."""
    calendar_id: Id | None = None
    """Another business calendar."""
    take_charge_hours: TargetHours | None = None
    """Another take-charge target."""
    on_call: OnCall | None = None
    """Replaces the on-call agreement."""

    @field_validator("coverage")
    @classmethod
    def _covers_website(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _with_website(value)


class ContractRead(ContractBase):
    id: int
    """The contract's id."""
    ends_on: date
    """Last day in force."""
    calendar_id: int
    """The business calendar of its deadlines (R8)."""
    on_call: OnCall | None
    """The on-call agreement (R16), or null."""
    created_at: datetime
    """When it was recorded."""
    updated_at: datetime
    """When it last changed."""
