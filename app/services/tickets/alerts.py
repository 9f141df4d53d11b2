"""Staff alerts counted in business time: a deadline getting close, then passed (R17).

A periodic scan (the worker runs it) looks only at open tickets not yet taken in charge whose
deadline is near (the queue's deadline column) and that were not told of their breach yet, and
for each works out with the engine the instant each step was reached: `1 h` of business time
left (configurable steps), then the breach. Each step is recorded once per ticket, as an
audit event, so that it is never told twice and staff can see when they were told. Tickets
reaching a step in the same scan are told in one digest email, not one each. Outside the
calendar's hours no such alert goes out (the on-call alerts of R15 do): a step found late,
while closed, waits for the next opening.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import String, cast, func, select, text
from sqlmodel import Session, col

from app.engine.business_hours import BusinessCalendar, calendar_for
from app.enums import OPEN_STATUSES, EventType
from app.models.audit import TicketEvent
from app.models.ticket import Ticket
from app.services.directory.calendars import snapshot_spec_of_text
from app.services.knobs import MailKnobs
from app.services.notifications import notify
from app.services.tickets import audit
from app.services.webhooks import events

ACTOR = "sla-watch"
BREACHED = "breached"
# A step found this soon after it was reached is told even if the calendar has just closed
# (a deadline at closing time, 18:00, is told at 18:00, not the next afternoon).
GRACE = timedelta(minutes=15)
# How far ahead of the deadline a step can lie in wall-clock time (weekends, holidays).
HORIZON = timedelta(days=31)
# A breach older than this is no longer news for an alert (a worker down for a month); it stays
# in /sla/breaches. The bound keeps each scan to the tickets in flight, not the whole backlog.
LOOKBACK = timedelta(days=31)
CANDIDATE_COLUMNS = (
    "id",
    "number",
    "subject",
    "from_email",
    "take_charge_due_at",
    "clock_started_at",
    "sla_target_seconds",
)


@dataclass(frozen=True)
class Candidate:
    """What the scan reads of an open ticket waiting to be taken in charge."""

    id: int
    number: str
    subject: str
    from_email: str
    take_charge_due_at: datetime
    clock_started_at: datetime | None
    sla_target_seconds: int | None
    sla_calendar: str  # the snapshot as JSON text: the key of its shared calendar
    told: str | None  # the steps already told, comma-separated


@dataclass(frozen=True)
class Reached:
    """A ticket that has reached a step."""

    ticket: Candidate
    step: str
    at: datetime
    left: timedelta | None  # business time left at this step; None for the breach


def scan(*, session: Session, mail: MailKnobs, now: datetime, steps: tuple[timedelta, ...]) -> int:
    """Record and tell the steps reached by now; how many tickets were told about."""
    if session.get_bind().dialect.name == "postgresql":
        # One scan at a time across workers (SQLite writers take turns anyway).
        locked = session.execute(text("SELECT pg_try_advisory_xact_lock(7411)")).scalar_one()
        if not locked:
            return 0
    # The breach is the last step: a ticket told of it has nothing left to be told, so the
    # scan never re-reads the backlog of old breaches (R17: each step told once).
    breach_told = (
        select(col(TicketEvent.id))
        .where(
            col(TicketEvent.ticket_id) == Ticket.id,
            col(TicketEvent.kind) == "sla_alert",
            TicketEvent.data["step"].as_string() == BREACHED,  # type: ignore[index]
        )
        .exists()
    )
    in_flight = (
        col(Ticket.status).in_(OPEN_STATUSES),
        col(Ticket.taken_in_charge_at).is_(None),
        col(Ticket.take_charge_due_at).is_not(None),
        col(Ticket.take_charge_due_at) <= now + HORIZON,
        col(Ticket.take_charge_due_at) > now - LOOKBACK,
        ~breach_told,
    )
    # The steps each was told already, read in the same query (one string per ticket).
    told = (
        select(func.aggregate_strings(TicketEvent.data["step"].as_string(), ","))  # type: ignore[index]
        .where(col(TicketEvent.ticket_id) == Ticket.id, col(TicketEvent.kind) == "sla_alert")
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            *(col(getattr(Ticket, name)) for name in CANDIDATE_COLUMNS),
            cast(col(Ticket.sla_calendar), String).label("sla_calendar"),
            told.label("told"),
        ).where(*in_flight)
    )
    reached: dict[str, list[Reached]] = {}
    for ticket in (Candidate(**row) for row in rows.mappings()):
        already = set((ticket.told or "").split(","))
        for step, at, left in _steps_of(ticket, steps):
            if at > now or step in already:
                continue
            if now - at > GRACE and not _calendar(ticket).is_open(now):
                continue  # found late while closed: told at the next opening
            reached.setdefault(step, []).append(Reached(ticket, step, at, left))
    for step, tickets in reached.items():
        _tell(step, tickets, session=session, mail=mail, now=now)
    return sum(len(tickets) for tickets in reached.values())


def step_name(left: timedelta) -> str:
    """How a step is named: `60m` for one business hour left."""
    return f"{int(left.total_seconds() // 60)}m"


def _calendar(ticket: Candidate) -> BusinessCalendar:
    return calendar_for(snapshot_spec_of_text(ticket.sla_calendar))


def _steps_of(
    ticket: Candidate, steps: tuple[timedelta, ...]
) -> list[tuple[str, datetime, timedelta | None]]:
    """(name, instant reached, business time left) of each step of the ticket."""
    result: list[tuple[str, datetime, timedelta | None]] = [
        (BREACHED, ticket.take_charge_due_at, None)
    ]
    if ticket.clock_started_at is None or ticket.sla_target_seconds is None:
        return result
    calendar = _calendar(ticket)
    target = timedelta(seconds=ticket.sla_target_seconds)
    for left in steps:
        if left < target:
            at = calendar.add_business_time(ticket.clock_started_at, target - left)
            result.append((step_name(left), at, left))
    return result


def _tell(
    step: str, reached: list[Reached], *, session: Session, mail: MailKnobs, now: datetime
) -> None:
    reached.sort(key=lambda r: (r.ticket.take_charge_due_at, r.ticket.id))
    for item in reached:
        audit.record(
            item.ticket.id,
            session=session,
            actor=ACTOR,
            kind="sla_alert",
            at=now,
            data={"step": step, "reached_at": item.at.isoformat()},
        )
        ticket_id = item.ticket.id
        events.publish(
            EventType.SLA_BREACHED if step == BREACHED else EventType.SLA_AT_RISK,
            session=session,
            at=now,
            cause=f"ticket:{ticket_id}:sla.{step}",
            ticket_id=ticket_id,
            data=partial(events.ticket_data, ticket_id, session=session, at=now),
        )
    first = reached[0].ticket
    single = len(reached) == 1
    notify.alert_staff(
        "sla_alert",
        session=session,
        mail=mail,
        at=now,
        # One ticket: a key of its own, cancelled if it is taken in charge before it goes.
        dedup_key=f"ticket:{first.id}:sla.{step}"
        if single
        else f"sla.{step}:{now:%Y%m%dT%H%M%S}:{first.id}:{len(reached)}",
        ticket_id=first.id if single else None,
        step=step,
        headline="Presa in carico scaduta" if step == BREACHED else "Presa in carico a rischio",
        left=_in_words(reached[0].left),
        tickets=[
            {
                "number": r.ticket.number,
                "subject": r.ticket.subject,
                "from_email": r.ticket.from_email,
                "due": r.ticket.take_charge_due_at,
            }
            for r in reached
        ],
    )


def _in_words(left: timedelta | None) -> str:
    """Business time left as staff read it: `1 h`, `90 min`; empty for the breach."""
    if left is None:
        return ""
    minutes = int(left.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
