"""Tickets: intake with the SLA snapshot, the lifecycle, the audit trail and the work queue."""

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, false, func, insert, or_, tuple_, update
from sqlmodel import Session, col, select

from app.db import write_later, write_pending
from app.errors import NotFound, Unprocessable, field_error
from app.models.base import table_of
from app.models.message import Message
from app.models.outbox import Outbox
from app.models.ticket import (
    MessageRead,
    ResolveIn,
    SlaBlock,
    StatusIn,
    TakeChargeIn,
    Ticket,
    TicketCreate,
    TicketEvent,
    TicketEventRead,
    TicketPage,
    TicketRead,
    TicketUpdate,
)
from app.services import sla, terms
from app.services.business_hours import CalendarSpec
from app.services.customers import get_customer
from app.services.lifecycle import OPEN_STATUSES, check_transition

# Tickets without a deadline sort after every ticket with one.
NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)
# Clocks differ a little between the callers and us; beyond this, "received" is in the future.
CLOCK_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class SlaKnobs:
    """The configurable parts of the SLA: R2's support target and the at-risk threshold."""

    support_hours: Decimal | None
    at_risk_fraction: float


# --- intake ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenedTicket:
    """A ticket just recorded: what intake callers answer with."""

    id: int
    number: str
    message_id: int | None  # None: the message is written at the commit (`message_later`)
    take_charge_due_at: datetime | None


def create_ticket(
    data: TicketCreate, *, session: Session, knobs: SlaKnobs, actor: str, now: datetime
) -> Ticket:
    """Record a request (see `open_ticket`) and load it whole, for the API."""
    opened = open_ticket(data, session=session, knobs=knobs, actor=actor, now=now)
    write_pending(session)  # the number, before the ticket is read back
    return get_ticket(opened.id, session=session)


