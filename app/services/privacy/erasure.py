"""Erasure of a person's or a customer's data (art. 17 GDPR), the invoicing facts kept.

What is erased: the words of every message of their tickets and of every message they sent or
were sent elsewhere, the files (and their stored bytes when no other message carries them),
names, addresses, subjects and resolutions, the details of the tickets' history (and of other
tickets' history naming them, such as a reply copied to them), the notes of time entries and
of consents recorded by staff, the address a consent was given from, their contacts, the
outbox rows about them or carrying their messages (not yet sent: cancelled; sent: their written
email and facts removed), delivery errors naming them, and quarantined mail from them.

What is kept: the tickets as anonymous records (status, times, contract, coverage, billing
reasons, the SLA snapshot), so that the monthly SLA statement (R1, R9) and the billing report
(R2, R4, R13) of past months do not change; billed lines as invoiced (amounts, dates, invoice
reference) and a customer's legal name when it has been invoiced (Italian law keeps invoicing
records ten years); the time entries' minutes; a consent's decision, time, rate text and
version (what the customer agreed to be billed for).

Every statement changes only what is not erased yet, so a second erasure changes nothing, and
a dry run is the same erasure inside a savepoint that is rolled back: its counts are exact.
The `erasure` row records who, when, why and how many rows of each class, never the data.
"""

import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlmodel import Session

from app.enums import OutboxState
from app.logs import mask_addresses
from app.models.audit import TicketEvent
from app.models.base import table_of
from app.models.billing import BilledItem, TimeEntry
from app.models.consent import ConsentRecord
from app.models.customer import Contact, Customer, CustomerDomain
from app.models.message import Attachment, AttachmentBlob, Message
from app.models.outbox import Outbox, OutboxAttempt
from app.models.privacy import Erasure, ErasureRead
from app.models.quarantine import Quarantine
from app.models.status_link import StatusLink
from app.models.ticket import Ticket
from app.services.directory.customers import get_customer
from app.services.privacy.people import messages_of, naming

log = logging.getLogger(__name__)

ERASED = "[erased]"
ERASED_EMAIL = "erased@erased.invalid"  # .invalid: never a deliverable address (RFC 2606)
CHUNK = 500  # ids per statement: within every database's limit of bound parameters
SCAN = 50  # quarantined deliveries or outbox rows read at once while looking for the subject
_NUMBER = re.compile(r"\b[0-9]{4}-[0-9]{6,10}\b")

_T, _M, _A, _BLOB = (
    table_of(Ticket),
    table_of(Message),
    table_of(Attachment),
    table_of(AttachmentBlob),
)
_EVENT, _ENTRY, _BILLED = table_of(TicketEvent), table_of(TimeEntry), table_of(BilledItem)
_LINK, _OUTBOX, _ATTEMPT = table_of(StatusLink), table_of(Outbox), table_of(OutboxAttempt)
_QUARANTINE, _CONTACT = table_of(Quarantine), table_of(Contact)
_CUSTOMER, _DOMAIN, _ERASURE = table_of(Customer), table_of(CustomerDomain), table_of(Erasure)
_CONSENT = table_of(ConsentRecord)


@dataclass(frozen=True)
class Target:
    """Whose data: a person (their address) or a customer (its contacts and tickets)."""

    subject: str  # person | customer
    emails: tuple[str, ...]
    tickets: ColumnElement[bool]
    customer_id: int | None = None


def person(email: str) -> Target:
    """A person, by their address (any case)."""
    address = email.strip().lower()
    return Target("person", (address,), _T.c.from_email == address)


def customer(customer_id: int, *, session: Session) -> Target:
    """A customer: its tickets and the addresses of its contacts (NotFound if unknown)."""
    get_customer(customer_id, session=session)
    emails = session.connection().execute(
        select(func.lower(_CONTACT.c.email)).where(_CONTACT.c.customer_id == customer_id)
    )
    return Target(
        "customer",
        tuple(emails.scalars()),
        _T.c.customer_id == customer_id,
        customer_id=customer_id,
    )


