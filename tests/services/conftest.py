"""Service tests: the ticket services on a real session of each database, time passed in."""

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from app.enums import Category, Channel
from app.models.calendar import Calendar
from app.models.contract import Contract
from app.models.customer import Customer, CustomerDomain
from app.models.ticket import TicketCreate
from app.services.intake.opening import OpenedTicket, TicketRequest, open_ticket
from app.services.knobs import Knobs

KNOBS = Knobs(support_hours=None, at_risk_fraction=0.25)


@pytest.fixture
def rossi(session: Session) -> Contract:
    """Rossi owns rossi.it and has a 2026 contract on the default terms (R1, R9)."""
    return add_rossi(session)


def add_rossi(session: Session) -> Contract:
    """Store Rossi, its domain rossi.it and its 2026 contract on the default terms (R1, R9)."""
    customer = Customer(name="Rossi")
    session.add(customer)
    session.flush()
    assert customer.id is not None
    session.add(CustomerDomain(customer_id=customer.id, domain="rossi.it"))
    default = session.exec(select(Calendar).where(Calendar.name == "default")).one()
    assert default.id is not None
    contract = Contract(
        customer_id=customer.id,
        code="R-2026",
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 12, 31),
        annual_fee=Decimal("1200.00"),
        coverage=[Category.WEBSITE, Category.HOSTING, Category.BACKUP],
        calendar_id=default.id,
        take_charge_hours=Decimal(4),
    )
    session.add(contract)
    session.flush()
    return contract


@pytest.fixture
def opened(session: Session) -> Callable[..., OpenedTicket]:
    """Open a ticket at `now` (keyword overrides of the request)."""

    def open_(*, now, auto_submitted=False, **overrides) -> OpenedTicket:
        values = {
            "channel": Channel.EMAIL,
            "from_email": "mario@rossi.it",
            "subject": "Sito lento",
            "body": "Il sito è lento.",
            "received_at": now,
            **overrides,
        }
        request = TicketRequest.typed(
            TicketCreate(**values), now=now, auto_submitted=auto_submitted
        )
        return open_ticket(request, session=session, knobs=KNOBS, actor="test", now=now)

    return open_
