"""Business calendars: HTTP only."""

from fastapi import APIRouter

from app.deps import Admin, SessionDep, Viewer
from app.models.calendar import CalendarCreate, CalendarRead
from app.models.common import Limit, Offset, Page, ResourceId
from app.routers._responses import READ, WRITE
from app.services import calendars as service

router = APIRouter(prefix="/calendars", tags=["calendars"])


@router.post("", response_model=CalendarRead, status_code=201, responses=WRITE)
def create(data: CalendarCreate, session: SessionDep, _: Admin) -> CalendarRead:
    """Record a business calendar (R8: calendars are data)."""
    return service.read_calendar(service.create_calendar(data, session=session))


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
