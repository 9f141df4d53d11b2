"""Intake: a request becomes a ticket with its customer, contract and SLA snapshot (R1-R16).

One typed request (`TicketRequest`) for every way in: an email, the contact form, a request
typed by staff. Its message becomes the first of the ticket's conversation, with its files.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import configure_mappers
from sqlmodel import Session

from app.engine import renewals, sla
from app.engine.months import REPORT_TIMEZONE
from app.enums import Category, Consent, EventType, Status, Urgency
from app.errors import Unprocessable, field_error
from app.models.base import iso, table_of
from app.models.message import NewMessage
from app.models.ticket import Ticket, TicketCreate
from app.services.directory import terms
from app.services.intake.attachments import store_attachments
from app.services.intake.parsing import InboundAttachment
from app.services.knobs import Knobs
from app.services.notifications import notify
from app.services.tickets import audit, consent, status_page
from app.services.tickets.conversation import add_message
from app.services.tickets.snapshot import decision_columns, derived_columns
from app.services.webhooks import events

# Clocks differ a little between the callers and us; beyond this, "received" is in the future.
CLOCK_SKEW = timedelta(minutes=2)

# A number says the year of Rome, as statements and billing count it (not UTC's, which is
# still the year before in the first hour of 1 January).
_NUMBER_ZONE = ZoneInfo(REPORT_TIMEZONE)


def ticket_number(received_at: datetime, serial: int) -> str:
    """The number the customer knows: the year it was received in, and a serial."""
    return f"{received_at.astimezone(_NUMBER_ZONE):%Y}-{serial:06d}"


@dataclass(frozen=True)
class TicketRequest:
    """One request to open a ticket: its first message, the ticket's text, and what comes with
    it. The ticket's channel, sender, subject and arrival are its first message's."""

    message: NewMessage
    body: str  # the ticket's text: the message without quoted replies, or as typed
    category: Category | None = None
    attachments: tuple[InboundAttachment, ...] = ()
    parent_ticket_id: int | None = None  # the closed ticket, or another's, it follows up
    receipt: bool = True  # whether the customer is sent a receipt

    @classmethod
    def typed(
        cls, data: TicketCreate, *, now: datetime, receipt: bool = True, **message: Any
    ) -> "TicketRequest":
        """A request as typed (the API, the contact form): its text is its message's text."""
        first = NewMessage(
            direction="inbound",
            channel=data.channel,
            text=data.body,
            received_at=data.received_at or now,
            from_email=data.from_email,
            from_name=data.from_name,
            subject=data.subject,
            **message,
        )
        return cls(first, data.body, data.category, receipt=receipt)


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
    request = TicketRequest.typed(data, now=now, receipt=False)
    opened = open_ticket(request, session=session, knobs=knobs, actor=actor, now=now)
    ticket = session.get(Ticket, opened.id)
    assert ticket is not None  # written just now, in this transaction
    return ticket


