"""Intake: a request becomes a ticket with its customer, contract and SLA snapshot (R1-R16).

The request's text becomes the first message of the ticket's conversation.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlmodel import Session

from app.engine import sla
from app.enums import Status, Urgency
from app.errors import Unprocessable, field_error
from app.models.base import iso, table_of
from app.models.ticket import Ticket, TicketCreate
from app.services.directory import terms
from app.services.knobs import Knobs
from app.services.notifications import notify
from app.services.tickets import audit, status_page
from app.services.tickets.conversation import add_message
from app.services.tickets.snapshot import decision_columns, derived_columns

# Clocks differ a little between the callers and us; beyond this, "received" is in the future.
CLOCK_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class OpenedTicket:
    """A ticket just recorded: what intake callers answer with."""

    id: int
    number: str
    message_id: int
    take_charge_due_at: datetime | None


def create_ticket(
    data: TicketCreate, *, session: Session, knobs: Knobs, actor: str, now: datetime
) -> Ticket:
    """Record a request (see `open_ticket`) and return the stored ticket, for the API.

    Staff record requests by hand or import them: the customer gets no automatic receipt.
    """
    opened = open_ticket(data, session=session, knobs=knobs, actor=actor, now=now, receipt=False)
    ticket = session.get(Ticket, opened.id)
    assert ticket is not None  # written just now, in this transaction
    return ticket


def open_ticket(
    data: TicketCreate,
    *,
    session: Session,
    knobs: Knobs,
    actor: str,
    now: datetime,
    auto_submitted: bool = False,
    message_fields: dict[str, Any] | None = None,
    parent_ticket_id: int | None = None,
    receipt: bool = True,
) -> OpenedTicket:
    """Record a request with its customer, contract and SLA snapshot (R1-R12, R15, R16).

    The customer is sent a receipt with the number and the deadline (`receipt`), and an
    urgent email received while closed alerts the on-call staff (R15, R17).
    """
    received_at = data.received_at or now
    if received_at > now + CLOCK_SKEW:
        raise Unprocessable(
            "received_at is in the future.",
            errors=[field_error("received_at", "must not be in the future")],
        )
    sender = terms.sender_terms(data.from_email, session=session)
    customer_id = sender.customer_id
    facts = sla.RequestFacts(
        received_at=received_at, channel=data.channel, subject=data.subject, category=data.category
    )
    decision = terms.decision_for(
        facts,
        customer_id=customer_id,
        contracts=sender.contracts,
        session=session,
        support_hours=knobs.support_hours,
        # Automatic mail never creates an urgent ticket (loops and noise).
        urgency=Urgency.NONE if auto_submitted else None,
    )
    ticket_id = _next_ticket_id(session)
    number = f"{received_at.astimezone(UTC):%Y}-{ticket_id:06d}"
    row = {
        "id": ticket_id,
        "number": number,
        "status": Status.NEW,
        "channel": data.channel,
        "subject": data.subject,
        "body": data.body,
        "from_email": data.from_email,
        "from_name": data.from_name,
        "customer_id": customer_id,
        "category": data.category,
        "priority_handling": False,
        "received_at": received_at,
        "auto_submitted": auto_submitted,
        "parent_ticket_id": parent_ticket_id,
        "created_at": now,
        "updated_at": now,
        **decision_columns(decision),
        **derived_columns(
            urgent=decision.urgent,
            take_charge_due_at=decision.take_charge_due_at,
            clock_started_at=decision.clock_started_at,
            target_seconds=decision.target_seconds,
            taken_in_charge_at=None,
            calendar=decision.calendar,
            fraction=knobs.at_risk_fraction,
        ),
    }
    # One INSERT statement: tickets are written with Core only (see lifecycle's `_save`).
    session.connection().execute(_INSERT_TICKET, row)
    audit.record(
        ticket_id,
        session=session,
        actor=actor,
        kind="created",
        to_status=Status.NEW,
        at=now,
        data={
            "policy": decision.policy,
            "coverage": decision.coverage,
            "take_charge_due_at": iso(decision.take_charge_due_at),
            "urgency": decision.urgency,
        },
    )
    message = {
        "text": data.body,
        "from_email": data.from_email,
        "from_name": data.from_name,
        "subject": data.subject,
        "auto_submitted": auto_submitted,
        **(message_fields or {}),
    }
    message_id = add_message(
        ticket_id,
        session=session,
        direction="inbound",
        channel=data.channel,
        received_at=received_at,
        created_at=now,
        **message,
    )
    if receipt or decision.on_call_alert:
        # The ticket as just written (a copy, not read back, never added to the session).
        # Built by its constructor, never `model_construct`: the constructor is what makes
        # SQLAlchemy configure the mappers in a process that has not used them yet.
        ticket = Ticket(**row)
        if receipt:
            # What the receipt needs is known here: no need to read it back.
            addressee = notify.Addressee(
                language=sender.language,
                status_token=status_page.new_link(ticket_id, session=session, now=now),
                thread=notify.thread_headers(message.get("message_id"), message.get("references")),
            )
            notify.tell_customer(
                ticket,
                "receipt",
                session=session,
                mail=knobs.mail,
                at=now,
                cause="1",
                addressee=addressee,
            )
        if decision.on_call_alert:
            # R15: an urgent email while closed reaches staff now (R17: nothing waits unseen).
            notify.on_call_alert(ticket, session=session, mail=knobs.mail, at=now)
    return OpenedTicket(
        id=ticket_id,
        number=number,
        message_id=message_id,
        take_charge_due_at=decision.take_charge_due_at,
    )


_TICKETS = table_of(Ticket)
_INSERT_TICKET = insert(_TICKETS)
_MAX_TICKET_ID = select(func.coalesce(func.max(_TICKETS.c.id), 0) + 1)
_NEXT_SERIAL = text("SELECT nextval(pg_get_serial_sequence('ticket', 'id'))")


def _next_ticket_id(session: Session) -> int:
    """The id the new ticket will have, so that its number is known before it is written.

    PostgreSQL takes it from the column's sequence. SQLite has one writer at a time and every
    writer holds the write lock from BEGIN IMMEDIATE (app.db), so the next id is the largest
    one plus one: what SQLite itself would choose.
    """
    connection = session.connection()
    statement = _MAX_TICKET_ID if connection.dialect.name == "sqlite" else _NEXT_SERIAL
    ticket_id: int = connection.execute(statement).scalar_one()
    return ticket_id
