"""Staff replies: a person writes to the customer from the desk, in the ticket's thread.

The reply is kept in the conversation as an outbound message with its author and queued in the
outbox like every email (sent once). It goes to the requester; copies only to the customer's
contacts or addresses already on the ticket, unless the author allows others (logged). Taking
in charge or resolving with it sends one email that says both.
"""

import logging
from datetime import datetime

from markdown_it import MarkdownIt
from sqlmodel import Session, col, select

from app.enums import EventType
from app.errors import Unprocessable, field_error
from app.models.customer import Contact
from app.models.message import Message, MessageRead, ReplyIn
from app.models.ticket import ResolveIn, TakeChargeIn, Ticket
from app.services.intake.parsing.content import sanitize_html
from app.services.knobs import Knobs, MailKnobs
from app.services.notifications import reply_mail
from app.services.tickets import audit, lifecycle, rows, transcript
from app.services.tickets.attachments import files_given
from app.services.webhooks import events

log = logging.getLogger(__name__)

# CommonMark and tables; raw HTML in Markdown is shown as text, not passed through.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def reply(
    ticket_id: int,
    data: ReplyIn,
    *,
    session: Session,
    knobs: Knobs,
    author_id: int | None,
    actor: str,
    now: datetime,
    max_file_bytes: int,
) -> MessageRead:
    """Write to the customer (and the copies allowed); optionally take in charge or resolve."""
    files = files_given(data.attachments, max_file_bytes=max_file_bytes)
    html = html_of(data)
    ticket = rows.locked_ticket(ticket_id, session=session)
    rows.check_writable(ticket)
    others = _check_recipients(ticket, data, session=session, mail=knobs.mail)
    ticket = _move_with(
        ticket, data, session=session, knobs=knobs, author_id=author_id, actor=actor, now=now
    )
    event = _on_record(ticket, data, others, len(files), session=session, actor=actor, now=now)
    message_id = reply_mail.send_reply(
        ticket,
        reply_mail.StaffReply(
            text=data.text,
            html=html,
            author_id=author_id,
            author_name=actor,
            cc=tuple(data.cc),
            files=files,
            took_charge=data.take_charge,
            resolved=data.resolve,
        ),
        session=session,
        mail=knobs.mail,
        at=now,
        cause=event,
    )
    _publish_replied(
        ticket_id,
        message_id,
        data,
        session=session,
        author_id=author_id,
        actor=actor,
        at=now,
        cause=event,
    )
    return transcript.read_message(message_id, session=session)


def _on_record(
    ticket: Ticket,
    data: ReplyIn,
    others: list[str],
    files: int,
    *,
    session: Session,
    actor: str,
    now: datetime,
) -> int:
    """The reply in the audit trail (to whom, with what); a copy to an address outside the
    ticket is logged too. The audit event's id: the reply's cause."""
    assert ticket.id is not None
    event = audit.record(
        ticket.id,
        session=session,
        actor=actor,
        kind="replied",
        at=now,
        data={
            "to": ticket.from_email,
            "cc": data.cc,
            "other_recipients": others,
            "files": files,
            "took_charge": data.take_charge,
            "resolved": data.resolve,
        },
    )
    if others:
        # Allowed by its author, and on record: a copy to someone the customer never named.
        log.warning(
            "ticket %s: a reply is copied to %d address(es) outside the ticket, by %s",
            ticket.number,
            len(others),
            actor,
        )
    return event


def html_of(data: ReplyIn) -> str | None:
    """The reply's HTML body, if it has one: its HTML or its Markdown made HTML, sanitised with
    the rules of inbound HTML (no script, style, event handler or javascript: URL)."""
    if data.body_markdown is not None:
        written = _MARKDOWN.render(data.body_markdown)
    elif data.body_html is not None:
        written = data.body_html
    else:
        return None
    return sanitize_html(written) or None


def _publish_replied(
    ticket_id: int,
    message_id: int,
    data: ReplyIn,
    *,
    session: Session,
    author_id: int | None,
    actor: str,
    at: datetime,
    cause: int,
) -> None:
    """Internal tools hear of the reply, in the transaction that queues its email."""
    events.publish(
        EventType.TICKET_REPLIED,
        session=session,
        at=at,
        cause=str(cause),
        ticket_id=ticket_id,
        data=lambda: {
            **events.ticket_data(ticket_id, session=session, at=at),
            "message_id": message_id,
            "author_id": author_id,
            "author_name": actor,
            "took_charge": data.take_charge,
            "resolved": data.resolve,
        },
    )


def _check_recipients(
    ticket: Ticket, data: ReplyIn, *, session: Session, mail: MailKnobs
) -> list[str]:
    """The copies outside the ticket (allowed by `allow_other_recipients`); 422 for a copy to
    one of our own addresses, or outside the ticket without it."""
    if mail.is_ours(ticket.from_email):
        raise Unprocessable(
            "The requester's address is one of our own: a reply would write to ourselves.",
            errors=[field_error("ticket_ref", "our own address")],
        )
    known = _addresses_on(ticket, session=session)
    others = []
    for address in data.cc:
        if mail.is_ours(address):
            raise Unprocessable(
                f"{address} is one of our own addresses.", errors=[field_error("cc", "ours")]
            )
        if address not in known:
            others.append(address)
    if others and not data.allow_other_recipients:
        raise Unprocessable(
            f"{', '.join(others)} is neither a contact of the customer nor on the ticket; "
            "set allow_other_recipients to copy them anyway.",
            errors=[field_error("cc", "not on the ticket")],
        )
    return others


def _addresses_on(ticket: Ticket, *, session: Session) -> set[str]:
    """The customer's contacts, and the addresses already on the ticket: its senders, whom
    they wrote to, whom our replies were copied to."""
    known = {ticket.from_email.lower()}
    if ticket.customer_id is not None:
        contacts = session.exec(
            select(Contact.email).where(Contact.customer_id == ticket.customer_id)
        )
        known.update(email.lower() for email in contacts)
    rows = session.exec(
        select(Message.from_email, Message.to).where(
            Message.ticket_id == ticket.id, col(Message.direction).in_(["inbound", "outbound"])
        )
    )
    for sender, recipients in rows:
        known.add(sender.lower())
        known.update(address.lower() for address in recipients or [])
    return known


def _move_with(
    ticket: Ticket,
    data: ReplyIn,
    *,
    session: Session,
    knobs: Knobs,
    author_id: int | None,
    actor: str,
    now: datetime,
) -> Ticket:
    """Taken in charge or resolved with the reply, which is then the one email that says so."""
    assert ticket.id is not None
    if data.take_charge:
        # Validated with the reply already: again, the estimate would be checked in UTC, and an
        # edge of the years given with its offset (2099-12-31T23:59:59-14:00) refused as 2100.
        taking = TakeChargeIn.model_construct(
            estimated_resolution_at=data.estimated_resolution_at,
            proceed_without_consent=data.proceed_without_consent,
        )
        ticket = lifecycle.take_charge(
            ticket.id,
            taking,
            session=session,
            knobs=knobs,
            actor=actor,
            now=now,
            tell=False,
            owner_id=author_id,
        )
    if data.resolve:
        assert ticket.id is not None
        assert data.resolution is not None and data.delivery_mode is not None
        resolving = ResolveIn(resolution=data.resolution, delivery_mode=data.delivery_mode)
        ticket = lifecycle.resolve(
            ticket.id, resolving, session=session, knobs=knobs, actor=actor, now=now, tell=False
        )
    return ticket
