"""The staff's deadline feed: open take-charge deadlines as an iCalendar feed (R17).

Calendar apps poll a URL and cannot send headers, so the feed is read with a `feed` token in
the URL, which can read nothing else.
"""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlmodel import Session, col, select

from app.enums import OPEN_STATUSES
from app.models.ticket import Ticket
from app.services.notifications.letters import when

ROME = ZoneInfo("Europe/Rome")
EVENT_LENGTH = timedelta(minutes=15)
# RFC 5545 text holds no control characters; a customer's subject may (typed through the API).
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def deadlines_ics(*, session: Session, now: datetime, domain: str) -> bytes:
    """Open tickets not yet taken in charge, each an event at its deadline in Rome time;
    urgent ones first (R12), their summaries starting with URGENTE."""
    tickets = session.exec(
        select(Ticket)
        .where(
            col(Ticket.status).in_(OPEN_STATUSES),
            col(Ticket.taken_in_charge_at).is_(None),
            col(Ticket.take_charge_due_at).is_not(None),
        )
        .order_by(col(Ticket.priority), col(Ticket.queue_due_at), col(Ticket.id))
        .limit(2000)
    ).all()
    feed = Calendar()
    feed.add("prodid", "-//Sportello//take-charge deadlines//IT")
    feed.add("version", "2.0")
    feed.add("calscale", "GREGORIAN")
    feed.add("x-wr-calname", "Sportello: prese in carico")
    feed.add("x-wr-timezone", "Europe/Rome")
    for ticket in tickets:
        assert ticket.take_charge_due_at is not None
        due = ticket.take_charge_due_at.astimezone(ROME)
        event = Event()
        event.add("uid", f"{ticket.number}.take-charge@{domain}")
        event.add("dtstamp", now)
        event.add("dtstart", due)
        event.add("dtend", due + EVENT_LENGTH)
        urgent = "URGENTE " if ticket.urgent else ""
        subject = _CONTROLS.sub(" ", ticket.subject)
        event.add("summary", f"{urgent}[#{ticket.number}] presa in carico: {subject}")
        event.add(
            "description",
            f"Da {ticket.from_email}, ricevuta {when(ticket.received_at, 'it')}. "
            f"Entro {when(ticket.take_charge_due_at, 'it')}.",
        )
        event.add("priority", 1 if ticket.urgent else 5)
        feed.add_component(event)
    feed.add_missing_timezones()
    ics: bytes = feed.to_ical()
    return ics
