"""Billing what the contract does not cover: requests with no contract (R2), categories outside
it (R4, R5), priority handling whose urgency was not confirmed (R13).

A line is a ticket and one of its billing reasons; its time is the billable minutes staff
recorded on the ticket. Rates are data (`Rates`, from the settings); money is `Decimal`,
rounded half up to the cent. A line marked billed keeps the figures it was invoiced with
(`billed_item`, unique per line), so it is never billed twice. Marking lines billed and
recording time hold the ticket's row (`lock_billing`), so time recorded while a line is being
billed is either on the invoice or refused, never left out of it.
"""

import logging
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.engine.months import Month
from app.engine.rates import Rates
from app.enums import BillingReason, Consent
from app.errors import Conflict, Unprocessable, field_error
from app.models.base import table_of
from app.models.billing import (
    BilledItem,
    BillingLine,
    BillingReport,
    CustomerTotal,
    MarkBilledOut,
    TimeEntry,
)
from app.models.customer import Customer
from app.models.ticket import Ticket
from app.services.directory.customers import get_customer
from app.services.tickets import audit

log = logging.getLogger(__name__)
_TICKET, _CUSTOMER = table_of(Ticket), table_of(Customer)
_ENTRY, _BILLED = table_of(TimeEntry), table_of(BilledItem)


def _ticket_rows(session: Session, *where: Any) -> Sequence[Any]:
    # Billable minutes recorded on each ticket, summed through the time entries' ticket index.
    recorded = (
        select(func.coalesce(func.sum(_ENTRY.c.minutes), 0))
        .where(_ENTRY.c.ticket_id == _TICKET.c.id, _ENTRY.c.billable)
        .scalar_subquery()
    )
    query = (
        select(
            _TICKET.c.id,
            _TICKET.c.number,
            _TICKET.c.customer_id,
            _CUSTOMER.c.name.label("customer_name"),
            _TICKET.c.from_email,
            _TICKET.c.received_at,
            _TICKET.c.billing_reasons,
            _TICKET.c.consent,
            recorded.label("recorded"),
        )
        .select_from(_TICKET)
        .outerjoin(_CUSTOMER, _CUSTOMER.c.id == _TICKET.c.customer_id)
        .where(_billable_or_billed(), *where)
        # Customers by name, then senders no customer matches, on both databases alike.
        .order_by(_TICKET.c.customer_id.is_(None), _CUSTOMER.c.name, _TICKET.c.id)
    )
    return session.connection().execute(query).mappings().all()


def _billable_or_billed() -> Any:
    # A ticket billed once stays in the report, whatever triage decided since: an invoice was
    # made from it.
    return or_(_TICKET.c.billable, _TICKET.c.id.in_(select(_BILLED.c.ticket_id)))


def _billed_of(session: Session, *where: Any) -> dict[str, Any]:
    """The billed lines of the tickets `where` selects, by item id."""
    tickets = select(_TICKET.c.id).where(_billable_or_billed(), *where)
    rows = session.connection().execute(select(_BILLED).where(_BILLED.c.ticket_id.in_(tickets)))
    return {row["item_id"]: row for row in rows.mappings()}


def _lines(rows: Sequence[Any], billed: dict[str, Any], rates: Rates) -> list[BillingLine]:
    lines = []
    for row in rows:
        # Its billing reasons now, and any it was billed for before a triage changed them.
        was_billed = sorted(b["reason"] for b in billed.values() if b["ticket_id"] == row["id"])
        for reason in dict.fromkeys([*row["billing_reasons"], *was_billed]):
            item_id = f"{row['id']}:{reason}"
            invoiced = billed.get(item_id)
            minutes, amount = rates.line(BillingReason(reason), row["recorded"])
            lines.append(
                BillingLine(
                    item_id=item_id,
                    ticket_id=row["id"],
                    ticket_number=row["number"],
                    customer_id=row["customer_id"],
                    customer_name=row["customer_name"],
                    from_email=row["from_email"],
                    received_at=row["received_at"],
                    reason=reason,
                    recorded_minutes=row["recorded"],
                    minutes=invoiced["minutes"] if invoiced else minutes,
                    hourly_rate=rates.hourly,
                    amount=invoiced["amount"] if invoiced else amount,
                    state="billed" if invoiced else "open",
                    consent=row["consent"],
                    invoice_ref=invoiced["invoice_ref"] if invoiced else None,
                    billed_at=invoiced["billed_at"] if invoiced else None,
                )
            )
    return lines


