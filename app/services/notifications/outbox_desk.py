"""The outbox as staff see it: its rows, newest first, and a failed or held row queued again
(GET /outbox, POST /outbox/{id}/retry, and the console's page). The machinery that queues,
claims and settles rows is app.services.notifications.outbox."""

from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import Session, col

from app.enums import OutboxState
from app.errors import Conflict, NotFound
from app.models.base import table_of
from app.models.outbox import Outbox, OutboxPage, OutboxRead

_OUTBOX = table_of(Outbox)


def list_outbox(
    *, session: Session, state: OutboxState | None, limit: int, cursor: int | None
) -> OutboxPage:
    """Rows newest first, optionally in one state; keyset paginated by id."""
    query = select(Outbox).order_by(col(Outbox.id).desc()).limit(limit + 1)
    if state is not None:
        query = query.where(col(Outbox.state) == state)
    if cursor is not None:
        query = query.where(col(Outbox.id) < cursor)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return OutboxPage(
        items=[OutboxRead.model_validate(row, from_attributes=True) for row in rows],
        next_cursor=rows[-1].id if more and rows else None,
    )


def retry(outbox_id: int, *, session: Session, now: datetime) -> OutboxRead:
    """Queue a failed or held row again, to be sent at once (its Message-ID unchanged)."""
    connection = session.connection()
    row = connection.execute(
        select(_OUTBOX.c.state, _OUTBOX.c.facts, _OUTBOX.c.payload)
        .where(_OUTBOX.c.id == outbox_id)
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"No outbox row with id {outbox_id}.")
    if row.state not in (OutboxState.FAILED, OutboxState.HELD):
        raise Conflict(
            f"Outbox row {outbox_id} is {row.state}; only failed or held rows can be retried.",
            state=row.state,
        )
    written = row.payload or {}
    if row.facts is None and "subject" not in written and "json" not in written:
        raise Conflict(
            f"Outbox row {outbox_id} was queued before delivery existed; it has no email."
        )
    requeued = connection.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.id == outbox_id)
        .values(state=OutboxState.PENDING, available_at=now, lease_until=None, leased_by=None)
        .returning(*_OUTBOX.c)
    ).one()
    return OutboxRead.model_validate(dict(requeued._mapping))
