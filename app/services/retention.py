"""Retention (GDPR art. 5(1)(e): personal data kept no longer than needed), applied once a day
by a runner (app.runners.outbox_worker) when SPORTELLO_RETENTION_* say so; off by default.

- the message bodies and attachments of tickets closed more than N months ago: the bodies
  (and the ticket's own request text) become a placeholder, the attachments go (a file's
  content too, once no message carries it); the ticket rows, their dates, statuses and audit
  trail stay, so that the SLA statements and billing of past months do not change.
  Open tickets are never touched;
- quarantined deliveries received more than N days ago (their raw bytes with them);
- what sent emails and events said (their facts and written payload), N days after they were
  sent; the rows stay, with their Message-IDs and dedup keys (nothing is sent twice, P2).

Each step removes one batch in the caller's unit of work and says how many it removed; the
runner calls it again until a batch comes back short.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.enums import OutboxState, Status
from app.models.base import table_of
from app.models.message import Attachment, AttachmentBlob, Message
from app.models.outbox import Outbox
from app.models.quarantine import Quarantine
from app.models.retention import RetentionRun
from app.models.ticket import Ticket

PLACEHOLDER = "[removed after the retention period]"
_TICKET = table_of(Ticket)
_MESSAGE = table_of(Message)
_ATTACHMENT = table_of(Attachment)
_BLOB = table_of(AttachmentBlob)
_QUARANTINE = table_of(Quarantine)
_OUTBOX = table_of(Outbox)
_RUN = table_of(RetentionRun)


@dataclass(frozen=True)
class Retention:
    """How long each class of data is kept (None: for ever) and the size of a batch."""

    closed_ticket_months: int | None = None
    quarantine_days: int | None = None
    outbox_days: int | None = None
    batch: int = 500

    @property
    def enabled(self) -> bool:
        """Whether any rule is on."""
        return any(
            n is not None
            for n in (self.closed_ticket_months, self.quarantine_days, self.outbox_days)
        )


def months_before(now: datetime, months: int) -> datetime:
    """The same instant `months` calendar months earlier (the 31st becomes the month's last)."""
    month_index = now.year * 12 + now.month - 1 - months
    year, month = divmod(month_index, 12)
    for day in range(now.day, 0, -1):
        try:
            return now.replace(year=year, month=month + 1, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has a 28th")


def claim_day(*, session: Session, now: datetime, runner: str) -> bool:
    """Record that `runner` applies retention today; False when another runner has (the day's
    row exists), so that it runs at most once a day however many runners there are."""
    day = now.date()
    if session.connection().execute(select(_RUN.c.day).where(_RUN.c.day == day)).first():
        return False
    try:
        with session.begin_nested():  # two runners at the same instant: one row wins
            session.connection().execute(
                insert(_RUN).values(day=day, ran_by=runner[:64], started_at=now)
            )
    except IntegrityError:  # the primary key refused the second runner's row
        return False
    return True


def record(removed: dict[str, int], *, session: Session, now: datetime) -> None:
    """What today's run removed, by class (never what it said)."""
    session.connection().execute(
        update(_RUN).where(_RUN.c.day == now.date()).values(finished_at=now, removed=removed)
    )


def _closed_before(policy: Retention, now: datetime) -> Select[tuple[int]] | None:
    if policy.closed_ticket_months is None:
        return None
    cutoff = months_before(now, policy.closed_ticket_months)
    return select(_TICKET.c.id).where(
        _TICKET.c.status == Status.CLOSED, _TICKET.c.closed_at < cutoff
    )


def remove_bodies(*, session: Session, now: datetime, policy: Retention) -> int:
    """One batch of messages of long-closed tickets, then of the tickets' own request text
    (what the batch leaves room for): their words become the placeholder. Only the `body`
    column of a ticket changes; its dates and statuses stay for the SLA figures."""
    closed = _closed_before(policy, now)
    if closed is None:
        return 0
    ids = (
        session.connection()
        .scalars(
            select(_MESSAGE.c.id)
            .where(_MESSAGE.c.ticket_id.in_(closed), _MESSAGE.c.text != PLACEHOLDER)
            .order_by(_MESSAGE.c.id)
            .limit(policy.batch)
        )
        .all()
    )
    if ids:
        session.connection().execute(
            update(_MESSAGE)
            .where(_MESSAGE.c.id.in_(ids))
            .values(text=PLACEHOLDER, text_stripped=PLACEHOLDER, html=None)
        )
    return len(ids) + _remove_ticket_bodies(closed, session=session, limit=policy.batch - len(ids))


def _remove_ticket_bodies(closed: Select[tuple[int]], *, session: Session, limit: int) -> int:
    """Up to `limit` long-closed tickets' request text becomes the placeholder."""
    if limit <= 0:
        return 0
    ids = (
        session.connection()
        .scalars(
            select(_TICKET.c.id)
            .where(_TICKET.c.id.in_(closed), _TICKET.c.body != PLACEHOLDER)
            .order_by(_TICKET.c.id)
            .limit(limit)
        )
        .all()
    )
    if ids:
        session.connection().execute(
            update(_TICKET).where(_TICKET.c.id.in_(ids)).values(body=PLACEHOLDER)
        )
    return len(ids)


def remove_attachments(*, session: Session, now: datetime, policy: Retention) -> int:
    """One batch of attachments of long-closed tickets, and the contents no message carries
    any more (a file also attached to another ticket stays for it)."""
    closed = _closed_before(policy, now)
    if closed is None:
        return 0
    rows = (
        session.connection()
        .execute(
            select(_ATTACHMENT.c.id, _ATTACHMENT.c.blob_id)
            .join(_MESSAGE, _MESSAGE.c.id == _ATTACHMENT.c.message_id)
            .where(_MESSAGE.c.ticket_id.in_(closed))
            .order_by(_ATTACHMENT.c.id)
            .limit(policy.batch)
        )
        .all()
    )
    if rows:
        connection = session.connection()
        connection.execute(delete(_ATTACHMENT).where(_ATTACHMENT.c.id.in_([r.id for r in rows])))
        carried = exists().where(_ATTACHMENT.c.blob_id == _BLOB.c.id)
        connection.execute(delete(_BLOB).where(_BLOB.c.id.in_({r.blob_id for r in rows}), ~carried))
    return len(rows)


def remove_quarantined(*, session: Session, now: datetime, policy: Retention) -> int:
    """One batch of quarantined deliveries received more than N days ago."""
    if policy.quarantine_days is None:
        return 0
    cutoff = now - timedelta(days=policy.quarantine_days)
    ids = (
        session.connection()
        .scalars(
            select(_QUARANTINE.c.id)
            .where(_QUARANTINE.c.received_at < cutoff)
            .order_by(_QUARANTINE.c.id)
            .limit(policy.batch)
        )
        .all()
    )
    if ids:
        session.connection().execute(delete(_QUARANTINE).where(_QUARANTINE.c.id.in_(ids)))
    return len(ids)


def remove_outbox_payloads(*, session: Session, now: datetime, policy: Retention) -> int:
    """One batch of rows sent more than N days ago: what they said goes, the rows stay."""
    if policy.outbox_days is None:
        return 0
    cutoff = now - timedelta(days=policy.outbox_days)
    ids = (
        session.connection()
        .scalars(
            select(_OUTBOX.c.id)
            .where(
                _OUTBOX.c.state == OutboxState.SENT,
                _OUTBOX.c.sent_at < cutoff,
                _OUTBOX.c.payload.is_not(None) | _OUTBOX.c.facts.is_not(None),
            )
            .order_by(_OUTBOX.c.id)
            .limit(policy.batch)
        )
        .all()
    )
    if ids:
        session.connection().execute(
            update(_OUTBOX).where(_OUTBOX.c.id.in_(ids)).values(payload=None, facts=None)
        )
    return len(ids)


Step = Callable[..., int]
# In this order: bodies before attachments (one ticket's words and files go the same day).
STEPS: tuple[tuple[str, Step], ...] = (
    ("message_bodies", remove_bodies),
    ("attachments", remove_attachments),
    ("quarantined", remove_quarantined),
    ("outbox_payloads", remove_outbox_payloads),
)
