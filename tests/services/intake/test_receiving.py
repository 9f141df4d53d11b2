"""Receiving one delivery (P1): a ticket, or kept raw in the quarantine in the same transaction;
nothing half stored, nothing lost. Real sessions of each database, real MIME."""

from sqlmodel import Session, func, select

from app.enums import QuarantineReason
from app.models.message import Message
from app.models.quarantine import Quarantine
from app.models.ticket import Ticket
from app.services.intake import receiving
from app.services.intake.parsing import from_mime
from app.services.knobs import Knobs
from tests.failing_inserts import failing_inserts
from tests.services.conftest import add_rossi

KNOBS = Knobs(support_hours=None, at_risk_fraction=0.25)
RAW = (
    b"From: Mario <mario@rossi.it>\r\nTo: assistenza@example.com\r\n"
    b"Subject: Sito lento\r\nMessage-ID: <receiving-1@rossi.it>\r\n"
    b"Date: Mon, 23 Nov 2026 16:00:00 +0100\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: text/plain\r\n\r\nIl sito e' lento.\r\n"
    b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n" + b"QUJD" * 64 + b"\r\n--b--\r\n"
)
DELIVERY = receiving.Delivery("mime", RAW, "message/rfc822")
NOW = from_mime(RAW, provider="mime").date


def receive(session: Session, read, *, max_file_bytes: int = 1_000_000) -> receiving.Received:
    assert NOW is not None
    received = receiving.receive(
        DELIVERY, read, session=session, knobs=KNOBS, now=NOW, max_file_bytes=max_file_bytes
    )
    session.commit()
    return received


def counts(session: Session) -> tuple[int, int, int]:
    """Tickets, inbound messages (our receipts aside) and quarantined deliveries."""
    tickets = session.exec(select(func.count()).select_from(Ticket)).one()
    inbound = session.exec(
        select(func.count()).select_from(Message).where(Message.direction == "inbound")
    ).one()
    held = session.exec(select(func.count()).select_from(Quarantine)).one()
    return tickets, inbound, held


def test_a_readable_delivery_becomes_a_ticket_once(session):
    add_rossi(session)
    first = receive(session, from_mime(RAW, provider="mime"))
    again = receive(session, from_mime(RAW, provider="mime"))
    assert first.ticket_number is not None and first.quarantine_id is None
    assert (again.ticket_id, again.duplicate) == (first.ticket_id, True)
    assert counts(session) == (1, 1, 0)


def test_what_reading_raised_is_kept_raw_with_its_reason(session):
    from app.services.intake.parsing import NoSender

    held = receive(session, NoSender("mime: no valid sender address"))
    assert (held.ticket_id, held.reason) == (None, QuarantineReason.NO_SENDER)
    item = session.get(Quarantine, held.quarantine_id)
    assert item is not None and item.raw == RAW
    assert counts(session) == (0, 0, 1)


def test_a_file_over_its_limit_is_quarantined_and_nothing_else_is_stored(session):
    held = receive(session, from_mime(RAW, provider="mime"), max_file_bytes=100)
    assert held.reason == QuarantineReason.FILE_TOO_LARGE
    assert counts(session) == (0, 0, 1)


def test_a_failure_midway_undoes_the_ticket_and_keeps_the_delivery(session, db, caplog):
    """The ticket row is written before the message fails: the savepoint takes it back."""
    with failing_inserts(db, "message", error="refused"):
        try:
            held = receive(session, from_mime(RAW, provider="mime"))
        finally:
            session.rollback()
    assert held.reason == QuarantineReason.INTAKE_ERROR
    assert counts(session) == (0, 0, 1)
    assert any(record.exc_info for record in caplog.records)
