"""Merging a duplicate into the ticket that survives it: one request reported twice (an email
and the contact form, say) becomes one ticket, with the earliest receipt (R9) and one bill."""

from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import Session

from app.enums import Consent, Status
from app.errors import Conflict, InvalidTransition, Unprocessable, field_error
from app.models.audit import TicketEvent
from app.models.base import table_of
from app.models.billing import BilledItem, TimeEntry
from app.models.message import Message
from app.models.status_link import StatusLink
from app.models.ticket import Ticket
from app.services.knobs import Knobs
from app.services.notifications import notify
from app.services.tickets import audit, consent, lifecycle, rows
from app.services.tickets.snapshot import refresh_derived

_BILLED = table_of(BilledItem)
_MOVED_WITH_A_MERGE = tuple(
    table_of(model) for model in (Message, TimeEntry, TicketEvent, StatusLink)
)


def merge(
    ticket_id: int,
    into_id: int,
    *,
    force: bool,
    session: Session,
    knobs: Knobs,
    actor: str,
    now: datetime,
) -> Ticket:
    """Merge a duplicate into the surviving ticket; the survivor.

    The duplicate's messages (and their files), time entries, audit trail and status link
    move to the survivor; the duplicate is closed, read-only and points at it. The survivor
    keeps the earliest receipt (the customer asked first then: R9's clock starts there), and
    the duplicate is billed no more (one request, one line). Its customer gets one short email
    naming the number to use. Tickets of different customers merge only with `force`.
    """
    if ticket_id == into_id:
        raise Unprocessable(
            "A ticket cannot be merged into itself.", errors=[field_error("into", "itself")]
        )
    duplicate, survivor = _mergeable(ticket_id, into_id, force=force, session=session)
    # Told before its thread moves, so that the email answers the customer's own message.
    notify.tell_customer(
        duplicate,
        "merged",
        session=session,
        mail=knobs.mail,
        at=now,
        cause=f"into-{into_id}",
        words={"into": survivor.number},
    )
    connection = session.connection()
    for table in _MOVED_WITH_A_MERGE:
        connection.execute(
            update(table).where(table.c.ticket_id == ticket_id).values(ticket_id=into_id)
        )
    if duplicate.received_at < survivor.received_at:
        survivor.received_at = duplicate.received_at
        lifecycle.rederive(
            survivor,
            session=session,
            knobs=knobs,
            actor=actor,
            now=now,
            reason=f"merged with {duplicate.number}: the earliest receipt",
        )
    survivor.updated_at = now
    ask = consent.follow_billing(survivor, session=session)
    rows.save_ticket(survivor, session=session)
    event = audit.record(
        into_id,
        session=session,
        actor=actor,
        kind="merged",
        at=now,
        data={"from": duplicate.number, "force": force},
    )
    if ask:  # the earlier receipt made the work billable (R2): the customer is asked
        lifecycle.ask_consent(survivor, session=session, knobs=knobs, now=now, cause=event)
    _close_merged(duplicate, survivor, session=session, knobs=knobs, actor=actor, now=now)
    return survivor


def _mergeable(
    ticket_id: int, into_id: int, *, force: bool, session: Session
) -> tuple[Ticket, Ticket]:
    """(duplicate, survivor), both locked, once a merge of them is allowed."""
    # Locked in id order: two merges of the same pair never wait on each other crosswise.
    first, second = sorted((ticket_id, into_id))
    locked = {first: rows.locked_ticket(first, session=session)}
    locked[second] = rows.locked_ticket(second, session=session)
    duplicate, survivor = locked[ticket_id], locked[into_id]
    for ticket in (duplicate, survivor):
        if ticket.merged_into_id is not None:
            raise InvalidTransition(f"The ticket {ticket.number} was merged already.")
    if survivor.status == Status.CLOSED:
        raise InvalidTransition(f"The ticket {survivor.number} is closed: merge into an open one.")
    if duplicate.customer_id != survivor.customer_id and not force:
        raise Conflict(
            f"{duplicate.number} and {survivor.number} are of different customers; "
            "set force to merge them anyway."
        )
    billed = (
        session.connection()
        .execute(select(_BILLED.c.id).where(_BILLED.c.ticket_id == ticket_id).limit(1))
        .first()
    )
    if billed is not None:
        raise Conflict(f"{duplicate.number} was invoiced already: it cannot be merged.")
    return duplicate, survivor


def _close_merged(
    duplicate: Ticket,
    survivor: Ticket,
    *,
    session: Session,
    knobs: Knobs,
    actor: str,
    now: datetime,
) -> None:
    """The duplicate closed, read-only, pointing at the survivor and billed no more."""
    assert duplicate.id is not None
    previous = duplicate.status
    duplicate.status, duplicate.closed_at, duplicate.updated_at = Status.CLOSED, now, now
    duplicate.merged_into_id = survivor.id
    duplicate.billable, duplicate.billing_reasons = False, []
    duplicate.consent = Consent.NOT_NEEDED
    refresh_derived(duplicate, fraction=knobs.at_risk_fraction)
    rows.save_ticket(duplicate, session=session)
    audit.record(
        duplicate.id,
        session=session,
        actor=actor,
        kind="merged_into",
        at=now,
        from_status=previous,
        to_status=Status.CLOSED,
        data={"into": survivor.number},
    )
