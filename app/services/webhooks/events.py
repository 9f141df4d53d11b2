"""Events: what happened, queued for each subscription that wants it, in the cause's
transaction.

`publish` is called where the cause is recorded (intake, the lifecycle, the SLA scan, the
outbox worker, the mailbox poller, the quarantine). It writes one outbox row of the channel
`event` per enabled subscription wanting the type, holding the event itself as its facts: the
body receivers get, decided now. The event's id is the `webhook-id` header of every attempt,
and the same cause never yields a second event (the outbox's dedup key).
Without a subscription wanting it, an event costs one small read and nothing is written.
"""

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from app.enums import EventType, OutboxChannel, SlaState
from app.models.base import table_of
from app.models.ticket import Ticket
from app.models.webhook import Event, EventSla, EventTicket, WebhookSubscription
from app.services.notifications import outbox

_SUBSCRIPTIONS = table_of(WebhookSubscription)
_WANTING = select(_SUBSCRIPTIONS.c.id, _SUBSCRIPTIONS.c.events).where(
    _SUBSCRIPTIONS.c.enabled.is_(True)
)
_TICKETS = table_of(Ticket)


def publish(
    event_type: EventType,
    *,
    session: Session,
    at: datetime,
    cause: str,
    data: Callable[[], dict[str, Any]],
    ticket_id: int | None = None,
) -> int:
    """Queue the event for every subscription that wants it; how many rows were written.

    `cause` names what happened (the same cause is one event); `data` is called only when
    someone wants the event. One ticket's events are delivered in the order they are
    published (outbox.claim_due).
    """
    wanting = [
        sid for sid, events in session.connection().execute(_WANTING) if event_type in events
    ]
    if not wanting:
        return 0
    event = Event(
        id=f"evt_{uuid.uuid4().hex}", type=event_type, timestamp=at, data=data()
    ).model_dump(mode="json")
    written = 0
    for subscription_id in wanting:
        written += outbox.enqueue_event(
            session=session,
            kind=str(event_type),
            channel=OutboxChannel.EVENT,
            ticket_id=ticket_id,
            recipient=f"webhook {subscription_id}",
            message_id=f"{event['id']}.{subscription_id}",
            at=at,
            dedup_key=f"event:{event_type}:{cause}:{subscription_id}"[:255],
            event=event,
            subscription_id=subscription_id,
        )
    return written


def ticket_data(ticket_id: int, *, session: Session, at: datetime) -> dict[str, Any]:
    """`{"ticket": ...}`: the ticket as the cause's transaction has it now."""
    return {"ticket": ticket_block(ticket_id, session=session, at=at)}


def ticket_block(ticket_id: int, *, session: Session, at: datetime) -> dict[str, Any]:
    """The ticket as an event tells it: number, status, SLA block at `at`."""
    row = session.connection().execute(select(_TICKETS).where(_TICKETS.c.id == ticket_id)).one()
    ticket = Ticket.model_validate(dict(row._mapping))
    block = EventTicket(
        id=ticket_id,
        number=ticket.number,
        status=ticket.status,
        subject=ticket.subject,
        urgent=ticket.urgent,
        sla=EventSla(
            policy=ticket.sla_policy,
            state=sla_state(ticket, at=at),
            take_charge_due_at=ticket.take_charge_due_at,
            at_risk_at=ticket.at_risk_at,
            taken_in_charge_at=ticket.taken_in_charge_at,
        ),
    )
    return block.model_dump(mode="json")


def sla_state(ticket: Ticket, *, at: datetime) -> SlaState:
    """Where the ticket stands at `at`, from its derived instants (snapshot.refresh_derived)."""
    due = ticket.take_charge_due_at
    if due is None:
        return SlaState.NOT_APPLICABLE
    if ticket.taken_in_charge_at is not None:
        return SlaState.MET if ticket.taken_in_charge_at <= due else SlaState.BREACHED
    if ticket.breach_at is not None and at >= ticket.breach_at:
        return SlaState.BREACHED
    if ticket.at_risk_at is not None and at >= ticket.at_risk_at:
        return SlaState.AT_RISK
    return SlaState.PENDING
