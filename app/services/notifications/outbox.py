"""The outbox: side effects written in the same transaction as their cause, then delivered.

`enqueue` is called inside the cause's transaction (idempotent by the dedup key) with the facts
of what the row says. The worker (runners.outbox_worker) takes due rows under a lease
(`claim_due`: an email alone, events a few at a time) and, in the same transaction, `write`s
each from its facts if it was not written yet (kept on the row: a resend sends what was
written); it sends it, and settles it in a
transaction of its own right after the other side answered: sent, tried again later with
exponential backoff and jitter (temporary failures, up to a horizon), or failed at once
(permanent ones). A row is leased only while its sender works on it, and a send never outlasts
the lease (the outbox worker), so two live workers never send one row (P2). A lease that runs out
because its worker died mid-send frees the row for another worker: at most that row is sent
again, with the same Message-ID.
"""

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from app import logs
from app.enums import OutboxChannel, OutboxState
from app.errors import DomainError
from app.models.base import table_of
from app.models.outbox import Outbox, OutboxAttempt, OutboxFacts
from app.services.notifications import render
from app.services.tickets.attachments import open_attachment
from app.services.tickets.conversation import fill_in_words

log = logging.getLogger(__name__)
_OUTBOX = table_of(Outbox)
_INSERT_ATTEMPT = insert(table_of(OutboxAttempt))
BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
EVENT_WINDOW = 64  # the due events a claim looks at for one not waiting behind another


def enqueue(
    *,
    session: Session,
    kind: str,
    channel: str,
    ticket_id: int | None,
    recipient: str,
    message_id: str,
    at: datetime,
    dedup_key: str,
    facts: OutboxFacts,
    held: str | None = None,
    available_at: datetime | None = None,
) -> bool:
    """Write a side effect to the outbox; False when this dedup key was written already.

    `held` (a reason) keeps it back, visibly: it is listed and can be retried, never sent alone.
    """
    return _insert(
        session,
        kind=kind,
        channel=channel,
        ticket_id=ticket_id,
        recipient=recipient,
        message_id=message_id,
        dedup_key=dedup_key,
        facts=facts.model_dump(mode="json"),
        state=OutboxState.HELD if held else OutboxState.PENDING,
        last_error=held,
        created_at=at,
        available_at=available_at or at,
    )


def enqueue_event(
    *,
    session: Session,
    kind: str,
    channel: str,
    ticket_id: int | None,
    recipient: str,
    message_id: str,
    at: datetime,
    dedup_key: str,
    event: dict[str, Any],
    subscription_id: int,
) -> bool:
    """Write an event for one subscription (services.webhooks.events); False when this dedup
    key was written already. Its facts are the event itself: the body as it is sent."""
    return _insert(
        session,
        kind=kind,
        channel=channel,
        ticket_id=ticket_id,
        recipient=recipient,
        message_id=message_id,
        dedup_key=dedup_key,
        facts=event,
        state=OutboxState.PENDING,
        last_error=None,
        created_at=at,
        available_at=at,
        subscription_id=subscription_id,
    )


def _insert(session: Session, **row: Any) -> bool:
    """Insert one outbox row unless its dedup key is there already; whether it was written."""
    connection = session.connection()
    written = connection.execute(
        _ENQUEUE[connection.dialect.name],
        {
            **row,
            "payload": None,  # written by the worker, once
            "attempts": 0,
            # The request this runs in, if any: the worker's lines about the row carry it.
            "request_id": logs.request_id.get(),
        },
    ).first()
    return written is not None


# One statement: the row is written unless its dedup key (or its Message-ID, derived from the
# key) is there already, committed or written by a concurrent transaction.
_ENQUEUE = {
    "sqlite": sqlite_insert(_OUTBOX).on_conflict_do_nothing().returning(_OUTBOX.c.id),
    "postgresql": postgresql_insert(_OUTBOX).on_conflict_do_nothing().returning(_OUTBOX.c.id),
}


@dataclass(frozen=True)
class Claimed:
    """A row a worker holds under its lease, until `lease_until`."""

    id: int
    kind: str
    channel: str
    ticket_id: int | None
    recipient: str
    message_id: str
    facts: dict[str, Any] | None
    payload: dict[str, Any] | None
    """What is sent: None until written (`write`)."""
    attempts: int
    created_at: datetime
    request_id: str | None
    lease_until: datetime
    unwritable: str | None = None
    """Why its facts could not be written into an email (it fails for good)."""
    subscription_id: int | None = None
    """An event's subscription (channel `event`)."""


