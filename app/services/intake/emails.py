"""Ingesting email: every message in, exactly once, on the right ticket (R6, R12, R15)."""

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from app.enums import Channel, EventType, Status
from app.errors import Forbidden
from app.models.base import table_of
from app.models.common import one_line
from app.models.message import MAX_SUBJECT, Message, NewMessage, WebhookToken
from app.models.staff import StaffMember
from app.models.ticket import MAX_BODY_CHARS, Ticket
from app.services.directory import terms
from app.services.intake.attachments import check_sizes, store_attachments
from app.services.intake.opening import TicketRequest, open_ticket
from app.services.intake.parsing import InboundEmail, extract_ticket_tag
from app.services.knobs import Knobs
from app.services.notifications import notify
from app.services.tickets import audit
from app.services.tickets.conversation import add_message
from app.services.tickets.lifecycle import reopen
from app.services.tickets.rows import locked_ticket
from app.services.webhooks import events

log = logging.getLogger(__name__)
ACTOR = "inbound-email"


@dataclass(frozen=True)
class IngestResult:
    """Where a message landed, and whether it had been received before."""

    ticket_id: int
    ticket_number: str
    duplicate: bool


def ingest_email(
    email: InboundEmail,
    *,
    session: Session,
    knobs: Knobs,
    now: datetime,
    max_file_bytes: int,
    replay_token: str | None = None,
    received_at: datetime | None = None,
) -> IngestResult:
    """Store an inbound email on its ticket (a new one, or the one it replies to).

    It was received `now`, or at `received_at` when it waited in the quarantine: its
    take-charge clock starts at its arrival (R9).

    A provider redelivers until it hears 2xx, so the same message may arrive twice, even twice
    at once, even with the same signed token. A signed token is accepted for one message only
    (R6: a replay is refused). A message stored before is not looked up first (a new one, the
    common case, would pay for it): it breaks the unique index on its Message-ID or provider
    id, IntegrityError, which the caller meets by answering with the stored copy (P1: one
    message, one ticket): in a savepoint (receiving.receive), or by looking first
    (quarantine.retry).
    """
    check_sizes(email.attachments, max_file_bytes=max_file_bytes)
    if replay_token is not None and not remember_token(
        email.provider, replay_token, session=session, now=now
    ):
        # A retry after a crash between our commit and our answer carries the same token and
        # the same message: the provider must hear that it is stored.
        duplicate = stored_copy(email, session=session)
        if duplicate is None:
            # The signature covers only timestamp and token: a new message under a used token
            # is someone replaying a captured request.
            raise Forbidden("This webhook token was used before: a replayed request is refused.")
        return duplicate
    result = _store(email, session=session, knobs=knobs, now=now, received_at=received_at or now)
    log.info("inbound %s message stored on ticket %s", email.provider, result.ticket_number)
    return result


_TOKENS = table_of(WebhookToken)
_TOKEN_INSERTS = {
    "sqlite": sqlite_insert(_TOKENS).on_conflict_do_nothing().returning(_TOKENS.c.id),
    "postgresql": postgresql_insert(_TOKENS).on_conflict_do_nothing().returning(_TOKENS.c.id),
}


def remember_token(provider: str, token: str, *, session: Session, now: datetime) -> bool:
    """Record a single-use webhook token; False when it was used before.

    The insert does nothing when the token is there already, committed or written by a
    concurrent delivery (PostgreSQL waits for that one's commit first).
    """
    connection = session.connection()
    row = {"provider": provider, "token": token, "seen_at": now}
    return connection.execute(_TOKEN_INSERTS[connection.dialect.name], row).first() is not None


_MESSAGES = table_of(Message)
_TICKETS = table_of(Ticket)
_COPY = select(_TICKETS.c.id, _TICKETS.c.number).join(
    _MESSAGES, _MESSAGES.c.ticket_id == _TICKETS.c.id
)
_COPY_BY_MESSAGE_ID = _COPY.where(_MESSAGES.c.message_id == bindparam("message_id")).limit(1)
_COPY_BY_PROVIDER_ID = _COPY.where(
    _MESSAGES.c.provider == bindparam("provider"),
    _MESSAGES.c.provider_id == bindparam("provider_id"),
).limit(1)


