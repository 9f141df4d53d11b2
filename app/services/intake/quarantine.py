"""The quarantine (P1: nothing that reached us is lost).

A delivery that authenticates and fits the size limit but cannot become a ticket (no sender
anywhere, not MIME at all, a reader or intake error) is kept here raw, exactly as it came: the
webhook's request body with its media type, or a mailbox's message. The provider hears 200 and
does not retry; staff are told once per run of failures (`tell_staff`), list the items,
download their bytes, and retry one through the normal intake path, once, optionally naming
its sender. A redelivery of the same bytes finds its item instead of adding one.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from app.engine import sla
from app.engine.business_hours import calendar_for
from app.enums import EventType, QuarantineReason, QuarantineState
from app.errors import Forbidden, NotFound, Unprocessable, field_error
from app.models.base import table_of
from app.models.quarantine import Quarantine, QuarantinePage, QuarantineRead
from app.models.ticket import Ticket
from app.services.directory.calendars import get_default_calendar, spec_of
from app.services.intake import emails
from app.services.intake.parsing import InboundEmail, MalformedEmail, NoSender
from app.services.intake.parsing.deliveries import (
    delivery_digest,
    glimpse_subject,
    read_as_text,
    read_delivery,
)
from app.services.knobs import Knobs, MailKnobs
from app.services.notifications import notify
from app.services.tickets import audit
from app.services.webhooks import events

log = logging.getLogger(__name__)
ACTOR = "quarantine"
_QUARANTINE, _TICKETS = table_of(Quarantine), table_of(Ticket)
_SHOWN = [c for c in _QUARANTINE.c if c.name not in {"raw", "dedup_key"}]
_ITEMS = select(*_SHOWN, _TICKETS.c.number.label("ticket_number")).outerjoin(
    _TICKETS, _TICKETS.c.id == _QUARANTINE.c.ticket_id
)
HELD = _QUARANTINE.c.released_at.is_(None)
_HOLDS = {
    "sqlite": sqlite_insert(_QUARANTINE).on_conflict_do_nothing().returning(_QUARANTINE.c.id),
    "postgresql": postgresql_insert(_QUARANTINE)
    .on_conflict_do_nothing()
    .returning(_QUARANTINE.c.id),
}


@dataclass(frozen=True)
class Held:
    """Where a quarantined delivery stands, for the answer to its provider."""

    id: int
    duplicate: bool
    """It had been quarantined before (a redelivery): no second item."""
    ticket_id: int | None = None
    """The ticket a retry made of it, if one did."""
    ticket_number: str | None = None


def reason_of(error: BaseException) -> QuarantineReason:
    """How to file what reading a delivery raised."""
    if isinstance(error, NoSender):
        return QuarantineReason.NO_SENDER
    if isinstance(error, MalformedEmail):
        return QuarantineReason.NOT_AN_EMAIL
    return QuarantineReason.PARSER_ERROR


def hold(
    raw: bytes,
    *,
    session: Session,
    source: str,
    reason: QuarantineReason,
    detail: str,
    content_type: str,
    now: datetime,
    replay_token: str | None = None,
) -> Held:
    """Keep `raw` (the bytes as received) in the quarantine, once per delivery (P1).

    `source` is the webhook's provider (`mailgun`, `sendgrid`, `postmark`, `mime`) or
    `mailbox:<id>`; `content_type` is the media type of `raw` (`message/rfc822` for a raw
    message). A redelivery (the same bytes, or the same form without its signature) answers
    the item kept first. A signed `replay_token` is single-use, as for a ticket (R6).
    """
    fresh = replay_token is None or emails.remember_token(
        source, replay_token, session=session, now=now
    )
    dedup_key = f"{source}:{delivery_digest(source, raw, content_type)}"
    kept = session.connection().execute(_ITEMS.where(_QUARANTINE.c.dedup_key == dedup_key)).first()
    if kept is not None:
        return Held(kept.id, True, kept.ticket_id, kept.ticket_number)
    if not fresh:
        raise Forbidden("This webhook token was used before: a replayed request is refused.")
    subject = glimpse_subject(source, raw, content_type)
    row = {
        "source": source[:64],
        "reason": reason,
        "detail": detail[:1000],
        "content_type": (content_type or "application/octet-stream")[:255],
        "size": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "received_at": now,
        "subject": subject,
        "urgent": sla.is_urgent(subject),  # R12: staff hear of it at once (tell_staff)
        "dedup_key": dedup_key,
        "raw": raw,
    }
    # A concurrent redelivery waits for the other's commit, then inserts nothing (ON CONFLICT
    # DO NOTHING on the dedup key) and answers with the item the other kept.
    connection = session.connection()
    item_id: int | None = connection.execute(_HOLDS[connection.dialect.name], row).scalar()
    if item_id is None:
        kept = connection.execute(_ITEMS.where(_QUARANTINE.c.dedup_key == dedup_key)).one()
        return Held(kept.id, True, kept.ticket_id, kept.ticket_number)
    log.warning("delivery from %s quarantined as item %d: %s", source, item_id, reason)
    events.publish(
        EventType.MESSAGE_QUARANTINED,
        session=session,
        at=now,
        cause=f"quarantine:{item_id}",
        data=lambda: {
            "quarantine_id": item_id,
            "source": source[:64],
            "reason": str(reason),
            "subject": subject,
        },
    )
    return Held(item_id, False)


def _read(row: RowMapping) -> QuarantineRead:
    values = dict(row)
    state = QuarantineState.HELD if values["released_at"] is None else QuarantineState.RELEASED
    return QuarantineRead.model_validate({**values, "state": state})


def list_items(
    *, session: Session, state: QuarantineState | None, limit: int, cursor: int | None
) -> QuarantinePage:
    """Items newest first, optionally in one state; keyset paginated by id."""
    query = _ITEMS.order_by(_QUARANTINE.c.id.desc()).limit(limit + 1)
    if state is not None:
        query = query.where(HELD if state == QuarantineState.HELD else ~HELD)
    if cursor is not None:
        query = query.where(_QUARANTINE.c.id < cursor)
    rows = session.connection().execute(query).mappings().all()
    more = len(rows) > limit
    items = [_read(row) for row in rows[:limit]]
    return QuarantinePage(items=items, next_cursor=items[-1].id if more and items else None)


def get_item(item_id: int, *, session: Session) -> QuarantineRead:
    """One item, or NotFound."""
    query = _ITEMS.where(_QUARANTINE.c.id == item_id)
    row = session.connection().execute(query).mappings().first()
    if row is None:
        raise NotFound(f"No quarantined delivery with id {item_id}.")
    return _read(row)


def raw_of(item_id: int, *, session: Session) -> tuple[bytes, QuarantineRead]:
    """The bytes kept, exactly as received, and the item."""
    item = get_item(item_id, session=session)
    raw: bytes = (
        session.connection()
        .execute(select(_QUARANTINE.c.raw).where(_QUARANTINE.c.id == item_id))
        .scalar_one()
    )
    return raw, item


def delete_item(item_id: int, *, session: Session) -> None:
    """Forget an item and its bytes for good (a ticket made of it stays)."""
    deleted = session.connection().execute(delete(_QUARANTINE).where(_QUARANTINE.c.id == item_id))
    if deleted.rowcount == 0:
        raise NotFound(f"No quarantined delivery with id {item_id}.")
    log.info("quarantined delivery %d deleted", item_id)


def retry(
    item_id: int,
    *,
    session: Session,
    knobs: Knobs,
    now: datetime,
    max_file_bytes: int,
    actor: str,
    from_email: str | None = None,
) -> QuarantineRead:
    """Make a ticket of a held item through the normal intake path, exactly once.

    An item already released answers as it is, with its ticket: a second retry (a double
    click, a client retrying) never makes a second ticket. `from_email` is staff's word for
    the sender; without it, an item that still cannot be read is 422 and stays held.
    """
    row = (
        session.connection()
        .execute(
            select(
                _QUARANTINE.c.source,
                _QUARANTINE.c.raw,
                _QUARANTINE.c.content_type,
                _QUARANTINE.c.received_at,
                _QUARANTINE.c.released_at,
            )
            .where(_QUARANTINE.c.id == item_id)
            .with_for_update()  # two retries at once: the second waits, then sees the first
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"No quarantined delivery with id {item_id}.")
    if row["released_at"] is not None:
        return get_item(item_id, session=session)
    email = _read_again(row, from_email)
    # Stored since (a redelivery that could be read): released onto the ticket that has it.
    result = emails.stored_copy(email, session=session) or emails.ingest_email(
        email,
        session=session,
        knobs=knobs,
        now=now,
        max_file_bytes=max_file_bytes,
        received_at=row["received_at"],  # R9: the clock runs from its arrival
    )
    session.connection().execute(
        update(_QUARANTINE)
        .where(_QUARANTINE.c.id == item_id)
        .values(ticket_id=result.ticket_id, released_at=now, released_by=actor[:200])
    )
    audit.record(
        result.ticket_id,
        session=session,
        actor=actor,
        kind="quarantine_released",
        at=now,
        data={"quarantine_id": item_id, "source": row["source"], "sender_given": bool(from_email)},
    )
    return get_item(item_id, session=session)


def _read_again(row: RowMapping, from_email: str | None) -> InboundEmail:
    source, raw, content_type = row["source"], row["raw"], row["content_type"]
    try:
        return read_delivery(source, raw, content_type, given_sender=from_email)
    except Exception as exc:
        if from_email:  # not even its structure can be read: staff vouch for the sender
            return read_as_text(source, raw, content_type, given_sender=from_email)
        if not isinstance(exc, MalformedEmail):
            log.exception("a quarantined delivery could not be read again")
        raise Unprocessable(
            f"It still cannot be read ({reason_of(exc)}: {str(exc)[:300]}); give its sender "
            "as from_email to make a ticket of it anyway.",
            errors=[field_error("from_email", "needed: the delivery names no readable sender")],
        ) from exc


# --- telling staff ----------------------------------------------------------------------------


def tell_staff(*, session: Session, mail: MailKnobs, now: datetime) -> int:
    """Tell staff, in one digest, of the held items they have not heard of; how many.

    Once per run of failures: while staff have been told of items still held, later items wait
    in the list (and in the metrics) instead of making an email each, unless one looks urgent
    (R12). A run ends when staff have dealt with what they were told of. Told in the default
    calendar's hours (R8), or at once for an urgent one, as the on-call alerts are (R15).
    """
    if session.get_bind().dialect.name == "postgresql":
        # One digest at a time across workers (SQLite writers take turns anyway).
        locked = session.execute(text("SELECT pg_try_advisory_xact_lock(7412)")).scalar_one()
        if not locked:
            return 0
    connection = session.connection()
    untold = connection.execute(
        _ITEMS.where(HELD, _QUARANTINE.c.told_at.is_(None)).order_by(_QUARANTINE.c.id)
    ).all()
    if not untold:
        return 0
    urgent = any(item.urgent for item in untold)
    run_going = connection.execute(
        select(func.count())
        .select_from(_QUARANTINE)
        .where(HELD, _QUARANTINE.c.told_at.is_not(None))
    ).scalar_one()
    if not urgent and (run_going or not _open(now, session=session)):
        return 0
    notify.alert_staff(
        "quarantine_digest",
        session=session,
        mail=mail,
        at=now,
        # The instant too: SQLite may give a deleted item's id to a new one.
        dedup_key=f"quarantine:{untold[0].id}:{untold[-1].id}:{int(now.timestamp())}",
        urgent=urgent,
        items=[
            {
                "id": item.id,
                "source": item.source,
                "reason": item.reason,
                "subject": item.subject,
                "urgent": item.urgent,
                "received": item.received_at,
            }
            for item in untold
        ],
    )
    connection.execute(
        update(_QUARANTINE)
        .where(_QUARANTINE.c.id.in_([item.id for item in untold]))
        .values(told_at=now)
    )
    return len(untold)


def _open(now: datetime, *, session: Session) -> bool:
    return calendar_for(spec_of(get_default_calendar(session=session))).is_open(now)
