"""Tickets: HTTP only."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.deps import Agent, KnobsDep, Now, SessionDep, Viewer
from app.enums import Category, Consent, SlaState, Status
from app.errors import Unprocessable, field_error
from app.models.common import (
    MAX_ID,
    NO_NUL_PATTERN,
    ContractFilter,
    Cursor,
    CustomerFilter,
    Limit,
    QueryInstant,
    TicketRef,
)
from app.models.status_link import LinksRevoked
from app.models.ticket import (
    ResolveIn,
    SlaBlock,
    SlaExplained,
    StatusIn,
    TakeChargeIn,
    TicketCreate,
    TicketPage,
    TicketRead,
    TicketUpdate,
)
from app.routers._responses import CREATE, READ, WRITE, CreatedDep, serialised
from app.services.directory.auth import Principal
from app.services.intake import opening
from app.services.tickets import (
    lifecycle,
    queue,
    status_page,
)
from app.services.tickets.snapshot import (
    explained_sla,
    page_json,
    read_ticket,
    sla_block,
    ticket_json,
)

router = APIRouter(prefix="/tickets", tags=["tickets"])


@router.post("", response_model=TicketRead, status_code=201, responses=CREATE)
def create(
    data: TicketCreate,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    agent: Agent,
    created: CreatedDep,
) -> TicketRead:
    """Record a request (R6): customer, contract, coverage, urgency and deadline are derived."""
    ticket = opening.create_ticket(data, session=session, knobs=knobs, actor=agent.name, now=now)
    created.at(ticket.id)
    return read_ticket(ticket, now=now, fraction=knobs.at_risk_fraction)


@router.get("", response_model=TicketPage, status_code=200, responses=READ)
def list_(
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    viewer: Viewer,
    status: Annotated[
        list[Status] | None,
        Query(description="Repeat for several; default: the open ones (the work queue)."),
    ] = None,
    customer_id: CustomerFilter = None,
    contract_id: ContractFilter = None,
    urgent: Annotated[bool | None, Query(description="Only urgent ones (R12), or none.")] = None,
    sla_state: Annotated[
        SlaState | None, Query(description="Only those in this SLA state now.")
    ] = None,
    category: Annotated[Category | None, Query(description="Only this category.")] = None,
    billable: Annotated[
        bool | None, Query(description="Only billable ones (R2, R3, R13), or none.")
    ] = None,
    consent: Annotated[
        Consent | None,
        Query(description="Only those whose consent to billable work is this (e.g. pending)."),
    ] = None,
    received_from: Annotated[
        QueryInstant | None, Query(description="Received at or after this instant.")
    ] = None,
    received_to: Annotated[
        QueryInstant | None, Query(description="Received before this instant.")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=NO_NUL_PATTERN,
            description="Text in the subject, the number or the sender (address or name).",
        ),
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    assignee: Annotated[
        str | None,
        Query(
            pattern=r"^(me|none|[1-9][0-9]{0,9})$",
            description="`me` (the caller's), `none` (nobody's) or a staff member's id.",
        ),
    ] = None,
) -> Response:
    """The work queue: urgent first (R12), then the nearest deadline; keyset paginated."""
    filters = queue.TicketFilters(
        status=tuple(status) if status else None,
        customer_id=customer_id,
        contract_id=contract_id,
        urgent=urgent,
        sla_state=sla_state,
        category=category,
        billable=billable,
        consent=consent,
        received_from=_aware(received_from, "received_from"),
        received_to=_aware(received_to, "received_to"),
        q=q,
        assignee_id=_assignee_id(assignee, viewer),
        unassigned=assignee == "none",
    )
    page = queue.queue_page(
        filters,
        session=session,
        now=now,
        limit=limit,
        cursor=cursor,
        fraction=knobs.at_risk_fraction,
    )
    return serialised(page_json(page))  # the page the desk reads most: serialised once


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Unprocessable(
            f"{field} needs a UTC offset, e.g. 2026-11-24T16:00:00+01:00.",
            errors=[field_error(field, "timezone offset required")],
        )
    return value


@router.get("/{ticket_ref}", response_model=TicketRead, status_code=200, responses=READ)
def get(
    ticket_ref: TicketRef, session: SessionDep, knobs: KnobsDep, now: Now, _: Viewer
) -> Response:
    """One ticket, with its SLA block computed now."""
    view = queue.ticket_view(ticket_ref, session=session, now=now, fraction=knobs.at_risk_fraction)
    return serialised(ticket_json(view))


@router.patch("/{ticket_ref}", response_model=TicketRead, status_code=200, responses=WRITE)
def update(
    ticket_ref: TicketRef,
    data: TicketUpdate,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    agent: Agent,
) -> TicketRead:
    """Triage: category, customer, urgency decision, priority handling, estimate, owner
    (logged)."""
    ticket_id = queue.ticket_id_of(ticket_ref, session=session)
    ticket = lifecycle.update_ticket(
        ticket_id,
        data,
        session=session,
        knobs=knobs,
        actor=agent.name,
        now=now,
        actor_staff_id=agent.staff_id,
    )
    return read_ticket(ticket, now=now, fraction=knobs.at_risk_fraction)


@router.post(
    "/{ticket_ref}/take-charge", response_model=TicketRead, status_code=200, responses=WRITE
)
def take_charge(
    ticket_ref: TicketRef,
    data: TakeChargeIn,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    agent: Agent,
) -> TicketRead:
    """Take the request in charge (R9); the customer is emailed with the estimate (R11)."""
    ticket_id = queue.ticket_id_of(ticket_ref, session=session)
    ticket = lifecycle.take_charge(
        ticket_id,
        data,
        session=session,
        knobs=knobs,
        actor=agent.name,
        now=now,
        owner_id=agent.staff_id,
    )
    return read_ticket(ticket, now=now, fraction=knobs.at_risk_fraction)


@router.post("/{ticket_ref}/resolve", response_model=TicketRead, status_code=200, responses=WRITE)
def resolve(
    ticket_ref: TicketRef,
    data: ResolveIn,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    agent: Agent,
) -> TicketRead:
    """Resolve the request (R14: online or remote); the customer is emailed (R11)."""
    ticket_id = queue.ticket_id_of(ticket_ref, session=session)
    ticket = lifecycle.resolve(
        ticket_id, data, session=session, knobs=knobs, actor=agent.name, now=now
    )
    return read_ticket(ticket, now=now, fraction=knobs.at_risk_fraction)


@router.post("/{ticket_ref}/status", response_model=TicketRead, status_code=200, responses=WRITE)
def change_status(
    ticket_ref: TicketRef,
    data: StatusIn,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    agent: Agent,
) -> TicketRead:
    """Work on it, wait on a third party (R10), close, or reopen a resolved ticket."""
    ticket_id = queue.ticket_id_of(ticket_ref, session=session)
    ticket = lifecycle.change_status(
        ticket_id, data, session=session, knobs=knobs, actor=agent.name, now=now
    )
    return read_ticket(ticket, now=now, fraction=knobs.at_risk_fraction)


@router.post(
    "/{ticket_ref}/recompute-sla", response_model=TicketRead, status_code=200, responses=WRITE
)
def recompute_sla(
    ticket_ref: TicketRef, session: SessionDep, knobs: KnobsDep, now: Now, agent: Agent
) -> TicketRead:
    """Re-derive contract, coverage, billing and deadline from today's data (logged)."""
    ticket_id = queue.ticket_id_of(ticket_ref, session=session)
    ticket = lifecycle.recompute_sla(
        ticket_id, session=session, knobs=knobs, actor=agent.name, now=now, reason="requested"
    )
    return read_ticket(ticket, now=now, fraction=knobs.at_risk_fraction)


