"""Who is told what, and when: customer emails (R11) and staff alerts (R15, R17).

A state change that must tell someone calls one function here, in its own transaction. What
the email says is decided now: its facts (template, language, deadline, estimate, explanation
line, status link, thread headers) go into the outbox with a key unique per ticket, kind and
cause, and a Message-ID derived from that key. The outbox worker writes the email from those
facts once (services.notifications.render), keeps it, and sends it. So the email says what was
true when it was caused, a resend after a crash is byte for byte the same email, and the same
cause never yields two emails.

The loop guard holds back, visibly (state `held` with the reason), what must not go out: an
automatic email to an automatic sender, to one of our own addresses, or beyond the hourly limit
per recipient.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlmodel import Session, col

from app.engine.business_hours import calendar_for
from app.models.base import table_of
from app.models.customer import Customer
from app.models.message import Message, NewMessage
from app.models.outbox import NOT_HELD, LetterFacts, Outbox, OutboxFacts
from app.models.staff import StaffMember
from app.models.ticket import Ticket
from app.services.directory.customers import language_of
from app.services.knobs import MailKnobs
from app.services.notifications import mail_headers, outbox
from app.services.notifications.letters import STAFF_LANGUAGE
from app.services.tickets import status_page
from app.services.tickets.conversation import add_message
from app.services.tickets.snapshot import calendar_of, explain_deadline


@dataclass(frozen=True)
class Addressee:
    """What an email to a ticket's customer needs besides the ticket itself."""

    language: str
    """The customer's language (Italian for an unknown sender)."""
    status_token: str
    """The ticket's status page link."""
    thread: dict[str, str]
    """In-Reply-To and References to the customer's latest message, when it had an id."""


def addressee_of(ticket: Ticket, *, session: Session, at: datetime) -> Addressee:
    """The customer's language, the ticket's status link and thread, as stored now."""
    assert ticket.id is not None
    return Addressee(
        language=language_of(ticket.customer_id, session=session),
        status_token=status_page.link_token(ticket.id, session=session, now=at),
        thread=_thread_headers(ticket.id, session=session),
    )


def thread_headers(message_id: str | None, references: list[str] | None) -> dict[str, str]:
    """In-Reply-To and References answering the message `message_id` (none without one).

    Only valid RFC 5322 msg-ids thread (P2): a customer's Message-ID is outside data, and one
    that is not a msg-id stays in the stored message only.
    """
    replied = mail_headers.msg_id(message_id) if message_id else None
    if replied is None:
        return {}
    earlier = filter(None, map(mail_headers.msg_id, (references or [])[-10:]))
    return {"In-Reply-To": replied, "References": " ".join([*earlier, replied])}


def tell_customer(
    ticket: Ticket,
    kind: str,
    *,
    session: Session,
    mail: MailKnobs,
    at: datetime,
    cause: int | str,
    addressee: Addressee | None = None,
    words: dict[str, str] | None = None,
) -> None:
    """Queue the customer email `kind` about `ticket`, once for this `cause` (R11); `words`
    are facts of this email beyond the ticket's (the number a merged ticket goes on as).

    `cause` tells causes apart (the audit event that made the change): the same cause never
    yields a second email, another one does. `addressee` is read from the database unless the
    caller knows it (intake, which has just written the ticket and its message).
    Our email's copy in the conversation is inserted now, with the facts, because only then is
    it seen at once (its delivery, held ones too, which are written only if retried) and can
    replies thread to it; the worker fills in its words when it writes the email.
    """
    assert ticket.id is not None
    addressee = addressee or addressee_of(ticket, session=session, at=at)
    message_id = f"{ticket.number}.{kind}.{cause}@{mail.domain}"
    written = outbox.enqueue(
        session=session,
        kind=f"customer.{kind}",
        channel="email",
        ticket_id=ticket.id,
        recipient=ticket.from_email,
        message_id=message_id,
        at=at,
        dedup_key=f"ticket:{ticket.id}:customer.{kind}:{cause}",
        facts=_customer_email(ticket, kind, addressee=addressee, mail=mail, at=at, words=words),
        held=_held_reason(ticket, session=session, mail=mail, at=at),
    )
    if not written:
        return  # this cause was told already
    # Its words come when the worker writes the email from its facts (conversation).
    copy = NewMessage(
        direction="outbound",
        channel=ticket.channel,
        text="",
        received_at=at,
        message_id=message_id,
        from_email=mail.support_address,
        from_name=mail.company_name,
        to=(ticket.from_email,),
        auto_submitted=True,
    )
    add_message(ticket.id, copy, session=session)


