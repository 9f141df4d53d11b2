"""Business calendars (R8): weekly hours, a time zone, holidays and closures."""

from datetime import date, datetime
from typing import Any, Literal

import pydantic
from pydantic import ConfigDict, field_validator, model_validator
from sqlmodel import Field, SQLModel

from app.engine.calendar_spec import CalendarSpec, Closure
from app.engine.explain import Explanation
from app.models.base import JSONType, UTCDateTime, utcnow
from app.models.common import Input, Schema

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

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


class CalendarBase(SQLModel):
    """What a calendar is, as stored, given and shown; its hours and closures are JSON whose
    shape the API schemas give (R8)."""

    model_config = ConfigDict(use_attribute_docstrings=True)  # type: ignore[assignment]

    name: str = Field(
        min_length=1, max_length=100, unique=True, schema_extra={"pattern": r"^[\w.\- ]+$"}
    )
    """A unique name (letters, digits, dot, dash, space); `default` is the service terms'
    calendar (R8)."""
    timezone: str = Field(default="Europe/Rome", max_length=64)
    """An IANA time zone; the opening hours are wall-clock times there."""
    holiday_country: str | None = Field(default="IT", max_length=8)
    """Public holidays of this country (ISO 3166 code, e.g. IT) are closed days; null: none."""
    holiday_subdivision: str | None = Field(default=None, max_length=16)
    """A region or province with holidays of its own (e.g. RM), if any."""


class Calendar(CalendarBase, table=True):
    __tablename__ = "calendar"

    id: int | None = Field(default=None, primary_key=True)
    # No column default: given one, the ORM writes it in place of an explicit null, and a
    # calendar created with no holidays would have been closed on Italy's (R8).
    holiday_country: str | None = Field(default=None, max_length=8)
    weekly: dict[str, list[list[str]]] = Field(sa_type=JSONType)
    # An ISO date per whole day closed, {"date", "start", "end", "label"} otherwise (R8).
    closures: list[str | dict[str, str | None]] = Field(default_factory=list, sa_type=JSONType)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


Interval = tuple[str, str]


class ClosureIn(Input):
    """A closure with a label, or for part of a day (e.g. 24 December from 13:00)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"date": "2026-12-24", "start": "13:00", "label": "Vigilia"}},
    )

    date: date
    """The local date closed."""
    start: str = pydantic.Field(default="00:00", pattern=r"^(?:[01]\d|2[0-3]):[0-5]\d$")
    """Wall-clock HH:MM the closure starts; 00:00 (the start of the day) by default."""
    end: str = pydantic.Field(default="24:00", pattern=r"^(?:(?:[01]\d|2[0-3]):[0-5]\d|24:00)$")
    """Wall-clock HH:MM it ends (24:00 is midnight); 24:00 by default."""
    label: str | None = pydantic.Field(default=None, max_length=200)
    """What it is, shown in explanations (e.g. `Riunione aziendale`)."""

    @model_validator(mode="before")
    @classmethod
    def _whole_day(cls, data: Any) -> Any:
        # A plain ISO date is the whole day, unlabelled: the form calendars always accepted.
        return {"date": data} if isinstance(data, str | date) else data

    @model_validator(mode="after")
    def _span(self) -> "ClosureIn":
        # The rules live in the engine's Closure (the patterns above name the field at fault).
        Closure(self.date, self.start, self.end, self.label)
        return self


def _date_or_closure(schema: dict[str, Any]) -> None:
    """Document that each closure may also be a plain ISO date."""
    schema["items"] = {"anyOf": [{"type": "string", "format": "date"}, schema["items"]]}


class ClosureRead(Schema):
    """A closure with a label or for part of a day."""

    date: date
    """The local date closed."""
    start: str
    """Wall-clock HH:MM it starts."""
    end: str
    """Wall-clock HH:MM it ends (24:00 is midnight)."""
    label: str | None
    """What it is."""


class CalendarCreate(CalendarBase, Input):
    model_config = ConfigDict(  # type: ignore[assignment]
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
                "closures": [
                    "2026-08-14",
                    {"date": "2026-12-24", "start": "13:00", "label": "Vigilia di Natale"},
                    {"date": "2026-12-16", "start": "15:00", "end": "16:30", "label": "Riunione"},
                ],
            }
        },
    )

    weekly: dict[Weekday, list[Interval]] = pydantic.Field(
        description='Open intervals per weekday, e.g. {"mon": [["15:00", "18:00"]]}; '
        '"24:00" is allowed as an end.'
    )
    closures: list[ClosureIn] = pydantic.Field(
        default_factory=list, max_length=1000, json_schema_extra=_date_or_closure
    )
    """Company closures: an ISO date closes the whole day (e.g. the summer closure); an object
    `{date, start?, end?, label?}` closes part of a day, or a whole day with a label."""

    # The rules live in CalendarSpec (the engine's calendar); these name the field at fault.

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return CalendarSpec.check_timezone(value)

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, value: dict[str, list[Interval]]) -> dict[str, list[list[str]]]:
        weekly = CalendarSpec.normalize_weekly(value)
        if not any(intervals for _, intervals in weekly):
            # Never open: no deadline could ever be computed on it (R8, R9).
            raise ValueError("a calendar must be open for at least one interval of the week")
        return {day: [list(i) for i in intervals] for day, intervals in weekly if intervals}

    @model_validator(mode="after")
    def _holidays(self) -> "CalendarCreate":
        CalendarSpec.check_holidays(self.holiday_country, self.holiday_subdivision)
        return self


class CalendarRead(CalendarBase):
    id: int
    """The calendar's id."""
    weekly: dict[str, list[list[str]]]
    """Opening intervals per weekday, wall-clock HH:MM pairs."""
    closures: list[date | ClosureRead]
    """Company closures: whole days as ISO dates, labelled or partial ones as objects."""
    created_at: datetime
    """When it was recorded."""
    updated_at: datetime
    """When it last changed."""


