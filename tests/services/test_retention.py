"""Retention with the clock passed in (GDPR art. 5(1)(e)): exactly the bodies and attachments of
tickets closed more than N months ago, quarantined deliveries and sent rows' contents older than
N days go; open, resolved and recently closed tickets, and every ticket row, stay as they were."""

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session, select

from app.enums import OutboxChannel, OutboxState, QuarantineReason, Status
from app.models.message import Attachment, AttachmentBlob, Message
from app.models.outbox import Outbox
from app.models.quarantine import Quarantine
from app.models.ticket import TicketCreate
from app.services import retention
from app.services.intake.attachments import store_attachments
from app.services.intake.opening import TicketRequest, open_ticket
from app.services.intake.parsing.model import InboundAttachment
from tests.services.conftest import KNOBS

OPENED = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 1, 20, 9, 0, tzinfo=UTC)  # a year (12 months) back: 2025-01-20 09:00
POLICY = retention.Retention(closed_ticket_months=12, quarantine_days=30, outbox_days=30, batch=2)
SHARED = InboundAttachment("log.txt", "text/plain", b"a log both tickets carry")


def _ticket(session: Session, sender: str, *files: InboundAttachment) -> int:
    request = TicketRequest.typed(
        TicketCreate(
            channel="email",
            from_email=sender,
            subject="Sito lento",
            body=f"La password di {sender} è hunter2.",
            received_at=OPENED,
        ),
        now=OPENED,
        auto_submitted=False,
    )
    opened = open_ticket(request, session=session, knobs=KNOBS, actor="test", now=OPENED)
    store_attachments(opened.message_id, files, session=session)
    return opened.id


def _move(session: Session, ticket_id: int, status: Status, at: datetime) -> None:
    column = "closed_at" if status == Status.CLOSED else "resolved_at"
    session.connection().execute(
        text(f"UPDATE ticket SET status = :status, {column} = :at WHERE id = :id"),
        {"status": status.value, "at": at, "id": ticket_id},
    )


def arrange(session: Session) -> dict[str, int]:
    """Tickets: closed 13 months before NOW (old), closed 7 months before (recent), resolved
    long ago but never closed, and open since long ago (sharing one file with the old one);
    quarantined deliveries and sent rows on either side of 30 days."""
    unique = InboundAttachment("screenshot.png", "image/png", b"\x89PNG only the old ticket's")
    ids = {
        "old": _ticket(session, "old@rossi.it", SHARED, unique),
        "recent": _ticket(
            session, "recent@rossi.it", InboundAttachment("a.txt", "text/plain", b"a")
        ),
        "resolved": _ticket(session, "resolved@rossi.it"),
        "open": _ticket(session, "open@rossi.it", SHARED),
    }
    _move(session, ids["old"], Status.CLOSED, datetime(2025, 1, 11, tzinfo=UTC))
    _move(session, ids["recent"], Status.CLOSED, datetime(2025, 6, 1, tzinfo=UTC))
    _move(session, ids["resolved"], Status.RESOLVED, datetime(2025, 1, 11, tzinfo=UTC))
    for n, days in enumerate((31, 29)):
        session.add(
            Quarantine(
                source="mime",
                reason=QuarantineReason.NO_SENDER,
                content_type="message/rfc822",
                size=3,
                sha256=hashlib.sha256(b"raw%d" % n).hexdigest(),
                received_at=NOW - timedelta(days=days),
                dedup_key=f"mime:{n}",
                raw=b"raw",
            )
        )
    for n, (state, days) in enumerate(
        [(OutboxState.SENT, 31), (OutboxState.SENT, 29), (OutboxState.FAILED, 31)]
    ):
        at = NOW - timedelta(days=days)
        session.add(
            Outbox(
                kind="customer.receipt",
                channel=OutboxChannel.EMAIL,
                recipient="mario@rossi.it",
                message_id=f"retention.{n}@agency.example",
                dedup_key=f"retention:{n}",
                state=state,
                facts={"name": "Mario Rossi"},
                payload={"text": "Gentile Mario Rossi"},
                created_at=at,
                available_at=at,
                sent_at=at if state == OutboxState.SENT else None,
            )
        )
    session.flush()
    return ids


def _apply(session: Session, policy: retention.Retention, now: datetime) -> dict[str, int]:
    removed = {}
    for name, step in retention.STEPS:
        removed[name] = 0
        while (count := step(session=session, now=now, policy=policy)) > 0:
            removed[name] += count
            assert count <= policy.batch
    return removed


