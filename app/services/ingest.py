"""Ingesting email: every message in, exactly once, on the right ticket (R6, R12, R15)."""

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, exists, insert
from sqlmodel import Session, col, select

from app.db import transaction_info, write_later, write_pending
from app.errors import Forbidden, PayloadTooLarge
from app.models.base import table_of, utcnow
from app.models.message import Attachment, AttachmentBlob, Message, WebhookToken
from app.models.ticket import MAX_BODY_CHARS, Ticket, TicketCreate
from app.services import terms
from app.services.inbound import InboundAttachment, InboundEmail, extract_ticket_tag
from app.services.tickets import SlaKnobs, add_message, open_ticket, record, reopen

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
    """Store an inbound email on its ticket (a new one, or the one it replies to).

    The replay check and the duplicate check are one query. A token is remembered with the
    commit; a concurrent use of the same token, or a concurrent delivery of the same message,
    then breaks a unique index: the caller runs the unit of work again, and the rerun refuses
    the replay or answers with the stored copy.
    """
    check_sizes(email.attachments, max_file_bytes=max_file_bytes)
    replayed, duplicate = _seen_before(email, replay_token, session=session)
    if replayed:
        raise Forbidden("This webhook token was used before: a replayed request is refused.")
    if replay_token is not None:
        token = {"provider": email.provider, "token": replay_token, "seen_at": now}
        write_later(session, _REMEMBER_TOKEN, token)
    if duplicate is not None:
        return duplicate
    result = _store(email, session=session, knobs=knobs, now=now)
    log.info("inbound %s message stored on ticket %s", email.provider, result.ticket_number)
    return result


_TOKENS = table_of(WebhookToken)
_REMEMBER_TOKEN = insert(_TOKENS)


@cache
def _seen_query(*, token: bool, copy_by: str | None) -> Select[Any]:
    """Was the token used before? Which ticket holds a stored copy of the message, if any?"""
    columns: list[Any] = []
    if token:
        used = _TOKENS.c.provider == bindparam("provider"), _TOKENS.c.token == bindparam("token")
        columns.append(exists().where(*used).label("replayed"))
    if copy_by is not None:
        same = (
            [Message.message_id == bindparam("message_id")]
            if copy_by == "message_id"
            else [
                Message.provider == bindparam("provider"),
                Message.provider_id == bindparam("provider_id"),
            ]
        )
        stored = select(Message.ticket_id).where(*same).limit(1).scalar_subquery()
        number = select(Ticket.number).where(col(Ticket.id) == stored).scalar_subquery()
        columns += [stored.label("ticket_id"), number.label("number")]
    return select(*columns)


def _seen_before(
    email: InboundEmail, token: str | None, *, session: Session
) -> tuple[bool, IngestResult | None]:
    """(replayed, the stored copy): a copy is one with the same Message-ID, or, without one,
    the same provider id."""
    copy_by = "message_id" if email.message_id else "provider_id" if email.provider_id else None
    if token is None and copy_by is None:
        return False, None
    queued = _queued_copies(session).get(_copy_key(email)) if copy_by else None
    query = _seen_query(token=token is not None, copy_by=copy_by)
    params = {
        "provider": email.provider,
        "token": token,
        "message_id": email.message_id,
        "provider_id": email.provider_id,
    }
    row = session.connection().execute(query, params).one()
    replayed = bool(token is not None and row.replayed)
    if queued is not None:  # a copy written earlier in this very batch
        return replayed, IngestResult(queued.ticket_id, queued.ticket_number, duplicate=True)
    if copy_by is None or row.ticket_id is None:
        return replayed, None
    if row.number is None:  # stored earlier in this very batch: its number is still queued
        write_pending(session)
        row = session.connection().execute(query, params).one()
    return replayed, IngestResult(ticket_id=row.ticket_id, ticket_number=row.number, duplicate=True)


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
        "from_email": email.from_email,
        "from_name": email.from_name[:200],
        "subject": email.subject[:998],
        "auto_submitted": email.auto_submitted,
    }
    ticket = thread_of(email, session=session)
    if ticket is not None and ticket.status != "closed":
        # (thread_of wrote what this batch queued before looking: the number is there)
        assert ticket.id is not None and ticket.number is not None
        message_id = add_message(
            ticket.id,
            session=session,
            direction="inbound",
            channel=ticket.channel,
            received_at=now,
            **fields,
        )
        record(
            ticket.id,
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
        result = IngestResult(ticket_id=ticket.id, ticket_number=ticket.number, duplicate=False)
    else:
        closed = ticket  # a reply to a closed ticket starts a new one that links the old
        request = TicketCreate.model_construct(
            channel="email",
            from_email=email.from_email,
            from_name=email.from_name[:200],
            subject=email.subject[:998],
            body=email.text_stripped[:MAX_BODY_CHARS],
            received_at=now,
            category=None,
        )
        opened = open_ticket(
            request,
            session=session,
            knobs=knobs,
            actor=ACTOR,
            now=now,
            auto_submitted=email.auto_submitted,
            message_fields=fields,
            parent_ticket_id=None if closed is None else closed.id,
            # Nothing refers to a message without attachments: it is written at the commit,
            # and a second copy within the same batch finds it among the queued ones.
            message_later=not email.attachments,
        )
        message_id = opened.message_id
        if closed is not None:
            record(
                closed.id,
                session=session,
                actor=ACTOR,
                kind="follow_up",
                at=now,
                data={"ticket_id": opened.id, "ticket_number": opened.number},
            )
        result = IngestResult(ticket_id=opened.id, ticket_number=opened.number, duplicate=False)
    if message_id is None:
        _queued_copies(session)[_copy_key(email)] = result
    else:
        store_attachments(message_id, email.attachments, session=session)
    return result


def _queued_copies(session: Session) -> dict[tuple[str, ...], IngestResult]:
    """Messages this transaction will write at its commit, by Message-ID (or provider id)."""
    copies: dict[tuple[str, ...], IngestResult] = transaction_info(session).setdefault(
        "queued_copies", {}
    )
    return copies


def _copy_key(email: InboundEmail) -> tuple[str, ...]:
    if email.message_id:
        return ("message_id", email.message_id)
    return ("provider_id", email.provider, email.provider_id or "")


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
        write_pending(session)  # a message queued earlier in this batch may be the one
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


_BLOBS = table_of(AttachmentBlob)
_BLOB_BY_HASH = select(_BLOBS.c.id).where(_BLOBS.c.sha256 == bindparam("sha256"))
_INSERT_BLOB = insert(_BLOBS).returning(_BLOBS.c.id)
_INSERT_ATTACHMENT = insert(table_of(Attachment))


def store_attachments(
    message_id: int, attachments: tuple[InboundAttachment, ...], *, session: Session
) -> None:
    """The message's files, their content stored once per SHA-256 however many carry it."""
    connection = session.connection()
    for attachment in attachments:
        blob_id = connection.execute(_BLOB_BY_HASH, {"sha256": attachment.sha256}).scalar()
        if blob_id is None:
            blob_id = connection.execute(
                _INSERT_BLOB,
                {
                    "sha256": attachment.sha256,
                    "size": attachment.size,
                    "data": attachment.data,
                    "created_at": utcnow(),
                },
            ).scalar_one()
        connection.execute(
            _INSERT_ATTACHMENT,
            {
                "message_id": message_id,
                "blob_id": blob_id,
                "filename": attachment.filename[:255],
                "content_type": attachment.content_type[:255],
                "size": attachment.size,
                "sha256": attachment.sha256,
            },
        )
