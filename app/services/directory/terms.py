"""From stored rows to the pure SLA engine's values: who the sender is, which terms apply."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, RowMapping, String, bindparam, literal, select, union_all
from sqlmodel import Session

from app.engine import sla
from app.enums import Category
from app.models.base import table_of
from app.models.calendar import Calendar
from app.models.contract import Contract
from app.models.customer import Contact, Customer, CustomerDomain
from app.services.directory.calendars import calendar_spec, get_default_calendar, spec_of
from app.services.notifications.letters import DEFAULT_LANGUAGE

# The statements are built once: a request only binds its values.
_CONTACT = table_of(Contact)
_DOMAIN = table_of(CustomerDomain)
_MATCHES = union_all(
    select(_CONTACT.c.customer_id, literal(None, String).label("domain")).where(
        _CONTACT.c.email == bindparam("address")
    ),
    select(_DOMAIN.c.customer_id, _DOMAIN.c.domain).where(
        _DOMAIN.c.domain.in_(bindparam("domains", expanding=True))
    ),
)


def _match_params(email: str) -> dict[str, object]:
    address = email.strip().lower()
    labels = address.rpartition("@")[2].split(".")
    # support.rossi.it belongs to whoever owns rossi.it, unless someone owns it more precisely.
    domains = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    return {"address": address, "domains": domains}


def _best_match(rows: Sequence[Row[Any]]) -> int | None:
    """A contact (no domain) first, then the longest, most precise domain."""
    if not rows:
        return None
    best = min(rows, key=lambda row: (row.domain is not None, -len(row.domain or "")))
    customer_id: int = best.customer_id
    return customer_id


def match_customer(email: str, *, session: Session) -> int | None:
    """The sender's customer: a contact's exact address first, then the email domain."""
    return _best_match(session.connection().execute(_MATCHES, _match_params(email)).all())


@dataclass(frozen=True)
class SenderTerms:
    """Who a sender is, the language to write to them in, and every contract their customer
    holds, as the pure engine wants them."""

    customer_id: int | None
    contracts: tuple[sla.ContractTerms, ...]
    language: str = DEFAULT_LANGUAGE


_CUSTOMER = table_of(Customer)
_CONTRACT = table_of(Contract)
_CALENDAR = table_of(Calendar)
_ON_CALL_CALENDAR = _CALENDAR.alias("on_call_calendar")
_SPEC_COLUMNS = ("timezone", "weekly", "holiday_country", "holiday_subdivision", "closures")
# What the engine needs of a contract: its dates, coverage, target and calendars.
_TERMS_COLUMNS = (
    _CONTRACT.c.id,
    _CONTRACT.c.starts_on,
    _CONTRACT.c.ends_on,
    _CONTRACT.c.coverage,
    _CONTRACT.c.take_charge_hours,
    _CONTRACT.c.on_call_take_charge_hours,
    *(_CALENDAR.c[name] for name in _SPEC_COLUMNS),
    *(_ON_CALL_CALENDAR.c[name].label(f"on_call_{name}") for name in _SPEC_COLUMNS),
)
_MATCHED = _MATCHES.subquery("matched")
# One round trip: the customers the address matches, each with its contracts and calendars.
_SENDER = (
    select(_MATCHED.c.customer_id, _MATCHED.c.domain, _CUSTOMER.c.language, *_TERMS_COLUMNS)
    .select_from(_MATCHED)
    .join(_CUSTOMER, _CUSTOMER.c.id == _MATCHED.c.customer_id)
    .outerjoin(_CONTRACT, _CONTRACT.c.customer_id == _MATCHED.c.customer_id)
    .outerjoin(_CALENDAR, _CALENDAR.c.id == _CONTRACT.c.calendar_id)
    .outerjoin(_ON_CALL_CALENDAR, _ON_CALL_CALENDAR.c.id == _CONTRACT.c.on_call_calendar_id)
)


def sender_terms(email: str, *, session: Session) -> SenderTerms:
    """The sender's customer (a contact's exact address first, then the most precise email
    domain), its language and its contracts."""
    rows = session.connection().execute(_SENDER, _match_params(email)).all()
    customer_id = _best_match(rows)
    if customer_id is None:
        return SenderTerms(customer_id=None, contracts=())
    mine = [row for row in rows if row.customer_id == customer_id]
    contracts = {row.id: _contract_terms(row._mapping) for row in mine if row.id is not None}
    return SenderTerms(
        customer_id=customer_id,
        contracts=tuple(contracts.values()),
        language=mine[0].language or DEFAULT_LANGUAGE,
    )


_CONTRACTS = (
    select(*_TERMS_COLUMNS)
    .select_from(_CONTRACT)
    .join(_CALENDAR, _CALENDAR.c.id == _CONTRACT.c.calendar_id)
    .outerjoin(_ON_CALL_CALENDAR, _ON_CALL_CALENDAR.c.id == _CONTRACT.c.on_call_calendar_id)
    .where(_CONTRACT.c.customer_id == bindparam("customer_id"))
)


def contract_terms(customer_id: int | None, *, session: Session) -> tuple[sla.ContractTerms, ...]:
    """Every contract of the customer with its calendars, as the pure engine wants them."""
    if customer_id is None:
        return ()
    rows = session.connection().execute(_CONTRACTS, {"customer_id": customer_id}).mappings()
    return tuple(_contract_terms(row) for row in rows)


def _contract_terms(row: RowMapping) -> sla.ContractTerms:
    on_call = None
    if row["on_call_timezone"] is not None and row["on_call_take_charge_hours"]:
        on_call = sla.OnCallTerms(
            calendar=calendar_spec(**{name: row[f"on_call_{name}"] for name in _SPEC_COLUMNS}),
            take_charge_hours=row["on_call_take_charge_hours"],
        )
    return sla.ContractTerms(
        id=row["id"],
        starts_on=row["starts_on"],
        ends_on=row["ends_on"],
        coverage=frozenset(row["coverage"]) | {Category.WEBSITE},  # R3: website always
        calendar=calendar_spec(**{name: row[name] for name in _SPEC_COLUMNS}),
        take_charge_hours=Decimal(row["take_charge_hours"]),
        on_call=on_call,
    )


def support_policy(*, session: Session, take_charge_hours: Decimal | None) -> sla.SupportPolicy:
    """R2: the customer-support terms, on the default calendar."""
    calendar = spec_of(get_default_calendar(session=session))
    return sla.SupportPolicy(calendar=calendar, take_charge_hours=take_charge_hours)


def decision_for(
    facts: sla.RequestFacts,
    *,
    customer_id: int | None,
    session: Session,
    support_hours: Decimal | None,
    urgency: str | None = None,
    priority_handling: bool = False,
    contracts: tuple[sla.ContractTerms, ...] | None = None,
) -> sla.SlaDecision:
    """The SLA decision for a request from this customer, with its contracts as stored now
    (read here unless the caller has them already, see `sender_terms`)."""
    if contracts is None:
        contracts = contract_terms(customer_id, session=session)
    # R2: the support terms apply only without an active contract; read them only then.
    if sla.active_contract_at(contracts, instant=facts.received_at) is None:
        support = support_policy(session=session, take_charge_hours=support_hours)
    else:
        support = sla.SupportPolicy(take_charge_hours=support_hours)
    # The schemas validated the facts first: a ValueError from the engine here is a bug.
    return sla.decide(
        facts,
        contracts=contracts,
        support=support,
        urgency=urgency,
        priority_handling=priority_handling,
    )


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
    return customer_id, decision_for(
        facts, customer_id=customer_id, session=session, support_hours=support_hours
    )