def _messages(session: Session, ticket_id: int) -> list[tuple[Any, ...]]:
    rows = session.exec(select(Message).where(Message.ticket_id == ticket_id)).all()
    return [(m.id, m.text, m.text_stripped, m.html, m.subject, m.from_email) for m in rows]


def _files(session: Session, ticket_id: int) -> list[tuple[Any, ...]]:
    query = (
        select(Attachment.id, Attachment.sha256, AttachmentBlob.data)
        .join(Message, Message.id == Attachment.message_id)  # type: ignore[arg-type]
        .join(AttachmentBlob, AttachmentBlob.id == Attachment.blob_id)  # type: ignore[arg-type]
        .where(Message.ticket_id == ticket_id)
    )
    return [tuple(row) for row in session.exec(query).all()]


def _tickets(session: Session) -> list[tuple[Any, ...]]:
    rows = session.connection().execute(text("SELECT * FROM ticket ORDER BY id"))
    return [tuple(row) for row in rows]


def test_retention_removes_exactly_what_it_should_and_nothing_of_open_tickets(session):
    ids = arrange(session)
    kept = {name: (_messages(session, i), _files(session, i)) for name, i in ids.items()}
    tickets = _tickets(session)

    removed = _apply(session, POLICY, NOW)

    assert removed == {
        # the request and our receipt's copy, and the ticket's own request text
        "message_bodies": len(kept["old"][0]) + 1,
        "attachments": 2,
        "quarantined": 1,
        "outbox_payloads": 1,
    }
    bodies_gone = _messages(session, ids["old"])
    for message in bodies_gone:
        assert message[1:4] == (retention.PLACEHOLDER, retention.PLACEHOLDER, None)
    # Which messages there were, their subjects and senders stay with the ticket.
    assert [(m[0], *m[4:]) for m in bodies_gone] == [(m[0], *m[4:]) for m in kept["old"][0]]
    assert _files(session, ids["old"]) == []
    for name in ("recent", "resolved", "open"):
        assert (_messages(session, ids[name]), _files(session, ids[name])) == kept[name]
    # The file the open ticket shares stays; the old ticket's own one is gone.
    blobs = session.exec(select(AttachmentBlob.data)).all()
    assert SHARED.data in blobs and b"\x89PNG only the old ticket's" not in blobs
    # The old ticket's request text is gone (it names the customer's password); every other
    # column of every ticket, which SLA statements and counts read, is unchanged.
    after = _tickets(session)
    body = list(session.connection().execute(text("SELECT * FROM ticket")).keys()).index("body")
    bodies = {row[0]: row[body] for row in after}
    assert bodies[ids["old"]] == retention.PLACEHOLDER
    for name in ("recent", "resolved", "open"):
        assert bodies[ids[name]] == f"La password di {name}@rossi.it è hunter2."
    assert [row[:body] + row[body + 1 :] for row in after] == [
        row[:body] + row[body + 1 :] for row in tickets
    ]
    assert "hunter2" not in str(_messages(session, ids["old"]))
    received = session.exec(select(Quarantine.received_at)).all()
    assert received == [NOW - timedelta(days=29)]
    rows = {r.dedup_key: r for r in session.exec(select(Outbox)).all()}
    assert rows["retention:0"].payload is None and rows["retention:0"].facts is None
    assert rows["retention:1"].payload and rows["retention:2"].payload  # recent; not sent

    assert _apply(session, POLICY, NOW) == dict.fromkeys(removed, 0)  # nothing twice


def test_off_by_default_nothing_is_removed(session):
    arrange(session)
    assert not retention.Retention().enabled
    far = NOW + timedelta(days=3650)
    assert _apply(session, retention.Retention(), far) == {
        "message_bodies": 0,
        "attachments": 0,
        "quarantined": 0,
        "outbox_payloads": 0,
    }


def test_a_day_is_claimed_by_one_runner_once(session):
    assert retention.claim_day(session=session, now=NOW, runner="a")
    assert not retention.claim_day(session=session, now=NOW + timedelta(hours=14), runner="b")
    assert retention.claim_day(session=session, now=NOW + timedelta(days=1), runner="b")


@given(
    now=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 12, 31), timezones=st.just(UTC)
    ),
    months=st.integers(min_value=1, max_value=240),
)
def test_months_before_is_that_many_calendar_months_earlier(now, months):
    before = retention.months_before(now, months)
    assert (now.year * 12 + now.month) - (before.year * 12 + before.month) == months
    assert before.day == now.day or (
        before.day < now.day and before.month != ((before + timedelta(days=1)).month)
    )
    assert before.time() == now.time()