def erase(
    target: Target, *, session: Session, actor: str, reason: str, now: datetime, dry_run: bool
) -> ErasureRead:
    """Erase the target's data, or (dry run) count what would be erased and change nothing."""
    savepoint = session.begin_nested()
    names = _names(target, session=session)
    counts = _erase(target, session=session, now=now)
    total = sum(counts.values())
    if dry_run:
        savepoint.rollback()
        return ErasureRead(dry_run=True, erasure_id=None, counts=counts, total=total)
    savepoint.commit()
    erasure_id = None
    if total:  # a second erasure finds nothing and records nothing
        row = {
            "subject": target.subject,
            "customer_id": target.customer_id,
            "reason": _scrubbed(reason, [*target.emails, *names]),
            "erased_by": actor,
            "erased_at": now,
            "counts": counts,
        }
        result = session.connection().execute(insert(_ERASURE).returning(_ERASURE.c.id), row)
        erasure_id = result.scalar_one()
    # The counts only: the address is never logged (logs.py would mask it anyway).
    log.info("erasure %s of a %s: %s", erasure_id, target.subject, counts)
    return ErasureRead(dry_run=False, erasure_id=erasure_id, counts=counts, total=total)


def _erase(target: Target, *, session: Session, now: datetime) -> dict[str, int]:
    connection = session.connection()
    ticket_ids = list(connection.execute(select(_T.c.id).where(target.tickets)).scalars())
    numbers: set[str] = set()
    counts = dict.fromkeys(
        ["tickets", "messages", "attachments", "blobs", "history", "time_entries", "consents"],
        0,
    )
    for ids in _chunks(ticket_ids):
        numbers.update(connection.execute(select(_T.c.number).where(_T.c.id.in_(ids))).scalars())
        counts["tickets"] += _tickets(ids, session=session)
        counts["history"] += _history(ids, session=session)
        counts["time_entries"] += _time_notes(ids, session=session)
        counts["consents"] += _consents(ids, session=session)
    counts["history"] += _history_naming(target.emails, session=session)
    message_ids = _message_ids(ticket_ids, target.emails, session=session)
    counts["messages"] = _messages(message_ids, session=session)
    counts["attachments"], counts["blobs"] = _files(message_ids, session=session)
    counts["status_links"] = sum(
        _revoke(ids, session=session, now=now) for ids in _chunks(ticket_ids)
    )
    counts.update(_outbox(ticket_ids, message_ids, target.emails, numbers, session=session))
    counts["quarantine"] = _quarantine(target.emails, ticket_ids, session=session)
    counts["contacts"] = _contacts(target, session=session)
    counts["customer"] = _customer(target, session=session)
    return counts


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def _tickets(ids: list[int], *, session: Session) -> int:
    """The tickets become anonymous records: their SLA and billing columns stay as they are."""
    statement = (
        update(_T)
        .where(_T.c.id.in_(ids), _T.c.from_email != ERASED_EMAIL)
        .values(
            subject=ERASED,
            body=ERASED,
            from_email=ERASED_EMAIL,
            from_name="",
            resolution=case((_T.c.resolution.is_(None), None), else_=ERASED),
        )
    )
    return _changed(session, statement)


def _history(ids: list[int], *, session: Session) -> int:
    """The history keeps what happened and when; its details (fields changed, notes) go. The
    SLA alerts' steps stay: they are no one's words, and the alerts' scan reads them (R17)."""
    statement = (
        update(_EVENT)
        .where(_EVENT.c.ticket_id.in_(ids), _EVENT.c.kind != "sla_alert")
        .where(cast(_EVENT.c.data, String) != "{}")
        .values(data={})
    )
    return _changed(session, statement)


def _history_naming(emails: Sequence[str], *, session: Session) -> int:
    """Other tickets' history naming the addresses (a reply copied to them): its details go."""
    if not emails:
        return 0
    statement = (
        update(_EVENT)
        .where(_EVENT.c.kind != "sla_alert", naming(_EVENT.c.data, emails))
        .where(cast(_EVENT.c.data, String) != "{}")
        .values(data={})
    )
    return _changed(session, statement)


def _time_notes(ids: list[int], *, session: Session) -> int:
    statement = (
        update(_ENTRY).where(_ENTRY.c.ticket_id.in_(ids), _ENTRY.c.note != "").values(note="")
    )
    return _changed(session, statement)


def _consents(ids: list[int], *, session: Session) -> int:
    """A consent's proof stays (its decision, time, rate text and version: what was agreed to
    be billed); the address it was given from and staff's note of how are the person's."""
    statement = (
        update(_CONSENT)
        .where(
            _CONSENT.c.ticket_id.in_(ids),
            or_(_CONSENT.c.client_address.is_not(None), _CONSENT.c.note.not_in(["", ERASED])),
        )
        .values(
            client_address=None,
            note=case((_CONSENT.c.note == "", ""), else_=ERASED),
        )
    )
    return _changed(session, statement)


def _message_ids(ticket_ids: list[int], emails: Sequence[str], *, session: Session) -> list[int]:
    """Every message of the tickets, and every message the addresses sent or were sent."""
    connection = session.connection()
    found: set[int] = set()
    for ids in _chunks(ticket_ids):
        found.update(connection.execute(select(_M.c.id).where(_M.c.ticket_id.in_(ids))).scalars())
    if emails:
        found.update(connection.execute(select(_M.c.id).where(messages_of(emails))).scalars())
    return sorted(found)


