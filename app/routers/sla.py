"""SLA views: preview a request, and the on-call lists of breaches and risks (R17)."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from app.deps import KnobsDep, Now, SessionDep, Viewer
from app.enums import SlaState
from app.models.common import Cursor, CustomerFilter, Limit
from app.models.sla import SlaPreview, SlaPreviewIn
from app.models.ticket import TicketPage
from app.routers._responses import READ, WRITE, serialised
from app.services.directory import terms
from app.services.tickets import queue
from app.services.tickets.snapshot import page_json

router = APIRouter(prefix="/sla", tags=["sla"])


@router.post("/preview", response_model=SlaPreview, status_code=200, responses=WRITE)
def preview(data: SlaPreviewIn, session: SessionDep, knobs: KnobsDep, _: Viewer) -> SlaPreview:
    """What a request like this would get: customer, contract, coverage, policy, deadline."""
    customer_id, decision = terms.preview(
        received_at=data.received_at,
        from_email=data.from_email,
        subject=data.subject,
        channel=data.channel,
        category=data.category,
        session=session,
        support_hours=knobs.support_hours,
    )
    return SlaPreview(
        customer_id=customer_id,
        contract_id=decision.contract_id,
        coverage=decision.coverage,
        urgent=decision.urgent,
        policy=decision.policy,
        clock_started_at=decision.clock_started_at,
        take_charge_due_at=decision.take_charge_due_at,
        target_seconds=decision.target_seconds,
        billable=decision.billable,
        billing_reasons=list(decision.billing_reasons),
        on_call_alert=decision.on_call_alert,
    )


@dataclass(frozen=True)
class QueueQuery:
    """Paging and the customer filter of the on-call views."""

    limit: int
    cursor: str | None
    customer_id: int | None


def queue_query(
    limit: Limit = 50,
    cursor: Cursor = None,
    customer_id: CustomerFilter = None,
) -> QueueQuery:
    """The query parameters shared by /sla/breaches and /sla/at-risk."""
    return QueueQuery(limit=limit, cursor=cursor, customer_id=customer_id)


QueueQueryDep = Annotated[QueueQuery, Depends(queue_query)]


def _open_in_state(
    state: SlaState, query: QueueQuery, *, session: SessionDep, knobs: KnobsDep, now: Now
) -> Response:
    filters = queue.TicketFilters(sla_state=state, customer_id=query.customer_id)
    page = queue.queue_page(
        filters,
        session=session,
        now=now,
        limit=query.limit,
        cursor=query.cursor,
        fraction=knobs.at_risk_fraction,
    )
    return serialised(page_json(page))


@router.get("/breaches", response_model=TicketPage, status_code=200, responses=READ)
def breaches(
    query: QueueQueryDep, session: SessionDep, knobs: KnobsDep, now: Now, _: Viewer
) -> Response:
    """Open tickets past their take-charge deadline, urgent first (R17)."""
    return _open_in_state(SlaState.BREACHED, query, session=session, knobs=knobs, now=now)


@router.get("/at-risk", response_model=TicketPage, status_code=200, responses=READ)
def at_risk(
    query: QueueQueryDep, session: SessionDep, knobs: KnobsDep, now: Now, _: Viewer
) -> Response:
    """Open tickets with less than the at-risk share of their target left (R17)."""
    return _open_in_state(SlaState.AT_RISK, query, session=session, knobs=knobs, now=now)