def open_ticket(
    request: TicketRequest, *, session: Session, knobs: Knobs, actor: str, now: datetime
) -> OpenedTicket:
    """Record a request with its customer, contract and SLA snapshot (R1-R12, R15, R16): the
    ticket, its first message and files, and the audit entry, in the caller's transaction.

    The customer is sent a receipt with the number and the deadline (`receipt`), and an
    urgent email received while closed alerts the on-call staff (R15, R17).
    """
    message = request.message
    if message.received_at > now + CLOCK_SKEW:
        raise Unprocessable(
            "received_at is in the future.",
            errors=[field_error("received_at", "must not be in the future")],
        )
    sender = terms.sender_terms(message.from_email, session=session)
    decision = _decide(request, sender, session=session, knobs=knobs)
    ticket_id = _next_ticket_id(session)
    row = _ticket_row(ticket_id, request, sender.customer_id, decision, knobs=knobs, now=now)
    # R2: just after the customer's contract lapsed, the ticket and its receipt say so.
    row["contract_lapsed_on"] = renewals.lapsed_on(
        sender.contracts, instant=message.received_at, within_days=knobs.lapsed_contract_days
    )
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
    message_id = add_message(ticket_id, message, session=session, created_at=now)
    store_attachments(message_id, request.attachments, session=session)
    events.publish(
        EventType.TICKET_CREATED,
        session=session,
        at=now,
        cause=f"ticket:{ticket_id}",
        ticket_id=ticket_id,
        data=lambda: events.ticket_data(ticket_id, session=session, at=now),
    )
    if request.receipt or decision.on_call_alert:
        # The ticket as just written (a copy, not read back, never added to the session),
        # its columns not validated again (the constructor takes a quarter of a millisecond).
        # `model_construct` needs SQLAlchemy's mappers configured, which the constructor does
        # in a process that has not used them yet: configure_mappers() (done once) does too.
        configure_mappers()
        ticket = Ticket.model_construct(**row)
        if request.receipt:
            _send_receipt(ticket, message, sender.language, session=session, knobs=knobs, now=now)
        if decision.on_call_alert:
            # R15: an urgent email while closed reaches staff now (R17: nothing waits unseen).
            notify.on_call_alert(ticket, session=session, mail=knobs.mail, at=now)
    return OpenedTicket(
        id=ticket_id,
        number=row["number"],
        message_id=message_id,
        take_charge_due_at=decision.take_charge_due_at,
    )


def _decide(
    request: TicketRequest, sender: terms.SenderTerms, *, session: Session, knobs: Knobs
) -> sla.SlaDecision:
    """The SLA decision for the request, on its sender's contracts (R1-R12)."""
    message = request.message
    facts = sla.RequestFacts(
        received_at=message.received_at,
        channel=message.channel,
        subject=message.subject,
        category=request.category,
    )
    return terms.decision_for(
        facts,
        customer_id=sender.customer_id,
        contracts=sender.contracts,
        session=session,
        support_hours=knobs.support_hours,
        # Automatic mail never creates an urgent ticket (loops and noise).
        urgency=Urgency.NONE if message.auto_submitted else None,
    )


def _ticket_row(
    ticket_id: int,
    request: TicketRequest,
    customer_id: int | None,
    decision: sla.SlaDecision,
    *,
    knobs: Knobs,
    now: datetime,
) -> dict[str, Any]:
    """The ticket's columns: the request's, the decision's and what derives from them."""
    message = request.message
    return {
        "id": ticket_id,
        "number": ticket_number(message.received_at, ticket_id),
        "status": Status.NEW,
        "channel": message.channel,
        "subject": message.subject,
        "body": request.body,
        "from_email": message.from_email,
        "from_name": message.from_name,
        "customer_id": customer_id,
        "category": request.category,
        "priority_handling": False,
        "received_at": message.received_at,
        "auto_submitted": message.auto_submitted,
        "parent_ticket_id": request.parent_ticket_id,
        "created_at": now,
        "updated_at": now,
        # P4: billable work waits for the customer's consent, asked in the receipt.
        "consent": Consent.PENDING if decision.billable else Consent.NOT_NEEDED,
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


def _send_receipt(
    ticket: Ticket,
    message: NewMessage,
    language: str,
    *,
    session: Session,
    knobs: Knobs,
    now: datetime,
) -> None:
    """The customer's receipt: number and deadline, threaded under their message (R11)."""
    assert ticket.id is not None
    addressee = notify.Addressee(
        language=language,
        status_token=status_page.new_link(ticket.id, session=session, now=now),
        thread=notify.thread_headers(message.message_id, list(message.references)),
    )
    notify.tell_customer(
        ticket,
        "receipt",
        session=session,
        mail=knobs.mail,
        at=now,
        cause="1",
        addressee=addressee,
        words=consent.letter_words(ticket, rates=knobs.rates, language=language),
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