def claim_due(
    *,
    session: Session,
    worker: str,
    now: datetime,
    lease: timedelta,
    events: bool | None,
    limit: int,
) -> list[Claimed]:
    """Take up to `limit` due rows under a lease: no other worker takes them until it ends.

    An email is taken alone, so that it is never leased while it waits behind others (P2).
    Events are taken several at a time (the worker's event lanes): an event waits while an
    earlier one of its ticket and subscription is pending (delivered in order,
    services.webhooks.events), so a batch never holds two of one ticket; each is recorded right
    after its post, so a runner killed mid-batch sends at most each lane's one in flight twice
    and the others wait for their lease. `events` True takes only events, False none of them.
    PostgreSQL skips a row another worker is claiming (FOR UPDATE SKIP LOCKED); SQLite has one
    writer at a time, so the statement is atomic there as it is.
    """
    free = (
        _OUTBOX.c.state == OutboxState.PENDING,
        _OUTBOX.c.available_at <= now,
        or_(_OUTBOX.c.lease_until.is_(None), _OUTBOX.c.lease_until < now),
    )
    due = select(_OUTBOX.c.id).where(*free)
    if events:
        # The order guard is looked at for the first due events only, never for every one
        # (thousands may be due at one instant, and a plan from stale statistics would try
        # them all before sorting): a ticket's later events wait behind its first anyway.
        window = (
            select(_OUTBOX.c.id)
            .where(*free, _OUTBOX.c.channel == OutboxChannel.EVENT)
            .order_by(_OUTBOX.c.available_at, _OUTBOX.c.id)
            .limit(EVENT_WINDOW)
        )
        due = due.where(_OUTBOX.c.id.in_(window.scalar_subquery()))
    else:
        limit = 1  # an email is leased only while it is sent (P2)
        if events is not None:
            due = due.where(_OUTBOX.c.channel != OutboxChannel.EVENT)
    due = (
        due.where(_IN_ORDER)
        .order_by(_OUTBOX.c.available_at, _OUTBOX.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = session.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.id.in_(due.scalar_subquery()))
        .values(lease_until=now + lease, leased_by=worker)
        .returning(
            _OUTBOX.c.id,
            _OUTBOX.c.kind,
            _OUTBOX.c.channel,
            _OUTBOX.c.ticket_id,
            _OUTBOX.c.recipient,
            _OUTBOX.c.message_id,
            _OUTBOX.c.facts,
            _OUTBOX.c.payload,
            _OUTBOX.c.attempts,
            _OUTBOX.c.created_at,
            _OUTBOX.c.request_id,
            _OUTBOX.c.lease_until,
            _OUTBOX.c.subscription_id,
        )
    ).all()
    # No two of one ticket in a batch (above): the order among them is only fairness.
    return [Claimed(**row._mapping) for row in sorted(rows, key=lambda row: row.id)]


_EARLIER = _OUTBOX.alias("earlier")
_IN_ORDER = or_(
    _OUTBOX.c.subscription_id.is_(None),
    _OUTBOX.c.ticket_id.is_(None),
    ~exists().where(
        _EARLIER.c.subscription_id == _OUTBOX.c.subscription_id,
        _EARLIER.c.ticket_id == _OUTBOX.c.ticket_id,
        _EARLIER.c.id < _OUTBOX.c.id,
        _EARLIER.c.state == OutboxState.PENDING,
    ),
)


def write(row: Claimed, *, session: Session) -> Claimed:
    """The claimed row with its email written from its facts and kept, if it was not yet.

    Written once (P2): a row sent again, its lease lost, sends what was kept, the same bytes
    with the same Message-ID. Our email's copy in the ticket's conversation gets its words
    now. A row whose facts cannot be written comes back unwritten, saying why.
    """
    if row.payload is not None:
        return row
    if row.channel == OutboxChannel.EVENT:
        # An event's facts are what is sent (services.webhooks.events): nothing to write.
        return replace(row, payload={"message_id": (row.facts or {}).get("id"), "json": row.facts})
    try:
        facts = OutboxFacts.model_validate(row.facts)
        payload = render.payload_of(facts, channel=row.channel, message_id=row.message_id)
    except Exception as exc:  # a row that cannot be written must not jam the queue
        log.exception("outbox %d could not be written", row.id)
        return replace(row, unwritable=f"{type(exc).__name__}: {exc}"[:300])
    session.connection().execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.id == row.id, _OUTBOX.c.payload.is_(None))
        .values(payload=payload)
    )
    if row.kind.startswith("customer."):
        fill_in_words(
            row.message_id,
            session=session,
            subject=payload["subject"],
            text=payload["text"],
            html=payload["html"],
        )
    return replace(row, payload=payload)


