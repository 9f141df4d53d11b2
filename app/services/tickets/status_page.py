"""The customer's status page: one ticket, seen through an unguessable, revocable link.

It shows what the customer's own emails say (number, status, deadline and why, estimate, the
public history), the public conversation (the customer's messages and our replies, with their
files) and nothing internal: no notes, no staff names, no other ticket.
"""

import re
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlmodel import Session, col, select

from app.engine.deadline_strip import deadline_strip
from app.enums import MessageKind, Status
from app.errors import NotFound
from app.models.base import table_of
from app.models.message import Attachment, Message
from app.models.status_link import StatusLink
from app.models.ticket import Ticket
from app.services.directory.customers import language_of
from app.services.notifications.letters import LANGUAGES, when
from app.services.tickets.attachments import StoredFile, attachments_of, open_attachment
from app.services.tickets.snapshot import explain_deadline

STATUS_WORDS = {
    "it": {
        Status.NEW: "ricevuta, in attesa di presa in carico",
        Status.TAKEN_IN_CHARGE: "presa in carico",
        Status.IN_PROGRESS: "in lavorazione",
        Status.WAITING_THIRD_PARTY: "in attesa di un fornitore",
        Status.RESOLVED: "risolta",
        Status.CLOSED: "chiusa",
    },
    "en": {
        Status.NEW: "received, waiting to be taken in charge",
        Status.TAKEN_IN_CHARGE: "taken in charge",
        Status.IN_PROGRESS: "in progress",
        Status.WAITING_THIRD_PARTY: "waiting on a provider",
        Status.RESOLVED: "resolved",
        Status.CLOSED: "closed",
    },
}


def link_token(ticket_id: int, *, session: Session, now: datetime) -> str:
    """The ticket's active status token, made on first use."""
    active = session.exec(
        select(StatusLink.token).where(
            StatusLink.ticket_id == ticket_id, col(StatusLink.revoked_at).is_(None)
        )
    ).first()
    if active is not None:
        return active
    return new_link(ticket_id, session=session, now=now)


# Status links are written with Core only: inserted, then revoked.
_LINKS = table_of(StatusLink)
_INSERT_LINK = insert(_LINKS)
_REVOKE = (
    update(_LINKS)
    .where(_LINKS.c.ticket_id == bindparam("ticket"), _LINKS.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)


_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what secrets.token_urlsafe writes


def new_link(ticket_id: int, *, session: Session, now: datetime) -> str:
    """A new status token for the ticket (for a ticket just opened, which has none yet)."""
    token = secrets.token_urlsafe(24)  # 192 random bits
    row = {"ticket_id": ticket_id, "token": token, "created_at": now, "revoked_at": None}
    session.connection().execute(_INSERT_LINK, row)
    return token


def revoke(ticket_id: int, *, session: Session, now: datetime) -> int:
    """Revoke the ticket's status links; the next email carries a new one. How many."""
    result = session.connection().execute(_REVOKE, {"ticket": ticket_id, "now": now})
    revoked: int = result.rowcount
    return revoked


def _linked_ticket(token: str, *, session: Session) -> Ticket:
    return linked(token, session=session)[0]


def linked(token: str, *, session: Session) -> tuple[Ticket, int]:
    """The ticket behind an active status token, and the link's id; NotFound otherwise (a
    token we could not have made, a NUL in it say, is never looked up)."""
    if not _TOKEN.fullmatch(token):
        raise NotFound("No such status link.")
    row = session.exec(
        select(Ticket, StatusLink.id)
        .join(StatusLink, col(StatusLink.ticket_id) == col(Ticket.id))
        .where(StatusLink.token == token, col(StatusLink.revoked_at).is_(None))
    ).first()
    if row is None or row[1] is None:
        raise NotFound("No such status link.")
    return row[0], row[1]


# The public conversation: what the customer wrote and what staff replied; never notes, never
# our form letters (their facts are on the page already), never automatic mail.
_PUBLIC = (MessageKind.INBOUND, MessageKind.REPLY)


def _public_messages(ticket_id: int, *, session: Session) -> list[Message]:
    return list(
        session.exec(
            select(Message)
            .where(
                Message.ticket_id == ticket_id,
                col(Message.kind).in_(_PUBLIC),
                col(Message.auto_submitted).is_(False),
            )
            .order_by(col(Message.received_at), col(Message.id))
        )
    )


def public_file(token: str, attachment_id: int, *, session: Session) -> StoredFile:
    """A file of the public conversation of the ticket behind `token` (NotFound otherwise)."""
    ticket = _linked_ticket(token, session=session)
    assert ticket.id is not None
    public = {message.id for message in _public_messages(ticket.id, session=session)}
    owner = session.exec(
        select(Attachment.message_id).where(Attachment.id == attachment_id)
    ).first()
    if owner is None or owner not in public:
        raise NotFound("No such file.")
    return open_attachment(attachment_id, session=session)


def page_facts(token: str, *, session: Session, language: str | None) -> dict[str, Any]:
    """What the status page shows for `token`; NotFound for an unknown or revoked one."""
    row = _linked_ticket(token, session=session)
    assert row.id is not None
    if language not in LANGUAGES:
        language = language_of(row.customer_id, session=session)
    explanation = explain_deadline(row)
    history = [
        (key, when(instant, language))
        for key, instant in (
            ("received", row.received_at),
            ("taken_in_charge", row.taken_in_charge_at),
            ("resolved", row.resolved_at),
            ("closed", row.closed_at),
        )
        if instant is not None
    ]
    return {
        "language": language,
        "token": token,
        "other_language": "en" if language == "it" else "it",
        "number": row.number,
        "subject": row.subject,
        "status": STATUS_WORDS[language][row.status],
        "due": when(row.take_charge_due_at, language),
        "taken": row.taken_in_charge_at is not None,
        "explained": explanation.summary(language) if explanation else None,
        "strip": deadline_strip(explanation, language) if explanation else None,
        "estimate": when(row.estimated_resolution_at, language),
        "history": history,
        "conversation": _conversation(row.id, session=session, language=language),
    }


def _conversation(ticket_id: int, *, session: Session, language: str) -> list[dict[str, Any]]:
    """The public conversation, oldest first: who (the customer or us, never a staff name),
    when, the words, and the files (served through the status link)."""
    messages = _public_messages(ticket_id, session=session)
    files = attachments_of((m.id for m in messages if m.id is not None), session=session)
    return [
        {
            "ours": message.kind == MessageKind.REPLY,
            "at": when(message.received_at, language),
            "lines": (message.text_stripped or message.text).strip().split("\n"),
            "files": files.get(message.id or 0, []),
        }
        for message in messages
    ]
