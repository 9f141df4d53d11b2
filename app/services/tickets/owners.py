"""A ticket's owner: the staff member it is given to, and who hears of it (P3).

Giving a ticket is logged, published to internal tools, and told by email to the new owner
when someone else gives it to them.
"""

from datetime import datetime

from sqlmodel import Session

from app.enums import EventType, Role
from app.errors import Unprocessable, field_error
from app.models.staff import StaffMember
from app.models.ticket import Ticket
from app.services.knobs import Knobs
from app.services.notifications import notify
from app.services.tickets import audit
from app.services.tickets.rows import check_writable, id_of, locked_ticket, save_ticket
from app.services.webhooks import events


def assign(
    ticket_id: int,
    assignee_id: int | None,
    *,
    session: Session,
    knobs: Knobs,
    actor: str,
    actor_staff_id: int | None,
    now: datetime,
) -> Ticket:
    """Give the ticket to a staff member (or to nobody); logged, and they are told by email
    when someone else gives it to them."""
    ticket = locked_ticket(ticket_id, session=session)
    check_writable(ticket)
    assign_to(
        ticket,
        assignee_id,
        session=session,
        knobs=knobs,
        actor=actor,
        actor_staff_id=actor_staff_id,
        now=now,
    )
    return ticket


def assign_to(
    ticket: Ticket,
    assignee_id: int | None,
    *,
    session: Session,
    knobs: Knobs,
    actor: str,
    actor_staff_id: int | None,
    now: datetime,
) -> None:
    """Give a locked ticket to `assignee_id`, unless it is theirs already; the move that
    locked it may go on changing it."""
    if ticket.assignee_id == assignee_id:
        return
    member = None if assignee_id is None else _require_assignee(assignee_id, session=session)
    before, ticket.assignee_id, ticket.updated_at = ticket.assignee_id, assignee_id, now
    save_ticket(ticket, session=session)
    event = audit.record(
        id_of(ticket),
        session=session,
        actor=actor,
        kind="assigned",
        at=now,
        data={"before": before, "after": assignee_id},
    )
    publish_assigned(ticket, before, session=session, actor=actor, at=now, cause=event)
    if member is not None and assignee_id != actor_staff_id:
        notify.tell_assignee(
            ticket,
            member,
            "assigned",
            session=session,
            mail=knobs.mail,
            at=now,
            cause=event,
            by=actor,
        )


def publish_assigned(
    ticket: Ticket, before: int | None, *, session: Session, actor: str, at: datetime, cause: int
) -> None:
    """Internal tools hear that the owner changed, in this transaction."""
    ticket_id, after = id_of(ticket), ticket.assignee_id
    events.publish(
        EventType.TICKET_ASSIGNED,
        session=session,
        at=at,
        cause=str(cause),
        ticket_id=ticket_id,
        data=lambda: {
            **events.ticket_data(ticket_id, session=session, at=at),
            "assignee_id": after,
            "previous_assignee_id": before,
            "by": actor,
        },
    )


def _require_assignee(staff_id: int, *, session: Session) -> StaffMember:
    member = session.get(StaffMember, staff_id)
    if member is None or not member.active or member.role == Role.VIEWER:
        raise Unprocessable(
            f"assignee_id: no active agent or admin with id {staff_id}.",
            errors=[field_error("assignee_id", "not an active agent")],
        )
    return member
