"""A ticket's consent to billable work (R2, R4, R5, R13): HTTP only. The customer answers on
the status page (routers/status_page.py); staff read it and record an answer given by other
means."""

from fastapi import APIRouter

from app.deps import Agent, KnobsDep, Now, SessionDep, Viewer
from app.models.common import TicketRef
from app.models.consent import ConsentIn, ConsentRead
from app.routers._responses import READ, WRITE
from app.services.tickets import consent, queue

router = APIRouter(prefix="/tickets", tags=["tickets"])


@router.get("/{ticket_ref}/consent", response_model=ConsentRead, status_code=200, responses=READ)
def get_consent(ticket_ref: TicketRef, session: SessionDep, _: Viewer) -> ConsentRead:
    """The customer's consent to billable work: pending, given, declined or not_needed, with
    the record of the answer (when, the link's id, the address, the rate text and version)."""
    ticket_id = queue.ticket_id_of(ticket_ref, session=session)
    return consent.consent_of(ticket_id, session=session)


@router.post("/{ticket_ref}/consent", response_model=ConsentRead, status_code=201, responses=WRITE)
def record_consent(
    ticket_ref: TicketRef,
    data: ConsentIn,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    agent: Agent,
) -> ConsentRead:
    """Record an answer the customer gave by other means, with a note (audited); 409 when
    nothing is billable or an answer is recorded already (it never changes)."""
    ticket_id = queue.ticket_id_of(ticket_ref, session=session)
    return consent.record_by_staff(
        ticket_id, data, session=session, rates=knobs.rates, actor=agent.name, now=now
    )
