"""Receiving one delivery from outside: a ticket, or kept raw in the quarantine (P1).

The webhooks and the mailbox poller read a delivery first (outside any transaction: reading
is the slow part), then hand it here with what reading gave, in the caller's one unit of
work. Storing runs in a savepoint: when it fails for any reason but an outage or a refusal,
the savepoint is undone and the delivery is quarantined in the same transaction instead, so
nothing is lost and nothing is half stored. An outage is raised (nothing was kept: the
provider retries, the mailbox message stays unread); a refusal (a replayed token, R6) too.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from app.enums import QuarantineReason
from app.errors import DomainError, PayloadTooLarge, is_outage
from app.services.intake import emails, quarantine
from app.services.intake.parsing import InboundEmail
from app.services.knobs import Knobs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """A delivery as it came: its source (`mailgun`, ..., `mailbox:<id>`), bytes and type."""

    source: str
    body: bytes
    content_type: str
    token: str | None = None  # Mailgun's single-use token (R6)


@dataclass(frozen=True)
class Received:
    """Where a delivery landed: a ticket, or an item of the quarantine (or both, once a
    retry made a ticket of it); `duplicate` when it had been received before."""

    ticket_id: int | None
    ticket_number: str | None
    duplicate: bool
    quarantine_id: int | None = None
    reason: QuarantineReason | None = None  # why it was quarantined now


def receive(
    delivery: Delivery,
    read: InboundEmail | Exception,
    *,
    session: Session,
    knobs: Knobs,
    now: datetime,
    max_file_bytes: int,
) -> Received:
    """Store what reading `delivery` gave (an email, or the error it raised), once (P1)."""
    if isinstance(read, Exception):
        return _hold(delivery, read, quarantine.reason_of(read), session=session, now=now)
    try:
        with session.begin_nested():
            stored = emails.ingest_email(
                read,
                session=session,
                knobs=knobs,
                now=now,
                max_file_bytes=max_file_bytes,
                replay_token=delivery.token,
            )
    except IntegrityError as exc:
        # The message was stored before (a redelivery), or by a concurrent delivery that
        # committed first (PostgreSQL, another process): it broke the unique index on its
        # Message-ID, the savepoint is undone and the answer is the stored copy (P1: one
        # message, one ticket).
        copy = emails.stored_copy(read, session=session)
        if copy is None:
            log.exception("storing a delivery from %s failed", delivery.source)
            return _hold(delivery, exc, QuarantineReason.INTAKE_ERROR, session=session, now=now)
        if delivery.token is not None:  # undone with the savepoint: used all the same (R6)
            emails.remember_token(read.provider, delivery.token, session=session, now=now)
        return Received(copy.ticket_id, copy.ticket_number, duplicate=True)
    except PayloadTooLarge as exc:  # one file over its limit, the message within its own
        return _hold(delivery, exc, QuarantineReason.FILE_TOO_LARGE, session=session, now=now)
    except DomainError:  # a replayed token: refused, nothing kept
        raise
    except Exception as exc:
        if isinstance(exc, DBAPIError) and is_outage(exc):
            raise  # nothing was kept: the sender retries
        # A bug in intake: the delivery is kept and staff are told, the traceback logged.
        log.exception("storing a delivery from %s failed", delivery.source)
        return _hold(delivery, exc, QuarantineReason.INTAKE_ERROR, session=session, now=now)
    return Received(stored.ticket_id, stored.ticket_number, stored.duplicate)


def _hold(
    delivery: Delivery,
    error: Exception,
    reason: QuarantineReason,
    *,
    session: Session,
    now: datetime,
) -> Received:
    held = quarantine.hold(
        delivery.body,
        session=session,
        source=delivery.source,
        reason=reason,
        detail=f"{type(error).__name__}: {error}",
        content_type=delivery.content_type,
        now=now,
        replay_token=delivery.token,
    )
    return Received(
        held.ticket_id,
        held.ticket_number,
        held.duplicate,
        quarantine_id=held.id,
        reason=None if held.duplicate else reason,
    )