class SegmentRead(Schema):
    """Open time consumed on one local day."""

    day: date
    """The local date, in the calendar's time zone."""
    start: datetime
    """Where the segment starts."""
    end: datetime
    """Where it ends."""
    seconds: int
    """Its length in seconds."""


class SkippedDayRead(Schema):
    """A day with no open time within the span, and why."""

    day: date
    """The local date."""
    reason: str
    """weekend, closed_weekday (a weekday without hours), holiday or closure."""
    name: str | None
    """The holiday's name (Italian) or the closure's label; null otherwise."""
    name_en: str | None
    """The holiday's name in English, or the closure's label."""


class ClosedSpanRead(Schema):
    """Opening hours taken away by a closure for part of a day that is otherwise open."""

    day: date
    """The local date."""
    start: datetime
    """Where the closed span starts."""
    end: datetime
    """Where it ends."""
    label: str | None
    """The closure's label."""


class ExplanationRead(Schema):
    """Why the deadline is what it is: each open segment used and each day skipped."""

    segments: list[SegmentRead]
    """The open time consumed, day by day; it sums to the target."""
    skipped: list[SkippedDayRead]
    """The days without open time between the start and the deadline."""
    closed: list[ClosedSpanRead] = []
    """Parts of open days closed between the start and the deadline (partial closures)."""
    summary: str
    """One line in Italian, e.g. `ricevuta gio 24/12 17:00; 1 h gio 24; 25/12 Natale; ...`."""
    summary_en: str
    """The same line in English."""

    @classmethod
    def of(cls, explanation: Explanation) -> "ExplanationRead":
        """The API view of an explanation the engine gave."""
        return cls(
            segments=[
                SegmentRead(day=s.day, start=s.start, end=s.end, seconds=s.seconds)
                for s in explanation.segments
            ],
            skipped=[
                SkippedDayRead(day=d.day, reason=d.reason, name=d.name_it, name_en=d.name_en)
                for d in explanation.skipped
            ],
            closed=[
                ClosedSpanRead(day=c.day, start=c.start, end=c.end, label=c.label)
                for c in explanation.closed
            ],
            summary=explanation.summary("it"),
            summary_en=explanation.summary("en"),
        )


class DeadlineRead(Schema):
    start: datetime
    """The instant the count starts from (as asked)."""
    clock_started_at: datetime
    """The first open instant at or after `start`."""
    due_at: datetime
    """When the business hours asked for have run."""
    explanation: ExplanationRead | None = None
    """With `explain=true`: why the deadline is what it is."""
