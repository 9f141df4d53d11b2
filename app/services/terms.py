"""From stored rows to the pure SLA engine's values: who the sender is, which terms apply."""

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import case, literal, union_all
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from app.errors import Unprocessable, field_error
from app.models.calendar import Calendar
from app.models.contract import Contract
from app.models.customer import Contact, CustomerDomain
from app.services import sla
from app.services.business_hours import CalendarSpec, calendar_for
from app.services.calendars import get_default_calendar, spec_of


def match_customer(email: str, *, session: Session) -> int | None:
    """The sender's customer: a contact's exact address first, then the email domain."""
    address = email.strip().lower()
    labels = address.rpartition("@")[2].split(".")
    # support.rossi.it belongs to whoever owns rossi.it, unless someone owns it more precisely.
    candidates = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    by_contact = select(Contact.customer_id, literal(0).label("rank")).where(
        Contact.email == address
    )
    if not candidates:  # an address without a dotted domain can only match a contact
        return session.exec(select(Contact.customer_id).where(Contact.email == address)).first()
    rank = case({d: n for n, d in enumerate(candidates, start=1)}, value=CustomerDomain.domain)
    by_domain = select(CustomerDomain.customer_id, rank.label("rank")).where(
        col(CustomerDomain.domain).in_(candidates)
    )
    matches = union_all(by_contact, by_domain).subquery()
    return session.exec(select(matches.c.customer_id).order_by(matches.c.rank).limit(1)).first()


def contract_terms(customer_id: int | None, *, session: Session) -> list[sla.ContractTerms]:
    """Every contract of the customer with its calendars, as the pure engine wants them."""
    if customer_id is None:
        return []
    on_call_calendar = aliased(Calendar)
    rows = session.exec(
        select(Contract, Calendar, on_call_calendar)
        .join(Calendar, col(Calendar.id) == Contract.calendar_id)
        .outerjoin(on_call_calendar, col(on_call_calendar.id) == Contract.on_call_calendar_id)
        .where(Contract.customer_id == customer_id)
    ).all()
    terms = []
    for contract, calendar, on_call_row in rows:
        on_call = None
        if on_call_row is not None and contract.on_call_take_charge_hours:
            on_call = sla.OnCallTerms(
                calendar=spec_of(on_call_row),
                take_charge_hours=contract.on_call_take_charge_hours,
            )
        terms.append(
            sla.ContractTerms(
                id=contract.id or 0,
                starts_on=contract.starts_on,
                ends_on=contract.ends_on,
                coverage=frozenset(contract.coverage) | {"website"},  # R3: website always
                calendar=spec_of(calendar),
                take_charge_hours=Decimal(contract.take_charge_hours),
                on_call=on_call,
            )
        )
    return terms


def support_policy(*, session: Session, take_charge_hours: Decimal | None) -> sla.SupportPolicy:
    """R2: the customer-support terms, on the default calendar."""
    return sla.SupportPolicy(
        calendar=spec_of(get_default_calendar(session=session)), take_charge_hours=take_charge_hours
    )


def decide(
    facts: sla.RequestFacts,
    *,
    customer_id: int | None,
    session: Session,
    support_hours: Decimal | None,
    urgency: str | None = None,
    priority_handling: bool = False,
) -> sla.SlaDecision:
    """The SLA decision for a request from this customer, with its contracts as stored now."""
    contracts = contract_terms(customer_id, session=session)
    # R2: the support terms apply only without an active contract; read them only then.
    if sla.active_contract_at(contracts, instant=facts.received_at) is None:
        support = support_policy(session=session, take_charge_hours=support_hours)
    else:
        support = sla.SupportPolicy(take_charge_hours=support_hours)
    try:
        return sla.decide(
            facts,
            contracts=contracts,
            support=support,
            urgency=urgency,
            priority_handling=priority_handling,
        )
    except ValueError as exc:  # the schemas validate first; this is the engine's last word
        raise Unprocessable(str(exc), errors=[field_error("body", str(exc))]) from exc


def at_risk_from(
    spec: CalendarSpec, *, clock_started_at: datetime, target_seconds: int, fraction: float
) -> datetime:
    """The instant after which less than `fraction` of the target is left (SPEC: at_risk).

    It is the next opening after (1 - fraction) of the target has elapsed, so that the state
    does not turn at_risk while the calendar is closed at a closing edge.
    """
    calendar = calendar_for(spec)
    used = timedelta(seconds=target_seconds * (1 - fraction))
    return calendar.next_opening(calendar.add_business_time(clock_started_at, used))


def preview(
    *,
    received_at: datetime,
    from_email: str,
    subject: str,
    channel: str,
    category: str | None,
    session: Session,
    support_hours: Decimal | None,
) -> tuple[int | None, sla.SlaDecision]:
    """What a request like this would get: its customer and the SLA decision (nothing stored)."""
    customer_id = match_customer(from_email, session=session)
    facts = sla.RequestFacts(
        received_at=received_at, channel=channel, subject=subject, category=category
    )
    return customer_id, decide(
        facts, customer_id=customer_id, session=session, support_hours=support_hours
    )
