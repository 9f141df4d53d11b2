"""The ticket lifecycle: a small explicit state machine, and the moves staff make on it.

new -> taken_in_charge -> in_progress <-> waiting_third_party -> resolved -> closed; a quick fix
may be resolved straight after taking charge, and a resolved ticket may reopen. Every move is
written to the audit trail; taking in charge and resolving tell the customer (R11).

Each move reads the ticket under a row lock (`rows.locked_ticket`), changes that value, and
writes it back with one UPDATE (`rows.save_ticket`). Who owns a ticket is `owners`' job.
"""

from datetime import datetime
from typing import Any

from sqlmodel import Session

from app.engine import renewals, sla
from app.enums import EventType, Status, Urgency
from app.errors import InvalidTransition, NotFound, Unprocessable, field_error
from app.models.base import iso
from app.models.ticket import ResolveIn, StatusIn, TakeChargeIn, Ticket, TicketUpdate
from app.services.directory import terms
from app.services.directory.customers import get_customer, language_of
from app.services.knobs import Knobs
from app.services.notifications import notify, outbox
from app.services.tickets import audit, consent
from app.services.tickets.owners import assign_to, publish_assigned
from app.services.tickets.rows import id_of, locked_ticket, save_ticket
from app.services.tickets.snapshot import apply_decision, refresh_derived
from app.services.webhooks import events

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.TAKEN_IN_CHARGE}),
    Status.TAKEN_IN_CHARGE: frozenset({Status.IN_PROGRESS, Status.RESOLVED}),
    Status.IN_PROGRESS: frozenset({Status.WAITING_THIRD_PARTY, Status.RESOLVED}),
    # R10: waiting on a provider.
    Status.WAITING_THIRD_PARTY: frozenset({Status.IN_PROGRESS, Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.IN_PROGRESS}),
    Status.CLOSED: frozenset(),
}


def check_transition(current: Status, target: Status) -> None:
    """Raise InvalidTransition (409) unless `current -> target` is allowed."""
    allowed = TRANSITIONS[Status(current)]
    if target in allowed:
        return
    names = sorted(allowed)
    raise InvalidTransition(
        f"A ticket cannot go from '{current}' to '{target}'"
        + (
            f"; from '{current}' it can go to: {', '.join(names)}."
            if names
            else f"; '{current}' is final."
        ),
        current_status=current,
        requested_status=target,
        allowed=names,
    )


def take_charge(
    ticket_id: int,
    data: TakeChargeIn,
    *,
    session: Session,
    knobs: Knobs,
    actor: str,
    now: datetime,
    tell: bool = True,
    owner_id: int | None = None,
) -> Ticket:
    """A staff member accepts the request; the customer is told, with the estimate (R9, R11),
    unless `tell` is false: a reply written with it says it instead, in one email. A ticket
    without an owner gets `owner_id` (the staff member taking it) as its owner."""
    ticket = locked_ticket(ticket_id, session=session)
    check_transition(ticket.status, Status.TAKEN_IN_CHARGE)
    # P4: billable work waits for the customer's consent, unless staff proceed (audited).
    consent.check_before_work(
        ticket, proceed=data.proceed_without_consent, session=session, actor=actor, now=now
    )
    owned = ticket.assignee_id is None and owner_id is not None
    if owned:
        ticket.assignee_id = owner_id  # written by the move below
    if data.estimated_resolution_at is not None:
        _check_estimate(ticket, data.estimated_resolution_at)
        ticket.estimated_resolution_at = data.estimated_resolution_at
    ticket.taken_in_charge_at = now
    refresh_derived(ticket, fraction=knobs.at_risk_fraction)
    state = (
        "n/a"
        if ticket.take_charge_due_at is None
        else ("met" if now <= ticket.take_charge_due_at else "breached")
    )
    event = _move(
        ticket,
        Status.TAKEN_IN_CHARGE,
        session=session,
        actor=actor,
        at=now,
        kind="taken_in_charge",
        data={
            "note": data.note,
            "sla": state,
            "estimated_resolution_at": iso(ticket.estimated_resolution_at),
            "assignee_id": ticket.assignee_id,
        },
    )
    if owned:
        publish_assigned(ticket, None, session=session, actor=actor, at=now, cause=event)
    # Staff need no more warnings about it: an SLA alert not sent yet is cancelled.
    outbox.cancel(f"ticket:{ticket.id}:sla.", session=session, reason="taken in charge")
    # R11: taking in charge is always told, with the estimate or why there is none yet.
    if tell:
        notify.tell_customer(
            ticket, "taken_in_charge", session=session, mail=knobs.mail, at=now, cause=event
        )
    return ticket


