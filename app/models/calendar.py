"""Business calendars (R8): weekly hours, a time zone, holidays and closures."""

import re
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays
import pydantic
from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from sqlmodel import Field, SQLModel

from app.models.base import JSONType, UTCDateTime, utcnow

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")

DEFAULT_CALENDAR_NAME = "default"
# R8: Monday to Friday, 15:00 to 18:00, Europe/Rome, closed on Italian public holidays.
DEFAULT_CALENDAR: dict[str, Any] = {
    "name": DEFAULT_CALENDAR_NAME,
    "timezone": "Europe/Rome",
    "weekly": {day: [["15:00", "18:00"]] for day in WEEKDAYS[:5]},
    "holiday_country": "IT",
    "holiday_subdivision": None,
    "closures": [],
}


class Calendar(SQLModel, table=True):
    __tablename__ = "calendar"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    timezone: str = Field(max_length=64)
    weekly: dict[str, list[list[str]]] = Field(sa_type=JSONType)
    holiday_country: str | None = Field(default=None, max_length=8)
    holiday_subdivision: str | None = Field(default=None, max_length=16)
    closures: list[str] = Field(default_factory=list, sa_type=JSONType)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def validate_weekly(weekly: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
    """Intervals are "HH:MM" pairs, start before end, sorted and not overlapping."""
    clean: dict[str, list[list[str]]] = {}
    for day, intervals in weekly.items():
        previous_end = -1
        for start, end in sorted(intervals):
            if not _HHMM.match(start):
                raise ValueError(f"{day}: start {start!r} is not a time HH:MM")
            if end != "24:00" and not _HHMM.match(end):
                raise ValueError(f"{day}: end {end!r} is not a time HH:MM (or 24:00)")
            if _minutes(start) >= _minutes(end):
                raise ValueError(f"{day}: interval {start}-{end} does not end after it starts")
            if _minutes(start) < previous_end:
                raise ValueError(f"{day}: interval {start}-{end} overlaps the one before")
            previous_end = _minutes(end)
        if intervals:
            clean[day] = [[s, e] for s, e in sorted(intervals)]
    return clean


def validate_timezone(value: str) -> str:
    """An IANA time zone name."""
    if value not in _zones():
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Rome)")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone") from exc
    return value


def validate_holidays(country: str | None, subdivision: str | None) -> None:
    """Country and subdivision as the `holidays` package knows them."""
    if country is None:
        if subdivision is not None:
            raise ValueError("holiday_subdivision needs a holiday_country")
        return
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValueError(f"{country!r} is not a country the holidays package supports")
    if subdivision is not None and subdivision not in supported[country]:
        raise ValueError(
            f"{subdivision!r} is not a subdivision of {country} "
            f"(known: {', '.join(supported[country][:20])}...)"
        )


Interval = tuple[str, str]


class CalendarCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "name": "milano-estate",
                "timezone": "Europe/Rome",
                "weekly": {
                    "mon": [["09:00", "13:00"], ["14:00", "18:00"]],
                    "tue": [["15:00", "18:00"]],
                },
                "holiday_country": "IT",
                "holiday_subdivision": "MI",
                "closures": ["2026-08-14"],
            }
        },
    )

    name: str = pydantic.Field(min_length=1, max_length=100, pattern=r"^[\w.\- ]+$")
    timezone: str = "Europe/Rome"
    weekly: dict[Weekday, list[Interval]] = pydantic.Field(
        description='Open intervals per weekday, e.g. {"mon": [["15:00", "18:00"]]}; '
        '"24:00" is allowed as an end.'
    )
    holiday_country: str | None = "IT"
    holiday_subdivision: str | None = None
    closures: list[date] = pydantic.Field(default_factory=list, max_length=1000)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return validate_timezone(value)

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, value: dict[str, list[Interval]]) -> dict[str, list[list[str]]]:
        return validate_weekly({d: [list(i) for i in v] for d, v in value.items()})

    @model_validator(mode="after")
    def _holidays(self) -> "CalendarCreate":
        validate_holidays(self.holiday_country, self.holiday_subdivision)
        return self


class CalendarRead(BaseModel):
    id: int
    name: str
    timezone: str
    weekly: dict[str, list[list[str]]]
    holiday_country: str | None
    holiday_subdivision: str | None
    closures: list[date]
    created_at: datetime
    updated_at: datetime


class DeadlineRead(BaseModel):
    start: datetime
    clock_started_at: datetime
    due_at: datetime