@router.get("/{ticket_ref}/sla", response_model=SlaBlock, status_code=200, responses=READ)
def get_sla(
    ticket_ref: TicketRef, session: SessionDep, knobs: KnobsDep, now: Now, _: Viewer
) -> SlaBlock:
    """The SLA block alone, computed now."""
    ticket = queue.ticket_of(ticket_ref, session=session)
    return sla_block(ticket, now=now, fraction=knobs.at_risk_fraction)


@router.get(
    "/{ticket_ref}/sla/explain", response_model=SlaExplained, status_code=200, responses=READ
)
def explain_sla(
    ticket_ref: TicketRef, session: SessionDep, knobs: KnobsDep, now: Now, _: Viewer
) -> SlaExplained:
    """The SLA block and why the deadline is what it is: each open segment, each day skipped."""
    ticket = queue.ticket_of(ticket_ref, session=session)
    return explained_sla(ticket, now=now, fraction=knobs.at_risk_fraction)


@router.post(
    "/{ticket_ref}/status-link/revoke",
    response_model=LinksRevoked,
    status_code=200,
    responses=WRITE,
)
def revoke_status_link(
    ticket_ref: TicketRef, session: SessionDep, now: Now, _: Agent
) -> LinksRevoked:
    """Revoke the customer's status link (a forwarded email, say): it answers 404 from now on."""
    ticket = queue.ticket_of(ticket_ref, session=session)
    assert ticket.id is not None
    return LinksRevoked(revoked=status_page.revoke(ticket.id, session=session, now=now))


def _assignee_id(assignee: str | None, caller: Principal) -> int | None:
    """The owner `assignee=me|ID` names (`none` is nobody); `me` needs a staff member's token."""
    if assignee is None or assignee == "none":
        return None
    if assignee == "me":
        if caller.staff_id is None:
            raise Unprocessable(
                "assignee=me needs a staff member's token (this one has none).",
                errors=[field_error("assignee", "no staff member")],
            )
        return caller.staff_id
    if int(assignee) > MAX_ID:
        raise Unprocessable(
            f"No id is above {MAX_ID}.", errors=[field_error("assignee", "too big")]
        )
    return int(assignee)
