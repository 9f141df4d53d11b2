"""The views of reads (the work queue, one ticket) are built from the columns they show and
serialised once: the JSON is byte for byte what the full model of the ticket gives."""

import warnings
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter
from sqlmodel import Session

from app.enums import Category, DeliveryMode, Status
from app.models.ticket import ResolveIn, TakeChargeIn, Ticket, TicketPage, TicketRead
from app.services.tickets import lifecycle
from app.services.tickets.queue import TicketFilters, queue_page, ticket_view
from app.services.tickets.snapshot import page_json, sla_block, ticket_json
from tests.services.conftest import KNOBS

ROME = ZoneInfo("Europe/Rome")
MONDAY_15 = datetime(2026, 11, 23, 15, 0, tzinfo=ROME)
EVERY_STATUS = TicketFilters(status=tuple(Status))


def full_model(ticket: Ticket, *, now: datetime) -> TicketRead:
    """The ticket's view validated from the whole ORM row, as the API built it before."""
    values = {name: getattr(ticket, name) for name in TicketRead.model_fields if name != "sla"}
    block = sla_block(ticket, now=now, fraction=KNOBS.at_risk_fraction)
    return TicketRead.model_validate({**values, "sla": block.model_dump()})


def a_desk(session: Session, opened) -> list[int]:
    """Tickets in every shape the queue shows: covered, urgent, not covered, from a stranger,
    taken in charge (with an estimate), resolved."""
    covered = opened(now=MONDAY_15).id
    urgent = opened(now=MONDAY_15, subject="URGENTE: giù").id
    not_covered = opened(now=MONDAY_15, category=Category.EMAIL).id
    stranger = opened(now=MONDAY_15, from_email="anna@altrove.it", from_name="Anna").id
    taken = opened(now=MONDAY_15 - timedelta(days=1)).id
    resolved = opened(now=MONDAY_15 - timedelta(days=2)).id
    later = MONDAY_15 - timedelta(hours=20)
    estimate = TakeChargeIn(estimated_resolution_at=MONDAY_15 + timedelta(days=3), note="ok")
    for ticket_id in (taken, resolved):
        lifecycle.take_charge(
            ticket_id, estimate, session=session, knobs=KNOBS, actor="test", now=later
        )
    done = ResolveIn(resolution="Fatto.", delivery_mode=DeliveryMode.REMOTE)
    lifecycle.resolve(resolved, done, session=session, knobs=KNOBS, actor="test", now=later)
    session.flush()
    session.expire_all()  # as a request reads them: from the database
    return [covered, urgent, not_covered, stranger, taken, resolved]


def test_the_queue_page_is_the_full_models_json(session: Session, rossi, opened):
    a_desk(session, opened)
    now = MONDAY_15 + timedelta(hours=3)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a value of the wrong type would warn as it serialises
        page = queue_page(
            EVERY_STATUS, session=session, now=now, limit=4, cursor=None, fraction=0.25
        )
        fast = page_json(page)

    tickets = [session.get(Ticket, item["id"]) for item in page["items"]]
    expected = TicketPage(
        items=[full_model(t, now=now) for t in tickets if t is not None],
        limit=4,
        next_cursor=page["next_cursor"],
    )
    assert page["next_cursor"] is not None and len(page["items"]) == 4
    assert fast == TypeAdapter(TicketPage).dump_json(expected)


def test_one_ticket_is_the_full_models_json_by_id_and_by_number(session: Session, rossi, opened):
    now = MONDAY_15 + timedelta(hours=3)
    for ticket_id in a_desk(session, opened):
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        expected = TypeAdapter(TicketRead).dump_json(full_model(ticket, now=now))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            by_id = ticket_json(
                ticket_view(str(ticket_id), session=session, now=now, fraction=0.25)
            )
            by_number = ticket_json(
                ticket_view(ticket.number, session=session, now=now, fraction=0.25)
            )
        assert by_id == by_number == expected
