"""A person's or a customer's data as a ZIP (art. 15 and 20 GDPR): `data.json`, valid against
docs/export.schema.json (the models of app/models/privacy.py), and the files of the
conversation under names a person can read (`tickets/2026-000042/attachments/7-schermata.png`).
A person's export also holds their messages on tickets they did not ask, found as erasure finds
them (privacy/people.py).

The ZIP is written to a spooled temporary file before the answer starts, so that an error is
still a problem answer and never a broken download; tickets are read a chunk at a time and each
file's bytes one at a time, so that a customer with ten thousand tickets needs no more memory
than one with ten (bench/export.py).
"""

import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from tempfile import SpooledTemporaryFile
from typing import IO, Any

from pydantic_core import to_jsonable_python
from sqlalchemy import ColumnElement, Table, and_, not_, select
from sqlmodel import Session

from app.enums import MessageKind
from app.models.audit import TicketEvent
from app.models.base import table_of
from app.models.billing import BilledItem, TimeEntry
from app.models.consent import ConsentRecord
from app.models.contract import Contract
from app.models.customer import Contact, CustomerDomain
from app.models.message import Attachment, Message
from app.models.privacy import (
    ExportBilledLine,
    ExportContact,
    ExportContract,
    ExportCustomer,
    ExportDocument,
    ExportEvent,
    ExportFile,
    ExportMessage,
    ExportMessageElsewhere,
    ExportTicket,
    ExportTimeEntry,
)
from app.models.ticket import Ticket
from app.services.directory.customers import get_customer
from app.services.intake.parsing.content import sanitize_filename
from app.services.privacy.people import messages_of
from app.services.tickets.attachments import open_attachment

_T, _M, _A = table_of(Ticket), table_of(Message), table_of(Attachment)
_EVENT, _ENTRY, _BILLED = table_of(TicketEvent), table_of(TimeEntry), table_of(BilledItem)
_CONTACT, _DOMAIN, _CONTRACT = table_of(Contact), table_of(CustomerDomain), table_of(Contract)
_CONSENT = table_of(ConsentRecord)
CHUNK = 50  # tickets read at once: a few hundred kB of rows, whatever the customer
SPOOL_BYTES = 1024 * 1024  # a ZIP larger than this is spooled to disk
_PUBLIC = (MessageKind.INBOUND, MessageKind.REPLY, MessageKind.AUTOMATIC)


@dataclass(frozen=True)
class Scope:
    """Whose data: a customer's (its tickets) or a person's (the tickets they asked, and their
    messages on others)."""

    subject: str  # customer | person
    tickets: ColumnElement[bool]
    customer_id: int | None = None
    email: str | None = None

    def elsewhere(self) -> ColumnElement[bool] | None:
        """The person's messages on tickets outside the scope (none for a customer)."""
        if self.email is None:
            return None
        return and_(messages_of([self.email]), not_(self.tickets))


def customer_scope(customer_id: int, *, session: Session) -> Scope:
    """A customer's data (NotFound for an unknown customer)."""
    get_customer(customer_id, session=session)
    return Scope("customer", _T.c.customer_id == customer_id, customer_id=customer_id)


def person_scope(email: str) -> Scope:
    """A person's data, by their address (any case)."""
    address = email.strip().lower()
    return Scope("person", _T.c.from_email == address, email=address)


