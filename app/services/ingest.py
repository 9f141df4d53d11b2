"""Ingesting email: every message in, exactly once, on the right ticket (R6, R12, R15)."""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, col, select

from app.errors import Forbidden, PayloadTooLarge, ServiceUnavailable
from app.models.message import Attachment, AttachmentBlob, Message, WebhookToken
from app.models.ticket import MAX_BODY_CHARS, Ticket, TicketCreate
from app.services import terms
from app.services.inbound import InboundAttachment, InboundEmail, extract_ticket_tag
from app.services.tickets import SlaKnobs, add_message, create_ticket, record, reopen

log = logging.getLogger(__name__)
ACTOR = "inbound-email"


@dataclass(frozen=True)
class IngestResult:
    """Where a message landed, and whether it had been received before."""

    ticket_id: int
    ticket_number: str
    duplicate: bool


def check_sizes(attachments: tuple[InboundAttachment, ...], *, max_file_bytes: int) -> None:
    """413 before anything is stored when one file is over the limit."""
    for attachment in attachments:
        if attachment.size > max_file_bytes:
            raise PayloadTooLarge(
                f"The attachment {attachment.filename!r} is {attachment.size} bytes; the limit "
                f"is {max_file_bytes} bytes per file. Nothing was stored.",
                limit_bytes=max_file_bytes,
            )


def ingest_email(
    email: InboundEmail,
    *,
    session: Session,
    knobs: SlaKnobs,
    now: datetime,
    max_file_bytes: int,
    replay_token: str | None = None,
) -> IngestResult:
    """Store an inbound email on its ticket (a new one, or the one it replies to)."""
    check_sizes(email.attachments, max_file_bytes=max_file_bytes)
    if (
        replay_token is not None
        and session.exec(
            select(WebhookToken.id).where(
                WebhookToken.provider == email.provider, WebhookToken.token == replay_token
            )
        ).first()
    ):
        raise Forbidden("This webhook token was used before: a replayed request is refused.")
    duplicate = find_duplicate(email, session=session)
    try:
        # A savepoint: a concurrent delivery of the same message makes the unique index on
        # Message-ID fail here, and we answer with the message it stored.
        with session.begin_nested():
            if replay_token is not None:
                session.add(WebhookToken(provider=email.provider, token=replay_token, seen_at=now))
            result = duplicate or _store(email, session=session, knobs=knobs, now=now)
            session.flush()
    except DBAPIError as exc:
        if isinstance(exc, IntegrityError):
            duplicate = find_duplicate(email, session=session)
            if duplicate is not None:
                return duplicate
        # Whatever the database said, nothing was stored: the provider must retry.
        log.error("inbound %s message not stored: %s", email.provider, type(exc).__name__)
        raise ServiceUnavailable(
            "The message could not be stored; nothing was kept. Retry later.",
            headers={"Retry-After": "30"},
        ) from exc
    if not result.duplicate:
        log.info("inbound %s message stored on ticket %s", email.provider, result.ticket_number)
    return result


def find_duplicate(email: InboundEmail, *, session: Session) -> IngestResult | None:
    """The ticket of an already stored copy: same Message-ID, or same provider id without one."""
    query = select(Message.ticket_id)
    if email.message_id:
        query = query.where(Message.message_id == email.message_id)
    elif email.provider_id:
        query = query.where(
            Message.provider == email.provider, Message.provider_id == email.provider_id
        )
    else:
        return None
    ticket_id = session.exec(query).first()
    if ticket_id is None:
        return None
    ticket = session.get(Ticket, ticket_id)
    assert ticket is not None and ticket.number is not None
    return IngestResult(ticket_id=ticket_id, ticket_number=ticket.number, duplicate=True)


