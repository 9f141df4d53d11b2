"""Business calendars: HTTP only."""

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import Admin, SessionDep, Viewer
from app.errors import Unprocessable, field_error
from app.models.calendar import CalendarCreate, CalendarRead, DeadlineRead
from app.models.common import Limit, Offset, Page, QueryInstant, ResourceId
from app.routers._responses import AUTH, CREATE, READ, CreatedDep, problems
from app.services.directory import calendars as service

router = APIRouter(prefix="/calendars", tags=["calendars"])


@router.post("", response_model=CalendarRead, status_code=201, responses=CREATE)
def create(
    data: CalendarCreate, session: SessionDep, _: Admin, created: CreatedDep
) -> CalendarRead:
    """Record a business calendar (R8: calendars are data)."""
    calendar = service.read_calendar(service.create_calendar(data, session=session))
    created.at(calendar.id)
    return calendar


@router.get("", response_model=Page[CalendarRead], status_code=200, responses=READ)
def list_(
    session: SessionDep, _: Viewer, limit: Limit = 50, offset: Offset = 0
) -> Page[CalendarRead]:
    """List calendars; `default` (R8) is always there."""
    rows, total = service.list_calendars(session=session, limit=limit, offset=offset)
    return Page(
        items=[service.read_calendar(c) for c in rows], total=total, limit=limit, offset=offset
    )


@router.get("/{calendar_id}", response_model=CalendarRead, status_code=200, responses=READ)
def get(calendar_id: ResourceId, session: SessionDep, _: Viewer) -> CalendarRead:
    """One calendar."""
    return service.read_calendar(service.get_calendar(calendar_id, session=session))


@router.get(
    "/{calendar_id}/deadline",
    response_model=DeadlineRead,
    status_code=200,
    responses=problems(*AUTH, 404, 422),
)
def deadline(
    calendar_id: ResourceId,
    session: SessionDep,
    _: Viewer,
    start: Annotated[
        QueryInstant,
        Query(description="ISO 8601 with an offset.", examples=["2026-11-23T16:00:00+01:00"]),
    ],
    hours: Annotated[Decimal, Query(gt=0, le=10_000, description="Business hours to add.")],
    explain: Annotated[
        bool, Query(description="Add `explanation`: the segments used and the days skipped.")
    ] = False,
) -> DeadlineRead:
    """`hours` business hours after `start` (R9); closed at `start` means the next opening."""
    if start.tzinfo is None:
        raise Unprocessable(
            "start needs a UTC offset, e.g. 2026-11-23T16:00:00+01:00 "
            "(a time without one is ambiguous).",
            errors=[field_error("start", "timezone offset required")],
        )
    return service.deadline(calendar_id, start=start, hours=hours, session=session, explain=explain)