def export_zip(
    scope: Scope, *, session: Session, now: datetime, include_internal: bool
) -> IO[bytes]:
    """The ZIP, written to a spooled file and rewound; the caller closes it."""
    out: IO[bytes] = SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (streamed, closed by the caller)
    try:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            with archive.open("data.json", "w", force_zip64=True) as data:
                for piece in _document(scope, session=session, now=now, internal=include_internal):
                    data.write(piece.encode())
            for path, attachment_id in _files(scope, session=session, internal=include_internal):
                archive.writestr(path, open_attachment(attachment_id, session=session).data)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def chunks_of(file: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    """The file's bytes in pieces, then closed (a StreamingResponse's body)."""
    try:
        while piece := file.read(size):
            yield piece
    finally:
        file.close()


def _document(scope: Scope, *, session: Session, now: datetime, internal: bool) -> Iterator[str]:
    """`data.json` in pieces: the head, then one ticket at a time."""
    head = ExportDocument(
        exported_at=now,
        subject=scope.subject,
        include_internal=internal,
        customer=_customer(scope, session=session),
        contacts=_contacts(scope, session=session),
        contracts=_contracts(scope, session=session),
        messages_elsewhere=_elsewhere(scope, session=session, internal=internal),
        tickets=[],
    ).model_dump_json()
    empty = '"tickets":[]}'
    assert head.endswith(empty)  # tickets is the last field: the list is written in its place
    yield head[: -len(empty)] + '"tickets":['
    first = True
    for rows in _ticket_chunks(scope, session=session):
        for ticket in _tickets(rows, session=session, internal=internal):
            yield ("" if first else ",") + ticket.model_dump_json()
            first = False
    yield "]}"


def _ticket_chunks(scope: Scope, *, session: Session) -> Iterator[Sequence[Any]]:
    last = 0
    while True:
        query = select(_T).where(scope.tickets, _T.c.id > last).order_by(_T.c.id).limit(CHUNK)
        rows = session.connection().execute(query).mappings().all()
        if not rows:
            return
        yield rows
        last = rows[-1]["id"]


def _kinds(internal: bool) -> tuple[MessageKind, ...]:
    return (*_PUBLIC, MessageKind.NOTE) if internal else _PUBLIC


def _tickets(rows: Sequence[Any], *, session: Session, internal: bool) -> list[ExportTicket]:
    ids = [row["id"] for row in rows]
    numbers = {row["id"]: row["number"] for row in rows}
    messages = _messages(ids, numbers, session=session, internal=internal)
    events = _by_ticket(_EVENT, ids, session=session)
    entries = _by_ticket(_ENTRY, ids, session=session)
    billed = _by_ticket(_BILLED, ids, session=session)
    consents = _by_ticket(_CONSENT, ids, session=session)
    return [
        ExportTicket.model_validate(
            {
                **row,
                "messages": messages.get(row["id"], []),
                "status_history": [_event(e, internal) for e in events.get(row["id"], [])],
                "time_entries": [
                    ExportTimeEntry.model_validate(e) for e in entries.get(row["id"], [])
                ],
                "billed_lines": [
                    ExportBilledLine.model_validate(b) for b in billed.get(row["id"], [])
                ],
                "consents": consents.get(row["id"], []),
            }
        )
        for row in rows
    ]


def _by_ticket(table: Table, ids: list[int], *, session: Session) -> dict[int, list[Any]]:
    """The rows of `table` on these tickets, by ticket, in the order they were written."""
    query = select(table).where(table.c.ticket_id.in_(ids)).order_by(table.c.id)
    found: dict[int, list[Any]] = {}
    for row in session.connection().execute(query).mappings():
        found.setdefault(row["ticket_id"], []).append(row)
    return found


def _event(row: Any, internal: bool) -> ExportEvent:
    event = ExportEvent.model_validate(row)
    event.data = to_jsonable_python(row["data"]) if internal else None
    return event


_SHOWN = ("id", "ticket_id", "kind", "from_email", "from_name", "to", "subject", "text")
# Messages as exported, oldest first.
_MESSAGES = select(*(_M.c[name] for name in _SHOWN), _M.c.received_at).order_by(
    _M.c.received_at, _M.c.id
)


def _messages(
    ids: list[int], numbers: dict[int, str], *, session: Session, internal: bool
) -> dict[int, list[ExportMessage]]:
    query = _MESSAGES.where(_M.c.ticket_id.in_(ids), _M.c.kind.in_(_kinds(internal)))
    rows = session.connection().execute(query).mappings().all()
    number_of = {row["id"]: numbers[row["ticket_id"]] for row in rows}
    files = _message_files(number_of, session=session)
    found: dict[int, list[ExportMessage]] = {}
    for row in rows:
        message = ExportMessage.model_validate({**row, "attachments": files.get(row["id"], [])})
        found.setdefault(row["ticket_id"], []).append(message)
    return found


def _elsewhere(scope: Scope, *, session: Session, internal: bool) -> list[ExportMessageElsewhere]:
    """A person's messages on tickets they did not ask, selected as erasure selects them."""
    elsewhere = scope.elsewhere()
    if elsewhere is None:
        return []
    query = (
        _MESSAGES.add_columns(_T.c.number.label("ticket_number"))
        .join(_T, _T.c.id == _M.c.ticket_id)
        .where(elsewhere, _M.c.kind.in_(_kinds(internal)))
    )
    rows = session.connection().execute(query).mappings().all()
    files = _message_files({row["id"]: row["ticket_number"] for row in rows}, session=session)
    return [
        ExportMessageElsewhere.model_validate({**row, "attachments": files.get(row["id"], [])})
        for row in rows
    ]


def _message_files(number_of: dict[int, str], *, session: Session) -> dict[int, list[ExportFile]]:
    """The files of these messages (by message id, with their ticket's number), by message."""
    files: dict[int, list[ExportFile]] = {}
    attachments = select(_A).where(_A.c.message_id.in_(list(number_of))).order_by(_A.c.id)
    for file in session.connection().execute(attachments).mappings():
        path = zip_path(number_of[file["message_id"]], file["id"], file["filename"])
        files.setdefault(file["message_id"], []).append(
            ExportFile.model_validate({**file, "path": path})
        )
    return files


def zip_path(ticket_number: str, attachment_id: int, filename: str) -> str:
    """A file's place in the ZIP: never absolute, never `..`, no control characters, whatever
    name the sender gave it."""
    folder = sanitize_filename(ticket_number)
    return f"tickets/{folder}/attachments/{attachment_id}-{sanitize_filename(filename)}"


def _files(scope: Scope, *, session: Session, internal: bool) -> Iterator[tuple[str, int]]:
    """Each file's place in the ZIP and its attachment id, a chunk of tickets at a time, then
    the files of a person's messages elsewhere."""
    for rows in _ticket_chunks(scope, session=session):
        numbers = {row["id"]: row["number"] for row in rows}
        query = (
            select(_A.c.id, _A.c.filename, _M.c.ticket_id)
            .join(_M, _M.c.id == _A.c.message_id)
            .where(_M.c.ticket_id.in_(list(numbers)), _M.c.kind.in_(_kinds(internal)))
            .order_by(_A.c.id)
        )
        for row in session.connection().execute(query).mappings().all():
            yield zip_path(numbers[row["ticket_id"]], row["id"], row["filename"]), row["id"]
    elsewhere = scope.elsewhere()
    if elsewhere is not None:
        query = (
            select(_A.c.id, _A.c.filename, _T.c.number)
            .join(_M, _M.c.id == _A.c.message_id)
            .join(_T, _T.c.id == _M.c.ticket_id)
            .where(elsewhere, _M.c.kind.in_(_kinds(internal)))
            .order_by(_A.c.id)
        )
        for row in session.connection().execute(query).mappings().all():
            yield zip_path(row["number"], row["id"], row["filename"]), row["id"]


def _customer(scope: Scope, *, session: Session) -> ExportCustomer | None:
    if scope.customer_id is None:
        return None
    customer = get_customer(scope.customer_id, session=session)
    domains = session.connection().execute(
        select(_DOMAIN.c.domain)
        .where(_DOMAIN.c.customer_id == scope.customer_id)
        .order_by(_DOMAIN.c.domain)
    )
    return ExportCustomer.model_validate(
        {**customer.model_dump(), "email_domains": list(domains.scalars())}
    )


def _contacts(scope: Scope, *, session: Session) -> list[ExportContact]:
    query = select(_CONTACT).order_by(_CONTACT.c.id)
    if scope.customer_id is not None:
        query = query.where(_CONTACT.c.customer_id == scope.customer_id)
    else:
        query = query.where(_CONTACT.c.email == scope.email)
    rows = session.connection().execute(query).mappings()
    return [ExportContact.model_validate(row) for row in rows]


def _contracts(scope: Scope, *, session: Session) -> list[ExportContract]:
    if scope.customer_id is None:
        return []
    query = (
        select(_CONTRACT)
        .where(_CONTRACT.c.customer_id == scope.customer_id)
        .order_by(_CONTRACT.c.starts_on, _CONTRACT.c.id)
    )
    return [
        ExportContract.model_validate(row) for row in session.connection().execute(query).mappings()
    ]