def _store(
    email: InboundEmail, *, session: Session, knobs: SlaKnobs, now: datetime
) -> IngestResult:
    fields: dict[str, Any] = {
        "text": email.text,
        "text_stripped": email.text_stripped,
        "message_id": email.message_id,
        "provider": email.provider,
        "provider_id": email.provider_id if not email.message_id else None,
        "in_reply_to": list(email.in_reply_to),
        "references": list(email.references),
        "to": list(email.to),
        "html": email.html,
        "headers": [[name, value] for name, value in email.headers],
        "auto_reason": email.auto_reason,
    }
    ticket = thread_of(email, session=session)
    if ticket is not None and ticket.status != "closed":
        message = add_message(
            ticket,
            session=session,
            direction="inbound",
            received_at=now,
            from_email=email.from_email,
            from_name=email.from_name[:200],
            subject=email.subject[:998],
            auto_submitted=email.auto_submitted,
            **fields,
        )
        record(
            ticket,
            session=session,
            actor=ACTOR,
            kind="message_received",
            at=now,
            data={"message_id": email.message_id, "auto_submitted": email.auto_submitted},
        )
        if ticket.status == "resolved" and not email.auto_submitted:
            reopen(
                ticket, session=session, actor=ACTOR, now=now, reason="the customer replied"
            )  # automatic mail never reopens
    else:
        closed = ticket
        request = TicketCreate.model_construct(
            channel="email",
            from_email=email.from_email,
            from_name=email.from_name[:200],
            subject=email.subject[:998],
            body=email.text_stripped[:MAX_BODY_CHARS],
            received_at=now,
            category=None,
        )
        ticket = create_ticket(
            request,
            session=session,
            knobs=knobs,
            actor=ACTOR,
            now=now,
            auto_submitted=email.auto_submitted,
            message_fields=fields,
        )
        message = session.exec(select(Message).where(Message.ticket_id == ticket.id)).one()
        if closed is not None:
            # A reply to a closed ticket starts a new one that links the old.
            ticket.parent_ticket_id = closed.id
            session.add(ticket)
            record(
                closed,
                session=session,
                actor=ACTOR,
                kind="follow_up",
                at=now,
                data={"ticket_id": ticket.id, "ticket_number": ticket.number},
            )
    store_attachments(message, email.attachments, session=session)
    assert ticket.id is not None and ticket.number is not None
    return IngestResult(ticket_id=ticket.id, ticket_number=ticket.number, duplicate=False)


def thread_of(email: InboundEmail, *, session: Session) -> Ticket | None:
    """The ticket a message replies to: its [#number] tag, or a Message-ID it references."""
    number = extract_ticket_tag(email.subject)
    if number is not None:
        tagged = session.exec(select(Ticket).where(Ticket.number == number)).first()
        if tagged is not None and _may_write_on(tagged, email.from_email, session=session):
            return tagged
        # A stranger's tag is ignored: nobody joins another customer's ticket by its number.
    referenced = [*email.in_reply_to, *email.references]
    if referenced:
        ticket_id = session.exec(
            select(Message.ticket_id)
            .where(col(Message.message_id).in_(referenced))
            .order_by(col(Message.id).desc())
        ).first()
        if ticket_id is not None:
            return session.get(Ticket, ticket_id)
    return None


def _may_write_on(ticket: Ticket, sender: str, *, session: Session) -> bool:
    if sender == ticket.from_email:
        return True
    customer_id = terms.match_customer(sender, session=session)
    return customer_id is not None and customer_id == ticket.customer_id


def store_attachments(
    message: Message, attachments: tuple[InboundAttachment, ...], *, session: Session
) -> None:
    for attachment in attachments:
        blob_id = session.exec(
            select(AttachmentBlob.id).where(AttachmentBlob.sha256 == attachment.sha256)
        ).first()
        if blob_id is None:  # stored once per content, however many messages carry it
            blob = AttachmentBlob(
                sha256=attachment.sha256, size=attachment.size, data=attachment.data
            )
            session.add(blob)
            session.flush()
            blob_id = blob.id
        session.add(
            Attachment(
                message_id=message.id or 0,
                blob_id=blob_id or 0,
                filename=attachment.filename[:255],
                content_type=attachment.content_type[:255],
                size=attachment.size,
                sha256=attachment.sha256,
            )
        )
    session.flush()