def with_files(row: Claimed, *, session: Session) -> Claimed:
    """The claimed row with the bytes of the files its email carries (a staff reply's), read
    now and checked against their SHA-256; never kept on the row. A file that cannot be read
    fails the email for good, visibly, rather than sending it without."""
    wanted = (row.payload or {}).get("attachments")
    if not wanted or row.payload is None:
        return row
    try:
        files = [open_attachment(attachment_id, session=session) for attachment_id in wanted]
    except DomainError as exc:
        log.error("outbox %d: a file it carries cannot be read: %s", row.id, exc.detail)
        return replace(row, payload=None, unwritable=f"a file it carries: {exc.detail}"[:300])
    return replace(row, payload={**row.payload, "files": files})


def mark_sent(rows: Sequence[Claimed], *, session: Session, worker: str, now: datetime) -> set[int]:
    """Record that the other side accepted these rows (an attempt each); the ids of those
    settled, which leaves out a row whose lease was lost meanwhile."""
    session.connection().execute(
        _INSERT_ATTEMPT,
        [
            {"outbox_id": row.id, "at": now, "worker": worker, "ok": True, "error": None}
            for row in rows
        ],
    )
    settled = {"row_ids": [row.id for row in rows], "holder": worker, "at": now}
    return set(session.connection().execute(_MARK_SENT, settled).scalars())


# Built once: it runs after every send (events come by the thousand), and a statement built
# anew costs more than running it.
_MARK_SENT = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id.in_(bindparam("row_ids", expanding=True)),
        _OUTBOX.c.leased_by == bindparam("holder"),
    )
    .values(
        attempts=_OUTBOX.c.attempts + 1,
        last_attempt_at=bindparam("at"),
        lease_until=None,
        leased_by=None,
        state=OutboxState.SENT,
        sent_at=bindparam("at"),
        last_error=None,
    )
    .returning(_OUTBOX.c.id)
)


def mark_failed(
    row: Claimed,
    *,
    session: Session,
    worker: str,
    now: datetime,
    error: str,
    permanent: bool,
    horizon: timedelta,
    first_backoff: timedelta = BACKOFF_FIRST,
) -> bool:
    """Record a failed attempt: retried later with backoff, or failed for good.

    True when the row is now failed for good (so that staff can be told).
    """
    _attempt(row, session=session, worker=worker, now=now, error=error)
    gives_up = permanent or now - row.created_at >= horizon
    values: dict[str, Any] = {"last_error": error[:2000]}
    if gives_up:
        values["state"] = OutboxState.FAILED
    else:
        values["available_at"] = now + backoff(row.attempts + 1, first=first_backoff)
    settled = _settle(row, session=session, worker=worker, values=values, now=now)
    if settled and not gives_up and row.subscription_id is not None and row.ticket_id:
        # The event's later ones of its ticket wait for it: they are not due before it is, so
        # that claims never walk past them (claim's window).
        session.connection().execute(
            update(_OUTBOX)
            .where(
                _OUTBOX.c.subscription_id == row.subscription_id,
                _OUTBOX.c.ticket_id == row.ticket_id,
                _OUTBOX.c.id > row.id,
                _OUTBOX.c.state == OutboxState.PENDING,
                _OUTBOX.c.available_at < values["available_at"],
            )
            .values(available_at=values["available_at"])
        )
    return settled and gives_up


def backoff(
    attempt: int, *, first: timedelta = BACKOFF_FIRST, rng: random.Random | None = None
) -> timedelta:
    """The wait before attempt `attempt + 1`: doubling from `first` (30 s) up to 1 h, with
    full jitter in the upper half, so that rows failing together do not retry together."""
    ceiling = min(BACKOFF_MAX, first * 2 ** max(0, attempt - 1))
    return ceiling * (0.5 + 0.5 * (rng or random).random())


def _attempt(
    row: Claimed, *, session: Session, worker: str, now: datetime, error: str | None
) -> None:
    session.connection().execute(
        _INSERT_ATTEMPT,
        {"outbox_id": row.id, "at": now, "worker": worker, "ok": error is None, "error": error},
    )


def _settle(
    row: Claimed, *, session: Session, worker: str, values: dict[str, Any], now: datetime
) -> bool:
    result = session.connection().execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.id == row.id, _OUTBOX.c.leased_by == worker)
        .values(
            attempts=_OUTBOX.c.attempts + 1,
            last_attempt_at=now,
            lease_until=None,
            leased_by=None,
            **values,
        )
    )
    return result.rowcount == 1


def cancel(dedup_prefix: str, *, session: Session, reason: str) -> int:
    """Cancel the pending rows whose dedup key starts with `dedup_prefix`; how many."""
    result = session.connection().execute(
        update(_OUTBOX)
        .where(
            _OUTBOX.c.dedup_key.startswith(dedup_prefix, autoescape=True),
            _OUTBOX.c.state == OutboxState.PENDING,
        )
        .values(state=OutboxState.CANCELLED, last_error=reason)
    )
    return result.rowcount