def _messages(message_ids: list[int], *, session: Session) -> int:
    """Each message's words, names, addresses and headers replaced; its Message-ID and time stay
    (a redelivery is still recognised as a duplicate, and threads still join)."""
    changed = 0
    for ids in _chunks(message_ids):
        statement = (
            update(_M)
            .where(_M.c.id.in_(ids), or_(_M.c.text != ERASED, _M.c.from_email != ""))
            .values(
                text=ERASED,
                text_stripped=ERASED,
                html=None,
                subject=ERASED,
                from_email="",
                from_name="",
                to=[],
                headers=[],
            )
        )
        changed += _changed(session, statement)
    return changed


def _files(message_ids: list[int], *, session: Session) -> tuple[int, int]:
    """The messages' files, and their bytes when no other message carries the same."""
    connection = session.connection()
    attachments = blobs = 0
    for ids in _chunks(message_ids):
        blob_ids = list(
            connection.execute(
                select(_A.c.blob_id).where(_A.c.message_id.in_(ids)).distinct()
            ).scalars()
        )
        attachments += _changed(session, delete(_A).where(_A.c.message_id.in_(ids)))
        orphan = ~exists().where(_A.c.blob_id == _BLOB.c.id)
        for some in _chunks(blob_ids):
            blobs += _changed(session, delete(_BLOB).where(_BLOB.c.id.in_(some), orphan))
    return attachments, blobs


