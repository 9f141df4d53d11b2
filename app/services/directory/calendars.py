"""Business calendars as data (R8)."""

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlmodel import Session, col, func, select

from app.engine.business_hours import calendar_for
from app.engine.calendar_spec import CalendarSpec, Closure
from app.engine.explain import explain as explain_deadline
from app.errors import Conflict, NotFound
from app.models.calendar import (
    DEFAULT_CALENDAR_NAME,
    Calendar,
    CalendarCreate,
    CalendarRead,
    DeadlineRead,
    ExplanationRead,
)


def get_calendar(calendar_id: int, *, session: Session) -> Calendar:
    """The calendar, or NotFound."""
    calendar = session.get(Calendar, calendar_id)
    if calendar is None:
        raise NotFound(f"No calendar with id {calendar_id}.")
    return calendar


def get_default_calendar(*, session: Session) -> Calendar:
    """R8: the calendar named `default`, created by the first migration."""
    calendar = session.exec(select(Calendar).where(Calendar.name == DEFAULT_CALENDAR_NAME)).first()
    if calendar is None:
        raise NotFound("The default calendar is missing; run `sportello migrate`.")
    return calendar


def read_calendar(calendar: Calendar) -> CalendarRead:
    """The API view of a calendar."""
    return CalendarRead.model_validate(calendar, from_attributes=True)


def create_calendar(data: CalendarCreate, *, session: Session) -> Calendar:
    """Record a calendar; names are unique."""
    if session.exec(select(Calendar.id).where(Calendar.name == data.name)).first() is not None:
        raise Conflict(f"A calendar named {data.name!r} exists already.")
    calendar = Calendar(
        name=data.name,
        timezone=data.timezone,
        weekly={day: [list(i) for i in intervals] for day, intervals in data.weekly.items()},
        holiday_country=data.holiday_country,
        holiday_subdivision=data.holiday_subdivision,
        closures=[closure.to_json() for closure in closures_of(data)],
    )
    session.add(calendar)
    session.flush()
    return calendar


def closures_of(data: CalendarCreate) -> tuple[Closure, ...]:
    """The engine's closures of a calendar as given (sorted, duplicates dropped)."""
    return CalendarSpec.normalize_closures(
        Closure(closure.date, closure.start, closure.end, closure.label)
        for closure in data.closures
    )


def list_calendars(*, session: Session, limit: int, offset: int) -> tuple[list[Calendar], int]:
    """A page of calendars by id, and how many there are."""
    total = session.exec(select(func.count()).select_from(Calendar)).one()
    rows = session.exec(select(Calendar).order_by(col(Calendar.id)).limit(limit).offset(offset))
    return list(rows.all()), total


def spec_of(calendar: Calendar) -> CalendarSpec:
    """The pure engine's view of a stored calendar."""
    return calendar_spec(
        timezone=calendar.timezone,
        weekly=calendar.weekly,
        holiday_country=calendar.holiday_country,
        holiday_subdivision=calendar.holiday_subdivision,
        closures=calendar.closures,
    )


def calendar_spec(
    *,
    timezone: str,
    weekly: Mapping[str, Any],
    holiday_country: str | None,
    holiday_subdivision: str | None,
    closures: Sequence[str | Mapping[str, Any]],
) -> CalendarSpec:
    """The pure engine's view of a calendar's stored values; one shared spec per content."""
    return snapshot_spec(
        {
            "timezone": timezone,
            "weekly": weekly,
            "holiday_country": holiday_country,
            "holiday_subdivision": holiday_subdivision,
            "closures": closures,
        }
    )


def snapshot_spec(data: Mapping[str, Any]) -> CalendarSpec:
    """The engine's view of a calendar in its JSON form (a stored calendar's values, or a
    ticket's `sla_calendar` snapshot); specs are immutable, so equal contents share one,
    validated once however many tickets or requests read it."""
    return snapshot_spec_of_text(json.dumps(data, sort_keys=True))


@lru_cache(maxsize=256)
def snapshot_spec_of_text(text: str) -> CalendarSpec:
    """`snapshot_spec` of a snapshot read as JSON text."""
    return CalendarSpec.from_dict(json.loads(text))


def deadline(
    calendar_id: int, *, start: datetime, hours: Decimal, session: Session, explain: bool = False
) -> DeadlineRead:
    """`hours` business hours after `start` on this calendar (R9: the clock starts at opening)."""
    calendar = calendar_for(spec_of(get_calendar(calendar_id, session=session)))
    clock_started_at = calendar.clock_start(start)
    target = timedelta(seconds=float(hours) * 3600)
    due_at = calendar.add_business_time(clock_started_at, target)
    return DeadlineRead(
        start=start,
        clock_started_at=clock_started_at,
        due_at=due_at,
        explanation=ExplanationRead.of(explain_deadline(calendar, start, target))
        if explain
        else None,
    )
