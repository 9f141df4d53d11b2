"""The work queue: urgent first (R12), nearest deadline next; SLA-state filters (R17)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from app.enums import SlaState
from app.errors import Unprocessable
from app.services.tickets.queue import TicketFilters, list_tickets

ROME = ZoneInfo("Europe/Rome")
MONDAY_15 = datetime(2026, 11, 23, 15, 0, tzinfo=ROME)


def test_urgent_first_then_nearest_deadline(session: Session, rossi, opened):
    late = opened(now=MONDAY_15 + timedelta(hours=2))
    early = opened(now=MONDAY_15)
    urgent = opened(now=MONDAY_15 + timedelta(hours=2, minutes=30), subject="URGENTE: giù")

    rows, _ = list_tickets(TicketFilters(), session=session, now=MONDAY_15, limit=10)

    assert [row.id for row in rows] == [urgent.id, early.id, late.id]


def test_pages_follow_each_other_without_gaps_or_repeats(session: Session, rossi, opened):
    ids = [opened(now=MONDAY_15 + timedelta(minutes=i)).id for i in range(7)]
    seen: list[int] = []
    cursor = None
    while True:
        rows, cursor = list_tickets(
            TicketFilters(), session=session, now=MONDAY_15, limit=3, cursor=cursor
        )
        seen += [row.id for row in rows if row.id is not None]
        if cursor is None:
            break

    assert seen == ids


def test_breached_are_those_past_their_deadline_at_now(session: Session, rossi, opened):
    first = opened(now=MONDAY_15)  # due Tue 16:00 (4 business hours)
    opened(now=MONDAY_15 + timedelta(hours=2))  # due Wed 15:00 + ...
    tuesday_17 = datetime(2026, 11, 24, 17, 0, tzinfo=ROME)

    breached, _ = list_tickets(
        TicketFilters(sla_state=SlaState.BREACHED), session=session, now=tuesday_17, limit=10
    )

    assert [row.id for row in breached] == [first.id]


def test_a_cursor_the_api_did_not_give_is_refused(session: Session):
    with pytest.raises(Unprocessable):
        list_tickets(TicketFilters(), session=session, now=MONDAY_15, limit=3, cursor="nonsense")