def billing_report(
    month: Month, *, session: Session, rates: Rates, customer_id: int | None = None
) -> BillingReport:
    """The billable lines of the requests received in `month`, with totals per customer."""
    where = [_TICKET.c.received_at >= month.start, _TICKET.c.received_at < month.end]
    if customer_id is not None:
        get_customer(customer_id, session=session)  # NotFound for an unknown customer
        where.append(_TICKET.c.customer_id == customer_id)
    rows = _ticket_rows(session, *where)
    lines = _lines(rows, _billed_of(session, *where), rates)
    totals: dict[int | None, CustomerTotal] = {}
    for line in lines:
        total = totals.setdefault(
            line.customer_id,
            CustomerTotal(
                customer_id=line.customer_id,
                customer_name=line.customer_name,
                open=Decimal("0.00"),
                billed=Decimal("0.00"),
                lines=0,
            ),
        )
        total.lines += 1
        if line.state == "billed":
            total.billed += line.amount
        else:
            total.open += line.amount
    return BillingReport(
        month=month.name,
        first_day=month.first_day,
        currency="EUR",
        lines=lines,
        totals=list(totals.values()),
        total_open=sum((t.open for t in totals.values()), Decimal("0.00")),
        total_billed=sum((t.billed for t in totals.values()), Decimal("0.00")),
    )


def mark_billed(
    item_ids: Sequence[str],
    invoice_ref: str,
    *,
    session: Session,
    rates: Rates,
    actor: str,
    now: datetime,
    force: bool = False,
) -> MarkBilledOut:
    """Mark lines billed on an invoice, with the figures invoiced; a line billed already is 409,
    so is one its customer has not agreed to, unless `force`."""
    ticket_ids = sorted({int(item.split(":")[0]) for item in item_ids})
    lock_billing(ticket_ids, session=session)  # the time read below is the time invoiced
    rows = _ticket_rows(session, _TICKET.c.id.in_(ticket_ids))
    billed = _billed_of(session, _TICKET.c.id.in_(ticket_ids))
    lines = {line.item_id: line for line in _lines(rows, billed, rates)}
    unknown = [item for item in item_ids if item not in lines]
    if unknown:
        raise Unprocessable(
            f"No billable line {', '.join(unknown[:10])}: a line is a billable ticket's id and "
            "one of its billing reasons.",
            errors=[field_error("item_ids", f"unknown: {', '.join(unknown[:10])}")],
        )
    already = [item for item in item_ids if lines[item].state == "billed"]
    if already:
        raise _billed_twice(already, [lines[item].invoice_ref for item in already])
    chosen = [lines[item] for item in item_ids]
    _check_consent(chosen, force=force, session=session, actor=actor, now=now)
    try:
        session.connection().execute(
            _BILLED.insert(),
            [
                {
                    "item_id": line.item_id,
                    "ticket_id": line.ticket_id,
                    "reason": line.reason,
                    "minutes": line.minutes,
                    "amount": line.amount,
                    "invoice_ref": invoice_ref,
                    "billed_by": actor,
                    "billed_at": now,
                }
                for line in chosen
            ],
        )
    except IntegrityError as exc:  # billed by a concurrent request a moment ago
        raise _billed_twice(item_ids, []) from exc
    for line in chosen:
        line.state, line.invoice_ref, line.billed_at = "billed", invoice_ref, now
    return MarkBilledOut(invoice_ref=invoice_ref, lines=chosen)


def _check_consent(
    lines: Sequence[BillingLine], *, force: bool, session: Session, actor: str, now: datetime
) -> None:
    """P4: a line is billed only once its customer agreed to the work (R2, R4, R5, R13); with
    `force` it is billed anyway, logged and written to each ticket's audit trail."""
    unagreed = [line for line in lines if line.consent != Consent.GIVEN]
    if not unagreed:
        return
    items = [line.item_id for line in unagreed]
    if not force:
        raise Conflict(
            f"The customer has not agreed to the work of {', '.join(items[:10])}: "
            "set force to bill it anyway.",
            without_consent=items,
        )
    log.warning("billed without consent by %s: %s", actor, ", ".join(items[:50]))
    for line in unagreed:
        audit.record(
            line.ticket_id,
            session=session,
            actor=actor,
            kind="billed_without_consent",
            at=now,
            data={"item_id": line.item_id, "consent": str(line.consent)},
        )


def _billed_twice(items: Sequence[str], invoices: Sequence[str | None]) -> Conflict:
    on = f" (on {', '.join(sorted({i for i in invoices if i}))})" if any(invoices) else ""
    return Conflict(
        f"Already billed{on}: {', '.join(items[:10])}. A line is billed once.",
        already_billed=list(items),
    )


def lock_billing(ticket_ids: Sequence[int], *, session: Session) -> None:
    """Hold these tickets' rows until the commit, so that time recorded on a ticket and its
    lines marked billed never cross: whichever comes second sees what the first wrote (R2, R4,
    R13). In id order, so that two holders never wait on each other; SQLite serialises writers
    already."""
    session.connection().execute(
        select(_TICKET.c.id)
        .where(_TICKET.c.id.in_(sorted(ticket_ids)))
        .order_by(_TICKET.c.id)
        .with_for_update()
    )


def billed_invoices(ticket_id: int, *, session: Session) -> list[str]:
    """The invoices a ticket's lines were billed on (its time is then frozen)."""
    rows = session.connection().execute(
        select(_BILLED.c.invoice_ref).where(_BILLED.c.ticket_id == ticket_id).distinct()
    )
    return sorted(rows.scalars())