def resolve(
    ticket_id: int,
    data: ResolveIn,
    *,
    session: Session,
    knobs: Knobs,
    actor: str,
    now: datetime,
    tell: bool = True,
) -> Ticket:
    """Record the resolution and how it was delivered; the customer is told (R11, R14), unless
    `tell` is false: a reply written with it says it instead, in one email."""
    ticket = locked_ticket(ticket_id, session=session)
    check_transition(ticket.status, Status.RESOLVED)
    ticket.resolution = data.resolution
    ticket.delivery_mode = data.delivery_mode
    ticket.resolved_at = now
    event = _move(
        ticket,
        Status.RESOLVED,
        session=session,
        actor=actor,
        at=now,
        kind="resolved",
        data={"delivery_mode": data.delivery_mode},
    )
    # R11: the resolution is told too, with how it was delivered (R14).
    if tell:
        notify.tell_customer(
            ticket, "resolved", session=session, mail=knobs.mail, at=now, cause=event
        )
    return ticket


def change_status(
    ticket_id: int, data: StatusIn, *, session: Session, knobs: Knobs, actor: str, now: datetime
) -> Ticket:
    """Move a ticket along its lifecycle: work, wait on a provider (R10), close, reopen."""
    ticket = locked_ticket(ticket_id, session=session)
    check_transition(ticket.status, data.status)
    reopening = ticket.status == Status.RESOLVED and data.status == Status.IN_PROGRESS
    if data.status == Status.CLOSED:
        ticket.closed_at = now
    event = _move(
        ticket,
        data.status,
        session=session,
        actor=actor,
        at=now,
        kind="reopened" if reopening else "status_changed",
        data={"note": data.note},
    )
    if data.status == Status.WAITING_THIRD_PARTY:
        # R10: the customer learns that the resolution now depends on a provider.
        notify.tell_customer(
            ticket, "waiting_third_party", session=session, mail=knobs.mail, at=now, cause=event
        )
    return ticket


def reopen(ticket: Ticket, *, session: Session, actor: str, now: datetime, reason: str) -> None:
    """A customer's reply reopens a resolved ticket (logged)."""
    check_transition(ticket.status, Status.IN_PROGRESS)
    _move(
        ticket,
        Status.IN_PROGRESS,
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
    knobs: Knobs,
    actor: str,
    now: datetime,
    actor_staff_id: int | None = None,
) -> Ticket:
    """Triage a ticket; every change is logged, a new customer re-derives the SLA snapshot."""
    ticket = locked_ticket(ticket_id, session=session)
    changes = data.model_dump(exclude_unset=True)
    if "assignee_id" in changes:
        assign_to(
            ticket,
            changes.pop("assignee_id"),
            session=session,
            knobs=knobs,
            actor=actor,
            actor_staff_id=actor_staff_id,
            now=now,
        )
    for field in ("urgency", "priority_handling"):
        if field in changes and changes[field] is None:
            raise Unprocessable(
                f"{field} cannot be null.", errors=[field_error(field, "must not be null")]
            )
    before = {f: _plain(getattr(ticket, f)) for f in changes}
    if "estimated_resolution_at" in changes and data.estimated_resolution_at is not None:
        _check_estimate(ticket, data.estimated_resolution_at)
    if "customer_id" in changes and data.customer_id is not None:
        _require_customer(data.customer_id, session=session)
    for field, value in changes.items():
        setattr(ticket, field, value)
    if "customer_id" in changes:
        # Relinking re-matches the contract and re-derives the deadline: logged, never silent.
        rederive(
            ticket, session=session, knobs=knobs, actor=actor, now=now, reason="customer relinked"
        )
    elif changes.keys() & {"category", "urgency", "priority_handling"}:
        _rebill(ticket, session=session, knobs=knobs)
    to_ask = consent.follow_billing(ticket, session=session)
    after = {f: _plain(getattr(ticket, f)) for f in changes}
    if before != after:
        ticket.updated_at = now
        event = audit.record(
            ticket_id,
            session=session,
            actor=actor,
            kind="updated",
            at=now,
            data={"before": before, "after": after},
        )
        estimate = "estimated_resolution_at"
        if (
            before.get(estimate) != after.get(estimate)
            and ticket.estimated_resolution_at is not None
            and ticket.taken_in_charge_at is not None
            and ticket.status not in (Status.RESOLVED, Status.CLOSED)
        ):
            # R10, R11: a changed estimate is told, as the first one was.
            notify.tell_customer(
                ticket, "estimate_changed", session=session, mail=knobs.mail, at=now, cause=event
            )
        if to_ask:
            ask_consent(ticket, session=session, knobs=knobs, now=now, cause=event)
    save_ticket(ticket, session=session)
    return ticket


def ask_consent(
    ticket: Ticket, *, session: Session, knobs: Knobs, now: datetime, cause: int
) -> None:
    """Triage made the work billable: the customer is told why and at which rates, and asked
    to agree on the status page (R2, R4, R5, R13)."""
    language = language_of(ticket.customer_id, session=session)
    notify.tell_customer(
        ticket,
        "consent_requested",
        session=session,
        mail=knobs.mail,
        at=now,
        cause=cause,
        words=consent.letter_words(ticket, rates=knobs.rates, language=language),
    )