def tell_assignee(
    ticket: Ticket,
    member: StaffMember,
    kind: str,
    *,
    session: Session,
    mail: MailKnobs,
    at: datetime,
    cause: int | str,
    by: str = "",
    excerpt: str | None = None,
) -> None:
    """Tell a ticket's owner by email: it was given to them (`assigned`), or its customer wrote
    again (`customer_wrote`). Not while the ticket's calendar is closed, unless it is urgent:
    then it waits for the opening (R17). Nothing for an owner without an address."""
    assert ticket.id is not None
    if not member.email or not member.active:
        return
    opening = calendar_for(calendar_of(ticket))
    available_at = at if ticket.urgent or opening.is_open(at) else opening.next_opening(at)
    dedup_key = f"ticket:{ticket.id}:staff.{kind}:{cause}"
    outbox.enqueue(
        session=session,
        kind=f"staff.{kind}",
        channel="email",
        ticket_id=ticket.id,
        recipient=member.email,
        message_id=f"staff.{dedup_key.replace(':', '.')}@{mail.domain}",
        at=at,
        available_at=available_at,
        dedup_key=dedup_key,
        facts=OutboxFacts(
            template=kind,
            language=STAFF_LANGUAGE,
            caused_at=at,
            sender=mail.support_address,
            sender_name=f"Sportello {mail.company_name}",
            to=[member.email],
            headers={"Auto-Submitted": "auto-generated"},
            letter=LetterFacts.of(
                {
                    "number": ticket.number,
                    "subject": ticket.subject,
                    "from_email": ticket.from_email,
                    "assignee": member.name,
                    "by": by,
                    "urgent": ticket.urgent,
                    "due": ticket.take_charge_due_at,
                    "excerpt": (ticket.body if excerpt is None else excerpt)[:500],
                }
            ),
        ),
    )


def alert_staff(
    kind: str,
    *,
    session: Session,
    mail: MailKnobs,
    at: datetime,
    dedup_key: str,
    ticket_id: int | None = None,
    available_at: datetime | None = None,
    **facts: Any,
) -> None:
    """Queue a staff alert by email (SPORTELLO_STAFF_EMAIL) and by the alert webhook, if set.

    Without either, the alert is kept as `held`, so that it is seen in the outbox, not lost.
    """
    message_id = f"staff.{dedup_key.replace(':', '.')}@{mail.domain}"
    letter = LetterFacts.of(facts)

    def queue(channel: str, recipient: str, told: OutboxFacts, held: str | None) -> None:
        outbox.enqueue(
            session=session,
            kind=f"staff.{kind}",
            channel=channel,
            ticket_id=ticket_id,
            recipient=recipient,
            message_id=message_id if channel == "email" else f"webhook.{message_id}",
            at=at,
            available_at=available_at,
            dedup_key=f"{dedup_key}:{channel}",
            facts=told,
            held=held,
        )

    if mail.staff_email or not mail.alert_webhook:
        email = OutboxFacts(
            template=kind,
            language=STAFF_LANGUAGE,
            caused_at=at,
            sender=mail.support_address,
            sender_name=f"Sportello {mail.company_name}",
            to=[mail.staff_email or ""],
            headers={"Auto-Submitted": "auto-generated"},
            letter=letter,
        )
        missing = None if mail.staff_email else "SPORTELLO_STAFF_EMAIL is not set"
        queue("email", mail.staff_email or "", email, missing)
    if mail.alert_webhook:
        # Mobile on-call (reperibilità mobile): a phone app rings for it.
        webhook = OutboxFacts(template=kind, language=STAFF_LANGUAGE, caused_at=at, letter=letter)
        queue("webhook", "alert webhook", webhook, None)


def on_call_alert(ticket: Ticket, *, session: Session, mail: MailKnobs, at: datetime) -> None:
    """R15, R17: an urgent email while the calendar is closed reaches staff at once."""
    assert ticket.id is not None
    customer = session.get(Customer, ticket.customer_id) if ticket.customer_id else None
    alert_staff(
        "on_call_alert",
        session=session,
        mail=mail,
        at=at,
        dedup_key=f"ticket:{ticket.id}:on_call_alert",
        ticket_id=ticket.id,
        number=ticket.number,
        subject=ticket.subject,
        from_email=ticket.from_email,
        customer=customer.name if customer else None,
        received=ticket.received_at,
        due=ticket.take_charge_due_at if ticket.sla_policy == "on_call" else None,
        excerpt=ticket.body[:500],
    )