def open_ticket(
    data: TicketCreate,
    *,
    session: Session,
    knobs: SlaKnobs,
    actor: str,
    now: datetime,
    auto_submitted: bool = False,
    message_fields: dict[str, Any] | None = None,
    parent_ticket_id: int | None = None,
    message_later: bool = False,
) -> OpenedTicket:
    """Record a request with its customer, contract and SLA snapshot (R1-R12, R15, R16).

    The request's text becomes the first message of the ticket's conversation. Intake is the
    hot path of email and the contact form: rows are written with single Core statements.
    """
    received_at = data.received_at or now
    if received_at > now + CLOCK_SKEW:
        raise Unprocessable(
            "received_at is in the future.",
            errors=[field_error("received_at", "must not be in the future")],
        )
    customer_id = terms.match_customer(data.from_email, session=session)
    facts = sla.RequestFacts(
        received_at=received_at, channel=data.channel, subject=data.subject, category=data.category
    )
    # Automatic mail never creates an urgent ticket (loops and noise).
    urgency = "none" if auto_submitted else None
    decision = terms.decide(
        facts,
        customer_id=customer_id,
        session=session,
        support_hours=knobs.support_hours,
        urgency=urgency,
    )
    columns = _decision_columns(decision) | _derived_columns(
        urgent=decision.urgent,
        take_charge_due_at=decision.take_charge_due_at,
        clock_started_at=decision.clock_started_at,
        target_seconds=decision.target_seconds,
        taken_in_charge_at=None,
        calendar=decision.calendar,
        fraction=knobs.at_risk_fraction,
    )
    connection = session.connection()
    ticket_id = connection.execute(
        _INSERT_TICKET,
        {
            "status": "new",
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
            **columns,
        },
    ).scalar_one()
    number = f"{received_at.astimezone(UTC):%Y}-{ticket_id:06d}"
    # Nothing in this transaction looks the number up (nobody knows it before the answer):
    # it is written at the commit, with the numbers of the whole batch.
    write_later(session, _NUMBER_TICKET, {"ticket_id": ticket_id, "number": number})
    record(
        ticket_id,
        session=session,
        actor=actor,
        kind="created",
        to_status="new",
        at=now,
        data={
            "policy": decision.policy,
            "coverage": decision.coverage,
            "take_charge_due_at": _iso(decision.take_charge_due_at),
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
        later=message_later,
        **message,
    )
    if decision.on_call_alert:
        # R15: an urgent email while closed reaches staff now (R17: nothing waits unseen).
        enqueue(
            session,
            kind="staff.on_call_alert",
            ticket_id=ticket_id,
            at=now,
            dedup_key=f"ticket:{ticket_id}:on_call_alert",
        )
    return OpenedTicket(
        id=ticket_id,
        number=number,
        message_id=message_id,
        take_charge_due_at=decision.take_charge_due_at,
    )


_TICKETS = table_of(Ticket)
_INSERT_TICKET = insert(_TICKETS).returning(_TICKETS.c.id)
_NUMBER_TICKET = (
    update(_TICKETS)
    .where(_TICKETS.c.id == bindparam("ticket_id"))
    .values(number=bindparam("number"))
)
_MESSAGES = table_of(Message)
_INSERT_MESSAGE = insert(_MESSAGES).returning(_MESSAGES.c.id)
_WRITE_MESSAGE = insert(_MESSAGES)
_INSERT_EVENT = insert(table_of(TicketEvent))
_MESSAGE_DEFAULTS: dict[str, Any] = {
    "message_id": None,
    "provider": None,
    "provider_id": None,
    "in_reply_to": [],
    "references": [],
    "from_email": "",
    "from_name": "",
    "to": [],
    "subject": "",
    "html": None,
    "headers": [],
    "auto_submitted": False,
    "auto_reason": None,
}


def add_message(
    ticket_id: int,
    *,
    session: Session,
    direction: str,
    channel: str,
    text: str,
    received_at: datetime,
    created_at: datetime | None = None,
    later: bool = False,
    **fields: Any,
) -> int | None:
    """Attach a message to a ticket's conversation; its id (None when written `later`, at
    the commit: for a message nothing refers to, no attachment say)."""
    unknown = fields.keys() - _MESSAGE_DEFAULTS.keys() - {"text_stripped"}
    if unknown:
        raise TypeError(f"unknown message fields: {', '.join(sorted(unknown))}")
    row = {
        **_MESSAGE_DEFAULTS,
        "ticket_id": ticket_id,
        "direction": direction,
        "channel": channel,
        "text": text,
        "text_stripped": fields.pop("text_stripped", text),
        "received_at": received_at,
        "created_at": created_at or received_at,
        **fields,
    }
    if later:
        write_later(session, _WRITE_MESSAGE, row)
        return None
    message_id: int = session.connection().execute(_INSERT_MESSAGE, row).scalar_one()
    return message_id


def _decision_columns(decision: sla.SlaDecision) -> dict[str, Any]:
    """The ticket's SLA snapshot and billing, as the engine decided them."""
    return {
        "contract_id": decision.contract_id,
        "coverage": decision.coverage,
        "urgent": decision.urgent,
        "urgency": decision.urgency,
        "billable": decision.billable,
        "billing_reasons": list(decision.billing_reasons),
        "sla_policy": decision.policy,
        "sla_calendar": decision.calendar.to_dict(),
        "sla_target_seconds": decision.target_seconds,
        "clock_started_at": decision.clock_started_at,
        "take_charge_due_at": decision.take_charge_due_at,
        "on_call_alert": decision.on_call_alert,
    }


def _derived_columns(
    *,
    urgent: bool,
    take_charge_due_at: datetime | None,
    clock_started_at: datetime | None,
    target_seconds: int | None,
    taken_in_charge_at: datetime | None,
    calendar: CalendarSpec,
    fraction: float,
) -> dict[str, Any]:
    """The queue and SLA-state columns that follow from the snapshot and taking in charge."""
    due = take_charge_due_at
    derived: dict[str, Any] = {
        "priority": 0 if urgent else 1,  # R12: urgent first
        "queue_due_at": due or NO_DEADLINE,
        "at_risk_at": None,
        "breach_at": None,
    }
    if due is None or clock_started_at is None or target_seconds is None:
        return derived
    taken = taken_in_charge_at
    derived["breach_at"] = None if taken is not None and taken <= due else due
    if taken is None:
        derived["at_risk_at"] = terms.at_risk_from(
            calendar,
            clock_started_at=clock_started_at,
            target_seconds=target_seconds,
            fraction=fraction,
        )
    return derived


def _apply_decision(ticket: Ticket, decision: sla.SlaDecision, *, fraction: float) -> None:
    for column, value in _decision_columns(decision).items():
        setattr(ticket, column, value)
    _refresh_derived(ticket, fraction=fraction)


def _refresh_derived(ticket: Ticket, *, fraction: float) -> None:
    """Keep the queue and SLA-state columns in step with the snapshot and taking in charge."""
    derived = _derived_columns(
        urgent=ticket.urgent,
        take_charge_due_at=ticket.take_charge_due_at,
        clock_started_at=ticket.clock_started_at,
        target_seconds=ticket.sla_target_seconds,
        taken_in_charge_at=ticket.taken_in_charge_at,
        calendar=_spec(ticket),
        fraction=fraction,
    )
    for column, value in derived.items():
        setattr(ticket, column, value)


def _spec(ticket: Ticket) -> CalendarSpec:
    return CalendarSpec.from_dict(ticket.sla_calendar)


# --- reading --------------------------------------------------------------------------------


def get_ticket(ticket_id: int, *, session: Session) -> Ticket:
    """The ticket, or NotFound."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"No ticket with id {ticket_id}.")
    return ticket


def sla_block(ticket: Ticket, *, now: datetime, fraction: float) -> SlaBlock:
    """The SLA block, computed for `now` by the pure engine from the stored snapshot."""
    status = sla.sla_status(
        calendar=_spec(ticket),
        clock_started_at=ticket.clock_started_at,
        take_charge_due_at=ticket.take_charge_due_at,
        target_seconds=ticket.sla_target_seconds,
        taken_in_charge_at=ticket.taken_in_charge_at,
        now=now,
        at_risk_fraction=fraction,
    )
    return SlaBlock(
        policy=ticket.sla_policy,  # type: ignore[arg-type]
        state=status.state,
        clock_started_at=ticket.clock_started_at,
        take_charge_due_at=ticket.take_charge_due_at,
        taken_in_charge_at=ticket.taken_in_charge_at,
        business_seconds_elapsed=status.business_seconds_elapsed,
        business_seconds_remaining=status.business_seconds_remaining,
        target_seconds=ticket.sla_target_seconds,
        on_call_alert=ticket.on_call_alert,
    )


def read_ticket(ticket: Ticket, *, now: datetime, fraction: float) -> TicketRead:
    """The API view of a ticket, its SLA block computed for `now`."""
    values = ticket.model_dump()
    values["sla"] = sla_block(ticket, now=now, fraction=fraction)
    return TicketRead.model_validate(values)


def list_events(ticket_id: int, *, session: Session) -> list[TicketEventRead]:
    """The ticket's audit trail, oldest first."""
    get_ticket(ticket_id, session=session)
    rows = session.exec(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(col(TicketEvent.id))
    )
    return [TicketEventRead.model_validate(r, from_attributes=True) for r in rows]


def list_messages(ticket_id: int, *, session: Session) -> list[MessageRead]:
    """The ticket's conversation, oldest first."""
    get_ticket(ticket_id, session=session)
    rows = session.exec(
        select(Message)
        .where(Message.ticket_id == ticket_id)
        .order_by(col(Message.received_at), col(Message.id))
    )
    return [MessageRead.model_validate(r, from_attributes=True) for r in rows]


# --- the lifecycle --------------------------------------------------------------------------


def take_charge(
    ticket_id: int,
    data: TakeChargeIn,
    *,
    session: Session,
    knobs: SlaKnobs,
    actor: str,
    now: datetime,
) -> Ticket:
    """A staff member accepts the request; the customer is told, with the estimate (R9, R11)."""
    ticket = _lock(ticket_id, session=session)
    check_transition(ticket.status, "taken_in_charge")
    if data.estimated_resolution_at is not None:
        _check_estimate(ticket, data.estimated_resolution_at)
        ticket.estimated_resolution_at = data.estimated_resolution_at
    ticket.taken_in_charge_at = now
    _refresh_derived(ticket, fraction=knobs.at_risk_fraction)
    state = (
        "n/a"
        if ticket.take_charge_due_at is None
        else ("met" if now <= ticket.take_charge_due_at else "breached")
    )
    _move(
        ticket,
        "taken_in_charge",
        session=session,
        actor=actor,
        at=now,
        kind="taken_in_charge",
        data={
            "note": data.note,
            "sla": state,
            "estimated_resolution_at": _iso(ticket.estimated_resolution_at),
        },
    )
    _notify_customer(ticket, "customer.taken_in_charge", session=session, at=now)  # R11
    return ticket


def resolve(
    ticket_id: int, data: ResolveIn, *, session: Session, actor: str, now: datetime
) -> Ticket:
    """Record the resolution and how it was delivered; the customer is told (R11, R14)."""
    ticket = _lock(ticket_id, session=session)
    check_transition(ticket.status, "resolved")
    ticket.resolution = data.resolution
    ticket.delivery_mode = data.delivery_mode
    ticket.resolved_at = now
    _move(
        ticket,
        "resolved",
        session=session,
        actor=actor,
        at=now,
        kind="resolved",
        data={"delivery_mode": data.delivery_mode},
    )
    _notify_customer(
        ticket, "customer.resolved", session=session, at=now, dedup=f"at:{now.isoformat()}"
    )  # R11
    return ticket


def change_status(
    ticket_id: int, data: StatusIn, *, session: Session, actor: str, now: datetime
) -> Ticket:
    """Move a ticket along its lifecycle: work, wait on a provider (R10), close, reopen."""
    ticket = _lock(ticket_id, session=session)
    check_transition(ticket.status, data.status)
    kind = (
        "reopened"
        if ticket.status == "resolved" and data.status == "in_progress"
        else "status_changed"
    )
    if data.status == "closed":
        ticket.closed_at = now
    _move(
        ticket,
        data.status,
        session=session,
        actor=actor,
        at=now,
        kind=kind,
        data={"note": data.note},
    )
    return ticket


def reopen(ticket: Ticket, *, session: Session, actor: str, now: datetime, reason: str) -> None:
    """A customer's reply reopens a resolved ticket (logged)."""
    check_transition(ticket.status, "in_progress")
    _move(
        ticket,
        "in_progress",
        session=session,
        actor=actor,
        at=now,
        kind="reopened",
        data={"reason": reason},
    )


def update_ticket(
    ticket_id: int,
    data: TicketUpdate,
    *,
    session: Session,
    knobs: SlaKnobs,
    actor: str,
    now: datetime,
) -> Ticket:
    """Triage a ticket; every change is logged, a new customer re-derives the SLA snapshot."""
    ticket = _lock(ticket_id, session=session)
    changes = data.model_dump(exclude_unset=True)
    for field in ("urgency", "priority_handling"):
        if field in changes and changes[field] is None:
            raise Unprocessable(
                f"{field} cannot be null.", errors=[field_error(field, "must not be null")]
            )
    before = {f: _plain(getattr(ticket, f)) for f in changes}
    if "estimated_resolution_at" in changes and data.estimated_resolution_at is not None:
        _check_estimate(ticket, data.estimated_resolution_at)
    if "customer_id" in changes and data.customer_id is not None:
        get_customer(data.customer_id, session=session)
    for field, value in changes.items():
        setattr(ticket, field, value)
    if "customer_id" in changes:
        # Relinking re-matches the contract and re-derives the deadline: logged, never silent.
        recompute_sla(
            ticket, session=session, knobs=knobs, actor=actor, now=now, reason="customer relinked"
        )
    elif changes.keys() & {"category", "urgency", "priority_handling"}:
        _rebill(ticket, session=session, knobs=knobs)
    after = {f: _plain(getattr(ticket, f)) for f in changes}
    if before != after:
        ticket.updated_at = now
        record(
            ticket.id,
            session=session,
            actor=actor,
            kind="updated",
            at=now,
            data={"before": before, "after": after},
        )
    session.add(ticket)
    session.flush()
    return ticket


def recompute_sla(
    ticket: Ticket, *, session: Session, knobs: SlaKnobs, actor: str, now: datetime, reason: str
) -> Ticket:
    """Re-derive contract, coverage, billing and deadline from the data as it is now (logged)."""
    before = _sla_summary(ticket)
    decision = _decide_again(ticket, session=session, knobs=knobs)
    _apply_decision(ticket, decision, fraction=knobs.at_risk_fraction)
    ticket.updated_at = now
    session.add(ticket)
    record(
        ticket.id,
        session=session,
        actor=actor,
        kind="sla_recomputed",
        at=now,
        data={"reason": reason, "before": before, "after": _sla_summary(ticket)},
    )
    session.flush()
    return ticket


def _rebill(ticket: Ticket, *, session: Session, knobs: SlaKnobs) -> None:
    """Coverage, urgency and billing follow triage; the deadline snapshot stays (R3-R5, R13)."""
    decision = _decide_again(ticket, session=session, knobs=knobs)
    ticket.coverage = decision.coverage
    ticket.urgent = decision.urgent
    ticket.urgency = decision.urgency
    ticket.billable = decision.billable
    ticket.billing_reasons = list(decision.billing_reasons)
    _refresh_derived(ticket, fraction=knobs.at_risk_fraction)


def _decide_again(ticket: Ticket, *, session: Session, knobs: SlaKnobs) -> sla.SlaDecision:
    facts = sla.RequestFacts(
        received_at=ticket.received_at,
        channel=ticket.channel,
        subject=ticket.subject,
        category=ticket.category,
    )
    staff_urgency = ticket.urgency if ticket.urgency in ("confirmed", "rejected") else None
    if ticket.auto_submitted and staff_urgency is None:
        staff_urgency = "none"
    return terms.decide(
        facts,
        customer_id=ticket.customer_id,
        session=session,
        support_hours=knobs.support_hours,
        urgency=staff_urgency,
        priority_handling=ticket.priority_handling,
    )


def _sla_summary(ticket: Ticket) -> dict[str, Any]:
    return {
        "contract_id": ticket.contract_id,
        "coverage": ticket.coverage,
        "policy": ticket.sla_policy,
        "take_charge_due_at": _iso(ticket.take_charge_due_at),
        "billing_reasons": list(ticket.billing_reasons),
    }


def _check_estimate(ticket: Ticket, estimate: datetime) -> None:
    if estimate <= ticket.received_at:
        raise Unprocessable(
            "estimated_resolution_at must be after the request was received.",
            errors=[field_error("estimated_resolution_at", "must be after received_at")],
        )


def _lock(ticket_id: int, *, session: Session) -> Ticket:
    """The ticket, locked for update (PostgreSQL; SQLite writers are serialised already)."""
    ticket = session.exec(select(Ticket).where(Ticket.id == ticket_id).with_for_update()).first()
    if ticket is None:
        raise NotFound(f"No ticket with id {ticket_id}.")
    return ticket


def _move(
    ticket: Ticket,
    status: str,
    *,
    session: Session,
    actor: str,
    at: datetime,
    kind: str,
    data: dict[str, Any],
) -> None:
    previous = ticket.status
    ticket.status = status
    ticket.updated_at = at
    session.add(ticket)
    record(
        ticket.id,
        session=session,
        actor=actor,
        kind=kind,
        from_status=previous,
        to_status=status,
        at=at,
        data=data,
    )


def record(
    ticket_id: int | None,
    *,
    session: Session,
    actor: str,
    kind: str,
    at: datetime,
    data: dict[str, Any],
    from_status: str | None = None,
    to_status: str | None = None,
) -> None:
    """Write an entry of the ticket's audit trail (at the commit, with the others queued)."""
    write_later(
        session,
        _INSERT_EVENT,
        {
            "ticket_id": ticket_id,
            "at": at,
            "actor": actor,
            "kind": kind,
            "from_status": from_status,
            "to_status": to_status,
            "data": data,
        },
    )


def enqueue(
    session: Session,
    *,
    kind: str,
    ticket_id: int | None,
    at: datetime,
    dedup_key: str,
    payload: dict[str, Any] | None = None,
) -> None:
    """Write a side effect to the outbox, in the same transaction as its cause (idempotent)."""
    exists = session.exec(select(Outbox.id).where(Outbox.dedup_key == dedup_key)).first()
    if exists is None:
        session.add(
            Outbox(
                kind=kind,
                ticket_id=ticket_id,
                dedup_key=dedup_key,
                created_at=at,
                available_at=at,
                payload={"ticket_id": ticket_id, **(payload or {})},
            )
        )


def _notify_customer(
    ticket: Ticket, kind: str, *, session: Session, at: datetime, dedup: str = ""
) -> None:
    if ticket.auto_submitted:
        return  # automatic mail never gets an automatic answer
    dedup_key = f"ticket:{ticket.id}:{kind}:{dedup}".rstrip(":")
    if session.exec(select(Outbox.id).where(Outbox.dedup_key == dedup_key)).first():
        return
    # The email's Message-ID is fixed now and stored, so the customer's reply (In-Reply-To)
    # finds this ticket even before the email is sent.
    message_id = f"{ticket.number}.{uuid.uuid4().hex}@sportello"
    add_message(
        ticket.id or 0,
        session=session,
        direction="outbound",
        channel=ticket.channel,
        text="",
        received_at=at,
        message_id=message_id,
        subject=ticket.subject,
        to=[ticket.from_email],
    )
    enqueue(
        session,
        kind=kind,
        ticket_id=ticket.id,
        at=at,
        dedup_key=dedup_key,
        payload={
            "to": ticket.from_email,
            "message_id": message_id,
            "estimated_resolution_at": _iso(ticket.estimated_resolution_at),
        },
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _plain(value: Any) -> Any:
    return _iso(value) if isinstance(value, datetime) else value


# --- the work queue -------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketFilters:
    """What GET /tickets can filter on; None means "any"."""

    status: tuple[str, ...] | None = None
    customer_id: int | None = None
    contract_id: int | None = None
    urgent: bool | None = None
    sla_state: str | None = None
    category: str | None = None
    billable: bool | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    q: str | None = None


def sla_state_condition(state: str, *, now: datetime) -> ColumnElement[bool]:
    """SQL for "the SLA state is `state` at `now`", from the derived columns (indexable)."""
    due, taken = col(Ticket.take_charge_due_at), col(Ticket.taken_in_charge_at)
    breach, risk = col(Ticket.breach_at), col(Ticket.at_risk_at)
    conditions: dict[str, ColumnElement[bool]] = {
        "not_applicable": due.is_(None),
        "met": and_(taken.is_not(None), due.is_not(None), breach.is_(None)),
        "breached": breach < now,
        "at_risk": and_(taken.is_(None), risk < now, breach >= now),
        "pending": and_(taken.is_(None), breach >= now, or_(risk.is_(None), risk >= now)),
    }
    return conditions.get(state, false())


def encode_cursor(ticket: Ticket) -> str:
    """An opaque position in the queue order."""
    raw = json.dumps([ticket.priority, ticket.queue_due_at.isoformat(), ticket.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        priority, due, ticket_id = json.loads(base64.urlsafe_b64decode(padded))
        return int(priority), datetime.fromisoformat(due), int(ticket_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise Unprocessable(
            "The cursor is not one this API gave out.",
            errors=[field_error("cursor", "invalid cursor")],
        ) from exc


def list_tickets(
    filters: TicketFilters,
    *,
    session: Session,
    now: datetime,
    limit: int,
    cursor: str | None = None,
) -> tuple[list[Ticket], str | None]:
    """A page of tickets: urgent first, then nearest deadline, then oldest (keyset paginated)."""
    query = select(Ticket)
    statuses = filters.status or OPEN_STATUSES
    if set(statuses) == set(OPEN_STATUSES):
        # Spelled like the partial index's predicate, so the planner uses it.
        query = query.where(col(Ticket.status).not_in(("resolved", "closed")))
    else:
        query = query.where(col(Ticket.status).in_(statuses))
    for field in ("customer_id", "contract_id", "urgent", "category", "billable"):
        value = getattr(filters, field)
        if value is not None:
            query = query.where(getattr(Ticket, field) == value)
    if filters.sla_state is not None:
        query = query.where(sla_state_condition(filters.sla_state, now=now))
    if filters.received_from is not None:
        query = query.where(col(Ticket.received_at) >= filters.received_from)
    if filters.received_to is not None:
        query = query.where(col(Ticket.received_at) < filters.received_to)
    if filters.q:
        pattern = (
            "%" + filters.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        query = query.where(func.lower(col(Ticket.subject)).like(pattern.lower(), escape="\\"))
    order = (col(Ticket.priority), col(Ticket.queue_due_at), col(Ticket.id))
    if cursor is not None:
        query = query.where(tuple_(*order) > tuple_(*_decode_cursor(cursor)))
    rows = list(session.exec(query.order_by(*order).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def queue_page(
    filters: TicketFilters,
    *,
    session: Session,
    now: datetime,
    limit: int,
    cursor: str | None,
    fraction: float,
) -> TicketPage:
    """A page of the work queue as the API shows it, SLA blocks computed for `now`."""
    rows, next_cursor = list_tickets(filters, session=session, now=now, limit=limit, cursor=cursor)
    return TicketPage(
        items=[read_ticket(t, now=now, fraction=fraction) for t in rows],
        limit=limit,
        next_cursor=next_cursor,
    )