def recompute_sla(
    ticket_id: int, *, session: Session, knobs: Knobs, actor: str, now: datetime, reason: str
) -> Ticket:
    """Re-derive contract, coverage, billing and deadline from the data as it is now (logged)."""
    ticket = locked_ticket(ticket_id, session=session)
    event = rederive(ticket, session=session, knobs=knobs, actor=actor, now=now, reason=reason)
    if consent.follow_billing(ticket, session=session):
        ask_consent(ticket, session=session, knobs=knobs, now=now, cause=event)
    save_ticket(ticket, session=session)
    return ticket


def rederive(
    ticket: Ticket, *, session: Session, knobs: Knobs, actor: str, now: datetime, reason: str
) -> int:
    before = _sla_summary(ticket)
    decision = _decide_again(ticket, session=session, knobs=knobs)
    apply_decision(ticket, decision, fraction=knobs.at_risk_fraction)
    # R2: a lapse just before the request, as the contracts are now (renewed since, say).
    ticket.contract_lapsed_on = renewals.lapsed_on(
        terms.contract_terms(ticket.customer_id, session=session),
        instant=ticket.received_at,
        within_days=knobs.lapsed_contract_days,
    )
    ticket.updated_at = now
    return audit.record(
        id_of(ticket),
        session=session,
        actor=actor,
        kind="sla_recomputed",
        at=now,
        data={"reason": reason, "before": before, "after": _sla_summary(ticket)},
    )


def _rebill(ticket: Ticket, *, session: Session, knobs: Knobs) -> None:
    """Coverage, urgency and billing follow triage; the deadline snapshot stays (R3-R5, R13)."""
    decision = _decide_again(ticket, session=session, knobs=knobs)
    ticket.coverage = decision.coverage
    ticket.urgent = decision.urgent
    ticket.urgency = decision.urgency
    ticket.billable = decision.billable
    ticket.billing_reasons = list(decision.billing_reasons)
    refresh_derived(ticket, fraction=knobs.at_risk_fraction)


def _decide_again(ticket: Ticket, *, session: Session, knobs: Knobs) -> sla.SlaDecision:
    facts = sla.RequestFacts(
        received_at=ticket.received_at,
        channel=ticket.channel,
        subject=ticket.subject,
        category=ticket.category,
    )
    staff_urgency: Urgency | None = (
        ticket.urgency if ticket.urgency in (Urgency.CONFIRMED, Urgency.REJECTED) else None
    )
    if ticket.auto_submitted and staff_urgency is None:
        staff_urgency = Urgency.NONE
    return terms.decision_for(
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
        "take_charge_due_at": iso(ticket.take_charge_due_at),
        "billing_reasons": list(ticket.billing_reasons),
    }


def _check_estimate(ticket: Ticket, estimate: datetime) -> None:
    if estimate <= ticket.received_at:
        raise Unprocessable(
            "estimated_resolution_at must be after the request was received.",
            errors=[field_error("estimated_resolution_at", "must be after received_at")],
        )


def _require_customer(customer_id: int, *, session: Session) -> None:
    # A body naming what does not exist is invalid (422), as a contract's customer_id is.
    try:
        get_customer(customer_id, session=session)
    except NotFound as exc:
        raise Unprocessable(
            f"customer_id: no customer with id {customer_id}.",
            errors=[field_error("customer_id", "unknown customer")],
        ) from exc


def _move(
    ticket: Ticket,
    status: Status,
    *,
    session: Session,
    actor: str,
    at: datetime,
    kind: str,
    data: dict[str, Any],
) -> int:
    """Move the ticket to `status` and log it; the audit event's id (the change's name)."""
    previous = ticket.status
    ticket.status = status
    ticket.updated_at = at
    # R10: how long it waited on third parties, for the monthly statement.
    if previous == Status.WAITING_THIRD_PARTY and ticket.waiting_since is not None:
        ticket.waiting_seconds += max(int((at - ticket.waiting_since).total_seconds()), 0)
        ticket.waiting_since = None
    if status == Status.WAITING_THIRD_PARTY:
        ticket.waiting_since = at
    save_ticket(ticket, session=session)
    event = audit.record(
        id_of(ticket),
        session=session,
        actor=actor,
        kind=kind,
        from_status=previous,
        to_status=status,
        at=at,
        data=data,
    )
    if kind in _EVENTS:
        # Internal tools hear of it, in this transaction (services.webhooks.events).
        events.publish(
            _EVENTS[kind],
            session=session,
            at=at,
            cause=str(event),
            ticket_id=id_of(ticket),
            data=lambda: events.ticket_data(id_of(ticket), session=session, at=at),
        )
    return event


_EVENTS = {
    "taken_in_charge": EventType.TICKET_TAKEN_IN_CHARGE,
    "resolved": EventType.TICKET_RESOLVED,
    "reopened": EventType.TICKET_REOPENED,
}


def _plain(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value