def _customer_email(
    ticket: Ticket,
    kind: str,
    *,
    addressee: Addressee,
    mail: MailKnobs,
    at: datetime,
    words: dict[str, str] | None = None,
) -> OutboxFacts:
    """The facts of the customer email `kind`: what is true of the ticket now."""
    letter = _customer_facts(
        ticket,
        language=addressee.language,
        mail=mail,
        status_url=f"{mail.public_url}/status/{addressee.status_token}",
        words=words or {},
    )
    return OutboxFacts(
        template=kind,
        language=addressee.language,
        caused_at=at,
        sender=mail.support_address,
        sender_name=mail.company_name,
        to=[ticket.from_email],
        headers={
            "Reply-To": mail.support_address,
            "Auto-Submitted": "auto-replied",  # RFC 3834: no auto-reply to this one
            **addressee.thread,
        },
        letter=letter,
    )


def _customer_facts(
    ticket: Ticket, *, language: str, mail: MailKnobs, status_url: str, words: dict[str, str]
) -> LetterFacts:
    """What is true of the ticket now, with the email's own `words` (one model, not a copy)."""
    calendar = calendar_of(ticket)
    explanation = explain_deadline(ticket)
    facts = {
        "explained": explanation.summary(language) if explanation else None,
        "number": ticket.number,
        "subject": ticket.subject,
        "name": ticket.from_name,
        "coverage": ticket.coverage,
        # R2: the contract lapsed shortly before: support rates until it is renewed.
        "contract_lapsed_on": _iso_day(ticket.contract_lapsed_on),
        # R16: urgent, arrived while closed, and no on-call agreement: best effort.
        "best_effort": ticket.urgent
        and not calendar_for(calendar).is_open(ticket.received_at)
        and ticket.sla_policy != "on_call",
        "resolution": ticket.resolution or "",
        "delivery_mode": ticket.delivery_mode,
        "company": mail.company_name,
        "support_address": mail.support_address,
        "status_url": status_url,
        **words,
    }
    instants = {
        "due": ticket.take_charge_due_at,
        "taken": ticket.taken_in_charge_at,
        "estimate": ticket.estimated_resolution_at,
        "resolved": ticket.resolved_at,
    }
    return LetterFacts(words=facts, instants=instants, weekly=calendar.to_dict()["weekly"])


def _iso_day(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _thread_headers(ticket_id: int, *, session: Session) -> dict[str, str]:
    """In-Reply-To and References to the customer's latest message, when it had an id."""
    latest = session.execute(
        select(col(Message.message_id), col(Message.references))
        .where(
            col(Message.ticket_id) == ticket_id,
            col(Message.direction) == "inbound",
            col(Message.message_id).is_not(None),
        )
        .order_by(col(Message.id).desc())
        .limit(1)
    ).first()
    if latest is None:
        return {}
    return thread_headers(*latest)


def _held_reason(ticket: Ticket, *, session: Session, mail: MailKnobs, at: datetime) -> str | None:
    if ticket.auto_submitted:
        return "the sender is automatic (no automatic answer to automatic mail)"
    if mail.is_ours(ticket.from_email):
        return "the recipient is one of our own addresses"
    if _sent_within_hour(
        ticket.from_email, at=at, limit=mail.per_recipient_per_hour, session=session
    ):
        return f"more than {mail.per_recipient_per_hour} emails to this address within an hour"
    return None


def _sent_within_hour(recipient: str, *, at: datetime, limit: int, session: Session) -> bool:
    """Whether `limit` emails (held ones not counted) went to `recipient` in the hour before.

    Counts at most `limit` rows, through the partial index that leaves held rows out: a
    recipient caught in a loop costs the same as any other.
    """
    params = {"recipient": recipient, "since": at - timedelta(hours=1), "limit": limit}
    counted: int = session.connection().execute(_RECENT, params).scalar_one()
    return counted >= limit


_OUTBOX = table_of(Outbox)
_RECENT = select(func.count()).select_from(
    select(_OUTBOX.c.id)
    .where(
        _OUTBOX.c.recipient == bindparam("recipient"),
        _OUTBOX.c.created_at > bindparam("since"),
        NOT_HELD,
    )
    .limit(bindparam("limit"))
    .subquery()
)
