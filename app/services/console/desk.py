"""What the console's pages show: the queue (the API's order and filters, services.tickets.queue)
and a ticket, in the staff member's language, dates in Rome time as Italians write them."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app.enums import Consent, Role, SlaState, Status
from app.models.contract import Contract
from app.models.customer import Customer
from app.models.staff import StaffMember
from app.models.ticket import Ticket
from app.services.console.words import business_time, words
from app.services.directory import staff as staff_members
from app.services.notifications.letters import when
from app.services.reports import time_entries
from app.services.tickets import queue, transcript
from app.services.tickets.snapshot import explain_deadline, sla_block

QUEUE_LIMIT = 100
VIEWS = ("", "mine", "unassigned", "urgent", "at_risk", "breached", "waiting", "consent")
# The colour of each SLA state (a class of the console's stylesheet), beside its word.
COLOURS = {
    SlaState.PENDING: "ok",
    SlaState.AT_RISK: "warn",
    SlaState.BREACHED: "bad",
    SlaState.MET: "done",
    SlaState.NOT_APPLICABLE: "none",
}


def queue_filters(view: str, q: str | None, *, staff_id: int | None) -> queue.TicketFilters:
    """The API's filters for a queue view (a link of the page) and a search."""
    q = (q or "").strip() or None
    by_view: dict[str, queue.TicketFilters] = {
        "": queue.TicketFilters(q=q),
        "mine": queue.TicketFilters(q=q, assignee_id=staff_id or 0),
        "unassigned": queue.TicketFilters(q=q, unassigned=True),
        "urgent": queue.TicketFilters(q=q, urgent=True),
        "at_risk": queue.TicketFilters(q=q, sla_state=SlaState.AT_RISK),
        "breached": queue.TicketFilters(q=q, sla_state=SlaState.BREACHED),
        "waiting": queue.TicketFilters(q=q, status=(Status.WAITING_THIRD_PARTY,)),
        "consent": queue.TicketFilters(q=q, consent=Consent.PENDING),
    }
    return by_view[view]


def _names(
    model: Any, ids: Iterable[int | None], *, session: Session, field: str
) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.exec(select(model.id, getattr(model, field)).where(col(model.id).in_(wanted)))
    return {row[0]: row[1] for row in rows}


def time_left(sla: dict[str, Any], language: str) -> str:
    """`1 h 20 min lavorative`, `scaduta`, or `nessun termine`."""
    said = words(language)
    remaining = sla["business_seconds_remaining"]
    if sla["state"] == SlaState.MET or remaining is None:
        return said["no_deadline"] if remaining is None else "-"
    if sla["state"] == SlaState.BREACHED:
        return str(said["expired"])
    return str(said["business_left"].format(time=business_time(remaining)))


def queue_rows(
    filters: queue.TicketFilters,
    *,
    session: Session,
    now: datetime,
    fraction: float,
    language: str,
    cursor: str | None = None,
) -> dict[str, Any]:
    """A page of the queue (urgent first, then the nearest deadline: R12), each row as shown."""
    page = queue.queue_page(
        filters, session=session, now=now, limit=QUEUE_LIMIT, cursor=cursor, fraction=fraction
    )
    items = page["items"]
    customers = _names(Customer, (t["customer_id"] for t in items), session=session, field="name")
    staff = _names(StaffMember, (t["assignee_id"] for t in items), session=session, field="name")
    said = words(language)
    rows = [
        {
            "number": t["number"],
            "urgent": t["urgent"],
            "customer": customers.get(t["customer_id"]) or t["from_name"] or t["from_email"],
            "subject": t["subject"],
            "state": t["sla"]["state"],
            "colour": COLOURS[t["sla"]["state"]],
            "state_word": said["sla_states"][t["sla"]["state"]],
            "left": time_left(t["sla"], language),
            "assignee": staff.get(t["assignee_id"]),
            "consent_pending": t["consent"] == Consent.PENDING,
            "channel": said["channels"][t["channel"]],
        }
        for t in items
    ]
    return {"rows": rows, "next_cursor": page["next_cursor"]}


