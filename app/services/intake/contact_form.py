"""The website's CONTACT form (R6): a ticket per submission, spam kept out."""

import math
import secrets
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import delete, text
from sqlmodel import Session, col, select

from app.enums import Channel
from app.errors import TooManyRequests
from app.models.inbound import ContactHit, ContactIn, ContactResult
from app.models.ticket import TicketCreate
from app.services.directory import terms
from app.services.intake.attachments import check_sizes
from app.services.intake.opening import TicketRequest, open_ticket, ticket_number
from app.services.intake.parsing import (
    InboundAttachment,
    UploadedFile,
    clean_content_type,
    sanitize_filename,
)
from app.services.knobs import Knobs

ACTOR = "contact-form"


def count_hit(
    client: str, *, session: Session, now: datetime, limit: int, window_seconds: int
) -> None:
    """Count a submission from `client`, or raise TooManyRequests with the seconds to wait.

    At most `limit` per sliding window, counted in the database so that every API process
    shares one limit. On PostgreSQL a transaction lock per client makes the count exact under
    concurrency; on SQLite writers already take turns.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:client))"), {"client": client})
    since = now - timedelta(seconds=window_seconds)
    session.execute(delete(ContactHit).where(col(ContactHit.at) <= since))
    hits = session.exec(
        select(ContactHit.at).where(ContactHit.client == client).order_by(col(ContactHit.at))
    ).all()
    if len(hits) >= limit:
        retry = max(1, math.ceil((hits[0] - since).total_seconds()))
        raise TooManyRequests(
            f"Too many messages from this address; retry in {retry} seconds.",
            headers={"Retry-After": str(retry)},
        )
    session.add(ContactHit(client=client, at=now))


def _attachment(file: UploadedFile) -> InboundAttachment:
    """A file of the form, its type and name cleaned as an email's (a NUL in the type, say,
    makes it application/octet-stream)."""
    content_type = clean_content_type(file.content_type)
    return InboundAttachment(
        filename=sanitize_filename(file.filename, content_type),
        content_type=content_type,
        data=file.data,
    )


def submit(
    form: ContactIn,
    files: list[UploadedFile],
    *,
    session: Session,
    knobs: Knobs,
    now: datetime,
    max_file_bytes: int,
) -> ContactResult:
    """Record a contact-form request as a ticket; a filled honeypot stores nothing."""
    attachments = tuple(_attachment(f) for f in files if f.field_name == "attachments" and f.data)
    check_sizes(attachments, max_file_bytes=max_file_bytes)
    if form.website:
        # A bot filled the hidden field: answer like a success, keep nothing.
        _, decision = terms.preview(
            received_at=now,
            from_email=form.email,
            subject=form.subject,
            channel="web_form",
            category=None,
            session=session,
            support_hours=knobs.support_hours,
        )
        return ContactResult(
            ticket_number=ticket_number(now, secrets.randbelow(10**6)),
            take_charge_due_at=decision.take_charge_due_at,
        )
    typed = TicketCreate(
        channel=Channel.WEB_FORM,
        from_email=form.email,
        from_name=form.name,
        subject=form.subject,
        body=form.message,
        received_at=now,
    )
    request = replace(TicketRequest.typed(typed, now=now), attachments=attachments)
    ticket = open_ticket(request, session=session, knobs=knobs, actor=ACTOR, now=now)
    return ContactResult(ticket_number=ticket.number, take_charge_due_at=ticket.take_charge_due_at)