def stored_copy(email: InboundEmail, *, session: Session) -> IngestResult | None:
    """The ticket holding a stored copy of the message: same Message-ID, or, without one, the
    same provider id (or digest of its content, which the adapters put there: P1)."""
    if email.message_id:
        query, params = _COPY_BY_MESSAGE_ID, {"message_id": email.message_id}
    elif email.provider_id:
        query = _COPY_BY_PROVIDER_ID
        params = {"provider": email.provider, "provider_id": email.provider_id}
    else:
        return None
    row = session.connection().execute(query, params).first()
    if row is None:
        return None
    return IngestResult(ticket_id=row.id, ticket_number=row.number, duplicate=True)


def _store(
    email: InboundEmail, *, session: Session, knobs: Knobs, now: datetime, received_at: datetime
) -> IngestResult:
    """The message on the ticket it replies to, or on a new one; its files; its audit."""
    message = message_of(email, received_at=received_at)
    thread = thread_of(email, session=session)
    if thread.joined is not None:
        result = _join(thread.joined, email, message, session=session, knobs=knobs, now=now)
    else:
        # A reply to a closed ticket, or a stranger's reply, starts a new one linked to the old.
        request = TicketRequest(
            message,
            body=email.text_stripped[:MAX_BODY_CHARS],
            attachments=email.attachments,
            parent_ticket_id=thread.linked_id,
        )
        opened = open_ticket(request, session=session, knobs=knobs, actor=ACTOR, now=now)
        if thread.linked_id is not None:
            audit.record(
                thread.linked_id,
                session=session,
                actor=ACTOR,
                kind="follow_up",
                at=now,
                data={"ticket_id": opened.id, "ticket_number": opened.number},
            )
        result = IngestResult(ticket_id=opened.id, ticket_number=opened.number, duplicate=False)
    if email.sender_source is not None:
        # The first From named nobody: say which header (or which staff member) gave the sender.
        audit.record(
            result.ticket_id,
            session=session,
            actor=ACTOR,
            kind="sender_recovered",
            at=now,
            data={"source": email.sender_source, "message_id": email.message_id},
        )
    return result


def message_of(email: InboundEmail, *, received_at: datetime) -> NewMessage:
    """The columns of an inbound email's message."""
    return NewMessage(
        direction="inbound",
        channel=Channel.EMAIL,
        text=email.text,
        received_at=received_at,
        text_stripped=email.text_stripped,
        message_id=email.message_id,
        provider=email.provider,
        provider_id=email.provider_id if not email.message_id else None,
        in_reply_to=tuple(email.in_reply_to),
        references=tuple(email.references),
        to=tuple(email.to),
        html=email.html,
        headers=tuple((name, value) for name, value in email.headers),
        auto_reason=email.auto_reason,
        from_email=email.from_email,
        # One line, whatever a provider decoded (a subject encoded twice, U+2028): P2.
        from_name=one_line(email.from_name)[:200],
        subject=one_line(email.subject)[:MAX_SUBJECT],
        auto_submitted=email.auto_submitted,
    )