def ticket_page(
    ref: str, *, session: Session, now: datetime, fraction: float, language: str
) -> dict[str, Any]:
    """One ticket as its read-only page shows it (NotFound for an unknown one)."""
    ticket = queue.ticket_of(ref, session=session)
    assert ticket.id is not None
    said = words(language)
    sla = sla_block(ticket, now=now, fraction=fraction)
    customer = session.get(Customer, ticket.customer_id) if ticket.customer_id else None
    contract = session.get(Contract, ticket.contract_id) if ticket.contract_id else None
    assignee = session.get(StaffMember, ticket.assignee_id) if ticket.assignee_id else None
    explanation = explain_deadline(ticket)
    sla_values = {"state": sla.state, "business_seconds_remaining": sla.business_seconds_remaining}
    return {
        "number": ticket.number,
        "subject": ticket.subject,
        "urgent": ticket.urgent,
        "status": said["statuses"][ticket.status],
        "customer": customer.name if customer else ticket.from_name or ticket.from_email,
        "sender": f"{ticket.from_name} <{ticket.from_email}>"
        if ticket.from_name
        else ticket.from_email,
        "contract": contract.code if contract else None,
        "coverage": said["coverage"][ticket.coverage],
        "assignee": assignee.name if assignee else None,
        "assignee_id": ticket.assignee_id,
        "consent_pending": ticket.consent == Consent.PENDING,
        "channel": said["channels"][ticket.channel],
        "received": when(ticket.received_at, language),
        "state": sla.state,
        "colour": COLOURS[sla.state],
        "state_word": said["sla_states"][sla.state],
        "left": time_left(sla_values, language),
        "due": when(sla.take_charge_due_at, language),
        "taken": when(sla.taken_in_charge_at, language),
        "explained": explanation.summary(language) if explanation else None,
        "estimate": when(ticket.estimated_resolution_at, language),
        "messages": _conversation(ticket.id, session=session, language=language),
        "merged_into": _number(ticket.merged_into_id, session=session),
        "staff": [
            (member.id, member.name)
            for member in staff_members.list_staff(session=session)
            if member.active and member.role in (Role.AGENT, Role.ADMIN)
        ],
        "time": _time(ticket, session=session, language=language),
    }


def _number(ticket_id: int | None, *, session: Session) -> str | None:
    if ticket_id is None:
        return None
    return session.exec(select(Ticket.number).where(Ticket.id == ticket_id)).first()


def _time(ticket: Ticket, *, session: Session, language: str) -> dict[str, Any]:
    """The time recorded on the ticket, each entry and the total (as `1 h 20 min`)."""
    entries = time_entries.list_entries(ticket, session=session)
    return {
        "entries": [
            {
                "minutes": business_time(entry.minutes * 60),
                "note": entry.note,
                "author": entry.author,
                "billable": entry.billable,
                "at": when(entry.created_at, language),
            }
            for entry in entries
        ],
        "total": business_time(sum(entry.minutes for entry in entries) * 60),
    }


def _delivery(delivery: dict[str, Any] | None, said: dict[str, Any]) -> str | None:
    """Where our email stands, in words (`inviata`, `in coda`...); none for the customer's."""
    if delivery is None:
        return None
    state = str(delivery["state"])
    return str(said["deliveries"].get(state, state))


def _conversation(ticket_id: int, *, session: Session, language: str) -> list[dict[str, Any]]:
    said = words(language)
    return [
        {
            "kind": message["kind"],
            "kind_word": said["kinds"][message["kind"]],
            "who": message["author"]["name"] if message["author"] else message["from_name"],
            "address": message["from_email"],
            "at": when(message["received_at"], language),
            "lines": message["text"].strip().split("\n"),
            "delivery": _delivery(message["delivery"], said),
            "files": [
                {"id": f["id"], "name": f["filename"], "size": f["size"]}
                for f in message["attachments"]
            ],
        }
        for message in transcript.conversation(ticket_id, session=session)
    ]
