"""The year of a contract (R1, P4) is exactly the sum of its twelve monthly statements and
billing reports, and a past year regenerates the same whenever it is asked for.

A year of requests for one contract is generated through the services with the clock passed in
(received, triaged, taken in charge on time, late or never, waiting on a provider, resolved,
time recorded, lines billed), then the review is compared with the months.
"""

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from app.db import get_engine, unit_of_work
from app.engine.months import Month
from app.engine.rates import Rates
from app.enums import Category, Channel, DeliveryMode, Status, Urgency
from app.errors import NotFound, Unprocessable
from app.models.billing import TimeEntryCreate
from app.models.contract import Contract, ContractCreate
from app.models.customer import CustomerCreate
from app.models.ticket import ResolveIn, StatusIn, TakeChargeIn, Ticket, TicketCreate, TicketUpdate
from app.services.directory import contracts, customers
from app.services.intake import opening
from app.services.knobs import Knobs
from app.services.reports import billing, review, statement, time_entries
from app.services.tickets import lifecycle
from tests.engine.test_explain import rome

KNOBS = Knobs(support_hours=None, at_risk_fraction=0.25)
RATES = Rates()
YEAR = 2025
YEAR_END = rome(YEAR + 1, 1, 1, 0, 0)
CATEGORIES: list[Category | None] = [*Category, None]


def _unit(db: str) -> Any:
    return unit_of_work(get_engine(db))


def _open(db: str, at: datetime, *, subject: str, category: Category | None, sender: str) -> int:
    data = TicketCreate(
        channel=Channel.EMAIL,
        from_email=sender,
        subject=subject,
        body="Il sito non risponde.",
        received_at=at,
        category=category,
    )
    with _unit(db) as session:
        return opening.open_ticket(
            opening.TicketRequest.typed(data, now=at),
            session=session,
            knobs=KNOBS,
            actor="test",
            now=at,
        ).id


def _arrange_contract(db: str) -> tuple[int, int]:
    with _unit(db) as session:
        customer = customers.create_customer(
            CustomerCreate(name="Rossi", email_domains=["rossi.it"], language="it"),
            session=session,
        )
        contract = contracts.create_contract(
            ContractCreate(
                customer_id=customer.id,
                code="R-2025",
                starts_on=date(YEAR, 1, 1),
                annual_fee=Decimal("1200.00"),
                proposal_ref="P-77",
            ),
            session=session,
        )
        other = customers.create_customer(
            CustomerCreate(name="Bianchi", email_domains=["bianchi.it"]), session=session
        )
        contracts.create_contract(
            ContractCreate(
                customer_id=other.id,
                code="B-2025",
                starts_on=date(YEAR, 1, 1),
                annual_fee=Decimal("900.00"),
            ),
            session=session,
        )
        return contract.id, customer.id


def _status(db: str, ticket_id: int, status: Status, at: datetime) -> None:
    with _unit(db) as session:
        lifecycle.change_status(
            ticket_id, StatusIn(status=status), session=session, knobs=KNOBS, actor="anna", now=at
        )


def _live_one(db: str, rng: random.Random, ticket_id: int, received: datetime) -> None:
    """What happens to a request after it arrives: some of it, at random times."""
    with _unit(db) as session:
        if rng.random() < 0.2:  # triage: a category, a rejected urgency (R13)
            lifecycle.update_ticket(
                ticket_id,
                TicketUpdate(category=rng.choice(list(Category)), urgency=Urgency.REJECTED)
                if "URGENTE" in session.get(Ticket, ticket_id).subject  # type: ignore[union-attr]
                else TicketUpdate(category=rng.choice(list(Category))),
                session=session,
                knobs=KNOBS,
                actor="anna",
                now=received + timedelta(minutes=5),
            )
    outcome = rng.random()
    if outcome < 0.1:
        return  # never taken in charge: pending or breached, as of the report time
    taken = received + timedelta(hours=rng.choice([0.5, 2, 20, 30, 70, 200]))
    with _unit(db) as session:
        lifecycle.take_charge(
            ticket_id,
            # The year's figures, not the customer's consent, are under test here (P4).
            TakeChargeIn(proceed_without_consent=True),
            session=session,
            knobs=KNOBS,
            actor="anna",
            now=taken,
        )
    with _unit(db) as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        for _ in range(rng.randint(0, 3)):
            billable = rng.choice([None, None, False]) if ticket.billable else None
            time_entries.add(
                ticket,
                TimeEntryCreate(minutes=rng.randint(5, 150), billable=billable),
                session=session,
                actor="anna",
                now=taken + timedelta(minutes=30),
            )
    if outcome < 0.25:
        waiting = taken + timedelta(hours=1)
        _status(db, ticket_id, Status.IN_PROGRESS, waiting - timedelta(minutes=10))
        _status(db, ticket_id, Status.WAITING_THIRD_PARTY, waiting)
        if outcome < 0.18:
            return  # still waiting: an ongoing wait counts up to the report time (R10)
        _status(db, ticket_id, Status.IN_PROGRESS, waiting + timedelta(hours=rng.randint(1, 30)))
    if outcome < 0.7:
        with _unit(db) as session:
            lifecycle.resolve(
                ticket_id,
                ResolveIn(resolution="Fatto.", delivery_mode=DeliveryMode.REMOTE),
                session=session,
                knobs=KNOBS,
                actor="anna",
                now=taken + timedelta(days=3),
            )


