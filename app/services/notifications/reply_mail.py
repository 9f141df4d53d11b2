"""A staff member's reply to the customer, as an email: written by a person, so not automatic
mail (no Auto-Submitted, no hourly limit), in the ticket's thread, from the support address with
the author's name, with its files; queued once per cause like every email (P2)."""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from app.enums import MessageKind
from app.models.message import NewMessage
from app.models.outbox import LetterFacts, OutboxFacts
from app.models.ticket import Ticket
from app.services.intake.attachments import store_attachments
from app.services.intake.parsing import InboundAttachment
from app.services.knobs import MailKnobs
from app.services.notifications import outbox
from app.services.notifications.notify import Addressee, addressee_of
from app.services.tickets.attachments import attachments_of
from app.services.tickets.conversation import add_message


@dataclass(frozen=True)
class StaffReply:
    """What a staff member's reply says and to whom, besides the ticket itself."""

    text: str
    author_id: int | None
    author_name: str
    html: str | None = None
    """Its HTML body, sanitised (replies.html_of): the email's HTML part says it."""
    cc: tuple[str, ...] = ()
    files: tuple[InboundAttachment, ...] = ()
    took_charge: bool = False
    """Taken in charge with it: the email says so, with the estimate (R11)."""
    resolved: bool = False
    """Resolved with it: the email says so, with the resolution (R14)."""


def send_reply(
    ticket: Ticket,
    reply: StaffReply,
    *,
    session: Session,
    mail: MailKnobs,
    at: datetime,
    cause: int,
) -> int:
    """Queue a staff member's reply to the customer, once for this `cause`; its copy's id.

    A person's reply is not automatic mail: no Auto-Submitted, and the hourly limit for
    automatic mail does not hold it back. It threads on the customer's latest message, comes
    from the support address with the author's name, and carries its files.
    """
    assert ticket.id is not None
    addressee = addressee_of(ticket, session=session, at=at)
    message_id = f"{ticket.number}.reply.{cause}@{mail.domain}"
    sender_name = f"{reply.author_name} - {mail.company_name}"
    copy = NewMessage(
        direction="outbound",
        channel=ticket.channel,
        text=reply.text,
        html=reply.html,
        received_at=at,
        message_id=message_id,
        from_email=mail.support_address,
        from_name=sender_name,
        to=(ticket.from_email, *reply.cc),
        kind=MessageKind.REPLY,
        author_id=reply.author_id,
    )
    copy_id = add_message(ticket.id, copy, session=session)
    store_attachments(copy_id, reply.files, session=session)
    files = [file.id for file in attachments_of([copy_id], session=session).get(copy_id, [])]
    facts = _reply_facts(ticket, reply, addressee, files, mail=mail, at=at)
    outbox.enqueue(
        session=session,
        kind="customer.reply",
        channel="email",
        ticket_id=ticket.id,
        recipient=ticket.from_email,
        message_id=message_id,
        at=at,
        dedup_key=f"ticket:{ticket.id}:customer.reply:{cause}",
        facts=facts,
    )
    return copy_id


def _reply_facts(
    ticket: Ticket,
    reply: StaffReply,
    addressee: Addressee,
    files: list[int],
    *,
    mail: MailKnobs,
    at: datetime,
) -> OutboxFacts:
    """What a reply says and to whom, as the worker will write it."""
    sender_name = f"{reply.author_name} - {mail.company_name}"
    status_url = f"{mail.public_url}/status/{addressee.status_token}"
    return OutboxFacts(
        template="reply",
        language=addressee.language,
        caused_at=at,
        sender=mail.support_address,
        sender_name=sender_name,
        to=[ticket.from_email],
        cc=list(reply.cc),
        attachments=files,
        headers={"Reply-To": mail.support_address, **addressee.thread},
        letter=LetterFacts(
            words={
                "reply": reply.text,
                "reply_html": reply.html,
                "agent": reply.author_name,
                "number": ticket.number,
                "subject": ticket.subject,
                "company": mail.company_name,
                "support_address": mail.support_address,
                "status_url": status_url,
                "resolution": ticket.resolution or "",
                "delivery_mode": ticket.delivery_mode,
            },
            instants={
                "taken": ticket.taken_in_charge_at if reply.took_charge else None,
                "estimate": ticket.estimated_resolution_at if reply.took_charge else None,
                "resolved": ticket.resolved_at if reply.resolved else None,
            },
        ),
    )