def _revoke(ids: list[int], *, session: Session, now: datetime) -> int:
    statement = (
        update(_LINK)
        .where(_LINK.c.ticket_id.in_(ids), _LINK.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return _changed(session, statement)


def _outbox(
    ticket_ids: list[int],
    message_ids: list[int],
    emails: Sequence[str],
    numbers: set[str],
    *,
    session: Session,
) -> dict[str, int]:
    """Rows about the tickets, the emails of the erased messages (a reply on another ticket
    copied to them: its row shares the Message-ID of its copy in the conversation), rows to
    the addresses, and digests naming them: not yet sent, they are cancelled; every one loses
    its written email, its facts and its errors."""
    connection = session.connection()
    row_ids: set[int] = set()
    for ids in _chunks(ticket_ids):
        row_ids.update(
            connection.execute(select(_OUTBOX.c.id).where(_OUTBOX.c.ticket_id.in_(ids))).scalars()
        )
    for ids in _chunks(message_ids):
        sent_as = select(_M.c.message_id).where(_M.c.id.in_(ids))
        query = select(_OUTBOX.c.id).where(_OUTBOX.c.message_id.in_(sent_as))
        row_ids.update(connection.execute(query).scalars())
    if emails:
        query = select(_OUTBOX.c.id).where(func.lower(_OUTBOX.c.recipient).in_(emails))
        row_ids.update(connection.execute(query).scalars())
    row_ids.update(_digests_naming(emails, numbers, session=session))
    counts = {"outbox_cancelled": 0, "outbox_scrubbed": 0, "delivery_errors": 0}
    for ids in _chunks(sorted(row_ids)):
        counts["outbox_cancelled"] += _changed(
            session,
            update(_OUTBOX)
            .where(
                _OUTBOX.c.id.in_(ids),
                _OUTBOX.c.state.notin_([OutboxState.SENT, OutboxState.CANCELLED]),
            )
            .values(state=OutboxState.CANCELLED, lease_until=None, leased_by=None),
        )
        counts["outbox_scrubbed"] += _scrub_outbox(ids, emails, session=session)
        counts["delivery_errors"] += _changed(
            session,
            update(_ATTEMPT)
            .where(_ATTEMPT.c.outbox_id.in_(ids), _ATTEMPT.c.error.is_not(None))
            .values(error=None),
        )
    return counts


def _scrub_outbox(ids: list[int], emails: Sequence[str], *, session: Session) -> int:
    to_them = func.lower(_OUTBOX.c.recipient).in_(emails) if emails else literal(False)
    statement = (
        update(_OUTBOX)
        .where(
            _OUTBOX.c.id.in_(ids),
            or_(
                _OUTBOX.c.facts.is_not(None),
                _OUTBOX.c.payload.is_not(None),
                _OUTBOX.c.last_error.is_not(None),
                to_them,
            ),
        )
        .values(
            facts=None,
            payload=None,
            last_error=None,
            recipient=case((to_them, ERASED_EMAIL), else_=_OUTBOX.c.recipient),
        )
    )
    return _changed(session, statement)


def _digests_naming(emails: Sequence[str], numbers: set[str], *, session: Session) -> set[int]:
    """Rows about no one ticket (staff digests) whose facts or email name the addresses or the
    tickets, read a few at a time."""
    connection = session.connection()
    found: set[int] = set()
    last = 0
    while True:
        query = (
            select(_OUTBOX.c.id, _OUTBOX.c.facts, _OUTBOX.c.payload)
            .where(_OUTBOX.c.ticket_id.is_(None), _OUTBOX.c.id > last)
            .where(or_(_OUTBOX.c.facts.is_not(None), _OUTBOX.c.payload.is_not(None)))
            .order_by(_OUTBOX.c.id)
            .limit(SCAN)
        )
        rows = connection.execute(query).all()
        if not rows:
            return found
        for row_id, facts, payload in rows:
            words = json.dumps([facts, payload], ensure_ascii=False).lower()
            if any(email in words for email in emails) or numbers & set(_NUMBER.findall(words)):
                found.add(row_id)
        last = rows[-1][0]


def _quarantine(emails: Sequence[str], ticket_ids: list[int], *, session: Session) -> int:
    """Quarantined deliveries retried into the tickets, and those whose bytes hold one of the
    addresses, as written or URL-encoded (`%40` for `@`, any case), deleted."""
    connection = session.connection()
    found: list[int] = []
    for ids in _chunks(ticket_ids):
        query = select(_QUARANTINE.c.id).where(_QUARANTINE.c.ticket_id.in_(ids))
        found += connection.execute(query).scalars()
    needles = [email.encode() for email in emails]
    needles += [email.replace("@", "%40").encode() for email in emails]
    last = 0
    while needles:
        query = (
            select(_QUARANTINE.c.id, _QUARANTINE.c.raw)
            .where(_QUARANTINE.c.id > last)
            .order_by(_QUARANTINE.c.id)
            .limit(SCAN)
        )
        rows = connection.execute(query).all()
        if not rows:
            break
        found += [item for item, raw in rows if any(n in bytes(raw).lower() for n in needles)]
        last = rows[-1][0]
    return sum(
        _changed(session, delete(_QUARANTINE).where(_QUARANTINE.c.id.in_(ids)))
        for ids in _chunks(sorted(set(found)))
    )


def _contacts(target: Target, *, session: Session) -> int:
    if target.customer_id is not None:
        where = _CONTACT.c.customer_id == target.customer_id
    else:
        where = func.lower(_CONTACT.c.email).in_(target.emails)
    return _changed(session, delete(_CONTACT).where(where))


def _customer(target: Target, *, session: Session) -> int:
    """A customer's domains go; its name goes too unless it was invoiced (its legal name on
    the invoices, kept by law)."""
    if target.customer_id is None:
        return 0
    changed = _changed(session, delete(_DOMAIN).where(_DOMAIN.c.customer_id == target.customer_id))
    invoiced = exists().where(
        _BILLED.c.ticket_id == _T.c.id, _T.c.customer_id == target.customer_id
    )
    placeholder = f"{ERASED} {target.customer_id}"
    statement = (
        update(_CUSTOMER)
        .where(_CUSTOMER.c.id == target.customer_id, _CUSTOMER.c.name != placeholder, ~invoiced)
        .values(name=placeholder)
    )
    return changed + _changed(session, statement)


def _names(target: Target, *, session: Session) -> list[str]:
    """The names the target is known by (for the reason's record only)."""
    connection = session.connection()
    names = set(
        connection.execute(
            select(_T.c.from_name).where(target.tickets, _T.c.from_name != "").distinct()
        ).scalars()
    )
    if target.emails:
        contacts = select(_CONTACT.c.name).where(
            func.lower(_CONTACT.c.email).in_(target.emails), _CONTACT.c.name != ""
        )
        names.update(connection.execute(contacts).scalars())
    if target.customer_id is not None:
        customer_name = select(_CUSTOMER.c.name).where(_CUSTOMER.c.id == target.customer_id)
        names.update(connection.execute(customer_name).scalars())
    return sorted(names, key=len, reverse=True)


def _scrubbed(reason: str, known: Sequence[str]) -> str:
    """The reason as recorded: the target's addresses and names replaced, any other address
    masked."""
    for word in known:
        if word:
            reason = re.sub(re.escape(word), ERASED, reason, flags=re.IGNORECASE)
    return mask_addresses(reason)


def _changed(session: Session, statement: Any) -> int:
    count: int = session.connection().execute(statement).rowcount
    return count
