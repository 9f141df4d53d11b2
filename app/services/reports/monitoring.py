"""What the metrics count, read from the database at each scrape: the same figures whichever
process answers, however many processes there are."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from app.enums import OutboxChannel, OutboxState, SlaState
from app.models.base import table_of
from app.models.mailbox import Mailbox
from app.models.outbox import Outbox
from app.models.quarantine import Quarantine
from app.models.ticket import Ticket
from app.services.tickets.queue import sla_state_condition

_TICKET, _OUTBOX, _MAILBOX = table_of(Ticket), table_of(Outbox), table_of(Mailbox)
_QUARANTINE = table_of(Quarantine)


@dataclass(frozen=True)
class Figures:
    """The desk at one instant."""

    tickets_by_channel: dict[str, int]
    breaches: int
    at_risk: int
    outbox_by_state: dict[str, int]
    emails_sent: int
    mailboxes_failing: int
    quarantine_held: int


def figures(*, session: Session, now: datetime) -> Figures:
    """Counts for the metrics at `now` (each an indexed count)."""
    connection = session.connection()

    def count(*where: object) -> int:
        return connection.execute(
            select(func.count()).select_from(_TICKET).where(*where)  # type: ignore[arg-type]
        ).scalar_one()

    channels = connection.execute(
        select(_TICKET.c.channel, func.count()).group_by(_TICKET.c.channel)
    ).all()
    states = connection.execute(
        select(_OUTBOX.c.state, func.count()).group_by(_OUTBOX.c.state)
    ).all()
    sent = connection.execute(
        select(func.count())
        .select_from(_OUTBOX)
        .where(_OUTBOX.c.state == OutboxState.SENT, _OUTBOX.c.channel == OutboxChannel.EMAIL)
    ).scalar_one()
    failing = connection.execute(
        select(func.count())
        .select_from(_MAILBOX)
        .where(_MAILBOX.c.enabled.is_(True), _MAILBOX.c.failing_since.is_not(None))
    ).scalar_one()
    held = connection.execute(
        select(func.count()).select_from(_QUARANTINE).where(_QUARANTINE.c.released_at.is_(None))
    ).scalar_one()
    return Figures(
        tickets_by_channel={str(channel): n for channel, n in channels},
        breaches=count(sla_state_condition(SlaState.BREACHED, now=now)),
        at_risk=count(sla_state_condition(SlaState.AT_RISK, now=now)),
        outbox_by_state={str(state): n for state, n in states},
        emails_sent=sent,
        mailboxes_failing=failing,
        quarantine_held=held,
    )