def _generate_year(db: str, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    contract_id, customer_id = _arrange_contract(db)
    tickets = []
    # The year's first and last moments in Rome (still the year before / the year's own in UTC).
    moments = [rome(YEAR, 1, 1, 0, 30), rome(YEAR, 12, 31, 23, 30)]
    for month in range(1, 13):
        for _ in range(rng.randint(3, 7)):
            moments.append(
                rome(YEAR, month, rng.randint(1, 28), rng.randint(0, 23), rng.choice([0, 15, 40]))
            )
    for received in sorted(moments):
        urgent = rng.random() < 0.15
        ticket_id = _open(
            db,
            received,
            subject=("URGENTE " if urgent else "") + "Sito lento",
            category=rng.choice(CATEGORIES),
            sender=rng.choice(["mario@rossi.it", "anna@rossi.it"]),
        )
        tickets.append(ticket_id)
        _live_one(db, rng, ticket_id, received)
    # Another customer's requests, and this customer's after its contract: not in the review.
    _open(db, rome(YEAR, 6, 3, 16, 0), subject="Altro", category=None, sender="x@bianchi.it")
    _open(db, rome(YEAR + 1, 1, 2, 16, 0), subject="Dopo", category=None, sender="m@rossi.it")
    _bill_some(db, rng, tickets)
    return {"contract_id": contract_id, "customer_id": customer_id, "tickets": tickets}


def _bill_some(db: str, rng: random.Random, tickets: list[int]) -> None:
    """Half the billable lines of the first nine months, on two invoices."""
    with _unit(db) as session:
        months = [Month.parse(f"{YEAR}-{m:02d}") for m in range(1, 10)]
        lines = [
            line.item_id
            for month in months
            for line in billing.billing_report(month, session=session, rates=RATES).lines
            if line.ticket_id in tickets
        ]
        chosen = sorted(rng.sample(lines, len(lines) // 2))
        for invoice, items in (("F-1", chosen[::2]), ("F-2", chosen[1::2])):
            if items:
                billing.mark_billed(
                    items,
                    invoice,
                    session=session,
                    rates=RATES,
                    actor="admin",
                    now=rome(YEAR, 10, 5, 9, 0),
                    force=True,
                )


@pytest.fixture
def year(db: str) -> Iterator[dict[str, Any]]:
    yield _generate_year(db, seed=30)


def _review(db: str, contract_id: int, now: datetime, year: int | None = None) -> Any:
    with _unit(db) as session:
        return review.contract_review(contract_id, session=session, rates=RATES, now=now, year=year)


def _statements(db: str, contract_id: int, now: datetime) -> list[Any]:
    with _unit(db) as session:
        return [
            statement.sla_statement(
                Month.parse(f"{YEAR}-{m:02d}"), session=session, now=now, contract_id=contract_id
            ).contracts[0]
            for m in range(1, 13)
        ]


def _billing_lines(db: str, tickets: list[int]) -> list[list[Any]]:
    with _unit(db) as session:
        return [
            [
                line
                for line in billing.billing_report(
                    Month.parse(f"{YEAR}-{m:02d}"), session=session, rates=RATES
                ).lines
                if line.ticket_id in tickets
            ]
            for m in range(1, 13)
        ]


STATEMENT_FIGURES = (
    "received",
    "by_policy",
    "with_target",
    "taken_in_charge",
    "within_target",
    "breached",
    "pending",
    "still_open",
    "compliance",
    "urgent",
    "waiting_third_party_minutes",
)


def _assert_months_match(got: Any, statements: list[Any], lines: list[list[Any]]) -> None:
    assert [m.month for m in got.months] == [f"{YEAR}-{m:02d}" for m in range(1, 13)]
    for month, monthly, month_lines in zip(got.months, statements, lines, strict=True):
        assert month.model_dump(include=set(STATEMENT_FIGURES)) == monthly.model_dump(
            include=set(STATEMENT_FIGURES)
        ), month.month
        open_lines = [line for line in month_lines if line.state == "open"]
        assert month.amounts.lines == len(month_lines)
        assert month.amounts.billed_lines == len(month_lines) - len(open_lines)
        assert month.amounts.open == sum((line.amount for line in open_lines), Decimal("0.00"))
        assert month.amounts.billed == sum(
            (line.amount for line in month_lines if line.state == "billed"), Decimal("0.00")
        )
        recorded = {line.ticket_id: line.recorded_minutes for line in month_lines}
        assert month.time.billable_minutes == sum(recorded.values())


def _summed(figures: list[Any], name: str) -> Any:
    return sum(getattr(f, name) for f in figures)


def test_a_past_year_is_the_sum_of_its_twelve_monthly_statements(db, year):
    now = rome(YEAR + 1, 3, 1, 12, 0)
    got = _review(db, year["contract_id"], now)  # by default: the last year, it has ended
    # A past year's report time is its end: the statements are read at that instant too.
    statements = _statements(db, year["contract_id"], YEAR_END)
    lines = _billing_lines(db, year["tickets"])

    assert (got.year, got.first_day.isoformat(), got.last_day.isoformat()) == (
        YEAR,
        f"{YEAR}-01-01",
        f"{YEAR}-12-31",
    )
    assert got.complete and got.as_of == YEAR_END
    assert (got.contract_code, got.customer_name, got.language) == ("R-2025", "Rossi", "it")
    _assert_months_match(got, statements, lines)

    total = got.total
    assert total.received == len(year["tickets"]) == _summed(statements, "received")
    for name in ("with_target", "taken_in_charge", "within_target", "breached", "pending"):
        assert getattr(total, name) == _summed(statements, name), name
    assert total.compliance.within_target == _summed(statements, "within_target")
    assert total.compliance.denominator == sum(s.compliance.denominator for s in statements)
    assert total.compliance.percent == round(
        100 * total.compliance.within_target / total.compliance.denominator, 2
    )
    assert total.breached > 0 and total.within_target > 0  # the year has both
    assert total.waiting_third_party_minutes == _summed(statements, "waiting_third_party_minutes")
    assert total.urgent.received == sum(s.urgent.received for s in statements)
    assert sum(total.by_category.values()) == total.received
    all_lines = [line for month in lines for line in month]
    assert total.amounts.lines == len(all_lines) > 0
    assert total.amounts.billed == sum(
        (line.amount for line in all_lines if line.state == "billed"), Decimal("0.00")
    )
    assert total.amounts.billed > 0 and total.amounts.open > 0
    fee = got.against_fee
    assert fee.annual_fee == Decimal("1200.00")
    assert fee.total == fee.annual_fee + total.amounts.billed + total.amounts.open
    assert fee.covered_at_support_rates == RATES.time_amount(total.time.covered_minutes)


def test_the_year_s_categories_hours_and_take_charge_times_come_from_the_tickets(db, year):
    got = _review(db, year["contract_id"], rome(YEAR + 1, 3, 1, 12, 0))
    with _unit(db) as session:
        tickets = session.exec(select(Ticket).where(col(Ticket.id).in_(year["tickets"]))).all()
        entries = [
            entry
            for ticket in tickets
            for entry in time_entries.list_entries(ticket, session=session)
        ]
    by_category: dict[str, int] = {}
    for ticket in tickets:
        name = ticket.category or "none"
        by_category[name] = by_category.get(name, 0) + 1
    assert {k: v for k, v in got.total.by_category.items() if v} == by_category
    assert got.total.time.covered_minutes == sum(e.minutes for e in entries if not e.billable)
    assert got.total.time.billable_minutes == sum(e.minutes for e in entries if e.billable)
    assert got.total.time.covered_minutes > 0
    # Nearest rank over the year, in business minutes, of the requests taken in charge.
    spent = sorted(
        t.take_charge_business_seconds
        for t in tickets
        if t.take_charge_due_at is not None and t.take_charge_business_seconds is not None
    )
    times = got.take_charge_times
    assert times.count == len(spent)
    assert times.median_business_minutes == (spent[(len(spent) + 1) // 2 - 1] + 30) // 60
    assert times.p90_business_minutes == (spent[(9 * len(spent) + 9) // 10 - 1] + 30) // 60


def test_a_past_year_regenerates_the_same_whenever_it_is_asked_for(db, year):
    first = _review(db, year["contract_id"], rome(YEAR + 1, 1, 1, 0, 0), year=YEAR)
    later = _review(db, year["contract_id"], rome(YEAR + 3, 6, 15, 16, 0), year=YEAR)
    assert first.model_dump() == later.model_dump()


def test_the_running_year_so_far_is_the_sum_of_its_statements_now(db, year):
    now = rome(YEAR, 7, 15, 16, 0)
    got = _review(db, year["contract_id"], now)
    assert (got.year, got.complete, got.as_of) == (YEAR, False, now)
    statements = _statements(db, year["contract_id"], now)
    _assert_months_match(got, statements, _billing_lines(db, year["tickets"]))
    assert got.total.pending == _summed(statements, "pending") > 0


def test_a_year_the_contract_does_not_have_is_refused(db, year):
    contract_id = year["contract_id"]
    inside = rome(YEAR, 7, 15, 16, 0)
    for bad in (YEAR - 1, YEAR + 1):
        with pytest.raises(Unprocessable):
            _review(db, contract_id, rome(YEAR + 2, 1, 1, 0, 0), year=bad)
    with pytest.raises(Unprocessable):
        _review(db, contract_id, rome(YEAR - 1, 12, 31, 12, 0))  # not begun
    with pytest.raises(NotFound):
        _review(db, contract_id + 1000, inside)


@pytest.mark.parametrize(
    ("starts_on", "ends_on", "today", "expected"),
    [
        # A year from each anniversary; the last one cut at the contract's end.
        ("2025-03-15", "2027-12-31", "2026-03-14", ("2025-03-15", "2026-03-14")),
        ("2025-03-15", "2027-12-31", "2026-03-15", ("2026-03-15", "2027-03-14")),
        ("2025-03-15", "2027-12-31", "2027-06-01", ("2027-03-15", "2027-12-31")),
        ("2025-03-15", "2027-12-31", "2029-01-01", ("2027-03-15", "2027-12-31")),
        # 29 February's anniversary is 1 March in other years.
        ("2028-02-29", "2030-02-28", "2029-02-28", ("2028-02-29", "2029-02-28")),
        ("2028-02-29", "2030-02-28", "2029-03-01", ("2029-03-01", "2030-02-28")),
    ],
)
def test_contract_years_run_from_the_anniversaries_of_starts_on(
    starts_on: str, ends_on: str, today: str, expected: tuple[str, str]
) -> None:
    contract = Contract(
        customer_id=1,
        code="X",
        starts_on=date.fromisoformat(starts_on),
        ends_on=date.fromisoformat(ends_on),
        annual_fee=Decimal(0),
        calendar_id=1,
    )
    span = review.contract_year(contract, year=None, today=date.fromisoformat(today))
    assert (span.first_day.isoformat(), span.last_day.isoformat()) == expected
    again = review.contract_year(contract, year=span.first_day.year, today=date(2099, 1, 1))
    assert again == span
    months = review.months_of(span)
    assert months[0].first_day == span.first_day and months[-1].last_day == span.last_day
    assert all(a.end == b.start for a, b in itertools.pairwise(months))
    first, last = span.first_day, span.last_day  # a month each, cut at the year's ends
    assert len(months) == (last.year - first.year) * 12 + last.month - first.month + 1
    assert months[0].start == rome(*map(int, expected[0].split("-")), 0, 0).astimezone(UTC)


@settings(max_examples=300, deadline=None)
@given(
    starts_on=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
    days=st.integers(min_value=0, max_value=6 * 366),
    into=st.floats(min_value=0, max_value=1),
)
def test_the_contract_years_tile_its_life_without_gap_or_overlap(
    starts_on: date, days: int, into: float
) -> None:
    """Each day the contract is in force falls in exactly one of its years, the one the
    review picks by default on that day; each year starts on an anniversary (R1)."""
    ends_on = starts_on + timedelta(days=days)
    contract = Contract(
        customer_id=1,
        code="X",
        starts_on=starts_on,
        ends_on=ends_on,
        annual_fee=Decimal(0),
        calendar_id=1,
    )
    today = starts_on + timedelta(days=round(days * into))
    span = review.contract_year(contract, year=None, today=today)
    assert span.first_day <= today <= span.last_day <= ends_on
    assert (span.first_day.month, span.first_day.day) in (
        (starts_on.month, starts_on.day),
        (3, 1),  # 29 February's anniversary in other years
    )
    if span.last_day < ends_on:  # the next year starts the day after
        following = review.contract_year(
            contract, year=None, today=span.last_day + timedelta(days=1)
        )
        assert following.first_day == span.last_day + timedelta(days=1)
    assert review.contract_year(contract, year=span.first_day.year, today=today) == span