def _join(
    ticket: Ticket,
    email: InboundEmail,
    message: NewMessage,
    *,
    session: Session,
    knobs: Knobs,
    now: datetime,
) -> IngestResult:
    """The message added to the ticket it replies to (locked), which it may reopen."""
    assert ticket.id is not None
    # On the ticket's own channel: a reply by email to a web-form ticket stays in its thread.
    message_id = add_message(ticket.id, replace(message, channel=ticket.channel), session=session)
    store_attachments(message_id, email.attachments, session=session)
    event = audit.record(
        ticket.id,
        session=session,
        actor=ACTOR,
        kind="message_received",
        at=now,
        data={"message_id": email.message_id, "auto_submitted": email.auto_submitted},
    )
    owner = None if ticket.assignee_id is None else session.get(StaffMember, ticket.assignee_id)
    if owner is not None and not email.auto_submitted:
        # The customer wrote again on a ticket someone owns: they hear of it (R17's hours).
        notify.tell_assignee(
            ticket,
            owner,
            "customer_wrote",
            session=session,
            mail=knobs.mail,
            at=now,
            cause=event,
            excerpt=message.text_stripped if message.text_stripped is not None else message.text,
        )
    events.publish(
        EventType.TICKET_MESSAGE_RECEIVED,
        session=session,
        at=now,
        cause=f"message:{message_id}",
        ticket_id=ticket.id,
        data=lambda: {
            **events.ticket_data(_ticket_id(ticket), session=session, at=now),
            "message_id": message_id,
        },
    )
    if ticket.status == Status.RESOLVED and not email.auto_submitted:
        # The customer replied: the problem is back. Automatic mail never reopens.
        reopen(ticket, session=session, actor=ACTOR, now=now, reason="the customer replied")
    return IngestResult(ticket_id=ticket.id, ticket_number=ticket.number, duplicate=False)


def _ticket_id(ticket: Ticket) -> int:
    assert ticket.id is not None  # a stored ticket
    return ticket.id


@dataclass(frozen=True)
class Thread:
    """Where a message belongs: the ticket it joins (locked), or the one a new ticket links."""

    joined: Ticket | None = None
    linked_id: int | None = None


_ABOUT = select(_TICKETS.c.id, _TICKETS.c.from_email, _TICKETS.c.customer_id, _TICKETS.c.status)


def thread_of(email: InboundEmail, *, session: Session) -> Thread:
    """The ticket a message replies to: its [#number] tag, or a Message-ID it references.

    Only the ticket's requester or someone of its customer joins it, and not once it is
    closed; anyone else's reply to a Message-ID starts a new ticket linked to it (staff see
    both). A stranger's tag is ignored: nobody joins another customer's ticket by its number.
    """
    connection = session.connection()
    number = extract_ticket_tag(email.subject)
    if number is not None:
        tagged = _survivor(
            connection.execute(_ABOUT.where(_TICKETS.c.number == number)).first(),
            session=session,
        )
        if tagged is not None and _may_write_on(tagged, email.from_email, session=session):
            return _thread(tagged, allowed=True, session=session)
    referenced = [*email.in_reply_to, *email.references]
    if referenced:
        replied = connection.execute(
            _ABOUT.join(_MESSAGES, _MESSAGES.c.ticket_id == _TICKETS.c.id)
            .where(_MESSAGES.c.message_id.in_(referenced))
            .order_by(_MESSAGES.c.id.desc())
        ).first()
        replied = _survivor(replied, session=session)
        if replied is not None:
            # Knowing a Message-ID proves nothing: the same rule as the tag.
            allowed = _may_write_on(replied, email.from_email, session=session)
            return _thread(replied, allowed=allowed, session=session)
    return Thread()


def _survivor(about: Row[Any] | None, *, session: Session) -> Row[Any] | None:
    """The ticket `about` was merged into (followed along a chain), or `about` itself: a reply
    to a merged ticket's email or number joins the survivor."""
    connection = session.connection()
    for _ in range(10):  # merges never loop (a merged ticket cannot be merged into); a guard
        if about is None:
            return None
        into = connection.execute(
            select(_TICKETS.c.merged_into_id).where(_TICKETS.c.id == about.id)
        ).scalar()
        if into is None:
            return about
        about = connection.execute(_ABOUT.where(_TICKETS.c.id == into)).first()
    return about


def _thread(about: Row[Any], *, allowed: bool, session: Session) -> Thread:
    if allowed and about.status != Status.CLOSED:
        ticket = locked_ticket(about.id, session=session)
        if ticket.status != Status.CLOSED:  # still open now that its row is locked
            return Thread(joined=ticket)
    return Thread(linked_id=about.id)


def _may_write_on(about: Row[Any], sender: str, *, session: Session) -> bool:
    """The ticket's requester, or someone of its customer."""
    if sender == about.from_email:
        return True
    customer_id = about.customer_id
    return customer_id is not None and terms.match_customer(sender, session=session) == customer_id
