"""A row is leased only while its worker sends it, and no send outlasts its lease (P2): one
row claimed at a time, sends cut off after SPORTELLO_SMTP_TIMEOUT_SECONDS, and a row whose
lease has too little left is not sent. Two processes are in tests/system/test_two_workers.py."""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import count

from app.db import get_engine, unit_of_work
from app.enums import OutboxState
from app.services.notifications import outbox
from tests.runners.test_worker import customer, open_email, rome, rows, worker_for
from tests.smtp import SmtpServer, StallingFront

MONDAY = rome("2026-11-23T16:00:00+01:00")
LEASE = timedelta(minutes=5)


def test_a_claim_takes_one_row_under_a_lease_of_its_own(db, session, smtp):
    customer(session)
    session.commit()
    for n in range(2):
        open_email(db, smtp, at=MONDAY, subject=f"R {n}")

    def claim(worker: str, at: datetime) -> outbox.Claimed | None:
        with unit_of_work(get_engine(db)) as work:
            rows = outbox.claim_due(
                session=work, worker=worker, now=at, lease=LEASE, events=None, limit=1
            )
            return rows[0] if rows else None

    a = claim("a", MONDAY)
    b = claim("b", MONDAY)
    assert a is not None and b is not None and a.id != b.id  # one each, never the same
    assert a.lease_until == MONDAY + LEASE
    assert claim("c", MONDAY + LEASE) is None  # both still leased
    again = claim("c", MONDAY + LEASE + timedelta(seconds=1))  # a's worker died: a goes again
    assert again is not None and again.id == a.id


async def test_a_send_the_server_does_not_answer_is_cut_off_and_sent_later_once(
    db, session, smtp: SmtpServer
):
    customer(session)
    session.commit()
    open_email(db, smtp, at=MONDAY)
    front = StallingFront(smtp).start()
    # 2 s: long enough for the send that follows on a machine loaded by two test runs (0.5 s
    # failed there once: the resend was cut off too).
    worker = worker_for(db, front, smtp_timeout_seconds=2, delivery_retry_seconds=1)
    try:
        front.stall(60)  # far longer than the time a send is given
        assert await worker.drain_once(now=lambda: MONDAY) == 1
        (receipt,) = rows(db)
        assert receipt.state == OutboxState.PENDING and receipt.leased_by is None
        assert receipt.last_error == "no answer within 2 s (SPORTELLO_SMTP_TIMEOUT_SECONDS)"

        front.stall(0)  # it answers again: a fresh connection, the email once
        assert await worker.drain_once(now=lambda: MONDAY + timedelta(minutes=5)) == 1
    finally:
        await worker.close()
        front.stop()
    assert [e.message["Message-ID"] for e in smtp.sink.received] == [f"<{receipt.message_id}>"]
    assert rows(db)[0].state == OutboxState.SENT


async def test_a_row_claimed_too_late_to_send_within_its_lease_is_left_unsent(
    db, session, smtp, caplog
):
    """The claim itself took most of the lease (a slow database): a send started now could
    still run when another worker takes the row, so it is not started."""
    customer(session)
    session.commit()
    open_email(db, smtp, at=MONDAY)
    worker = worker_for(db, smtp, worker_batch=1)  # lease 300 s, send at most 30 s
    caplog.set_level(logging.WARNING, logger="sportello.worker")

    assert await worker.drain_once(now=_clock(step=timedelta(seconds=271))) == 1
    assert smtp.sink.received == []
    (receipt,) = rows(db)
    assert (receipt.state, receipt.attempts, receipt.leased_by) == (
        OutboxState.PENDING,
        0,
        worker.name,
    )
    assert f"outbox {receipt.id}: too little of its lease left to send it" in caplog.text

    # Once the lease has run out, it is claimed and sent, once.
    later = MONDAY + timedelta(hours=1)
    assert await worker.drain_once(now=lambda: later) == 1
    assert len(smtp.sink.received) == 1
    assert (rows(db)[0].state, rows(db)[0].attempts) == (OutboxState.SENT, 1)


def _clock(*, step: timedelta) -> Callable[[], datetime]:
    """A clock that moves `step` each time it is read."""
    ticks = count()
    return lambda: MONDAY + step * next(ticks)


async def test_a_round_sends_its_whole_batch_of_emails_beside_idle_event_lanes(
    db, session, smtp: SmtpServer
):
    """SPORTELLO_WORKER_BATCH rows a round: event lanes that find nothing do not hold back the
    lane sending emails."""
    customer(session)
    session.commit()
    for n in range(5):
        open_email(db, smtp, at=MONDAY, subject=f"R {n}")
    worker = worker_for(db, smtp, worker_batch=3, worker_event_lanes=8)
    try:
        assert await worker.drain_once(now=lambda: MONDAY) == 3
        assert await worker.drain_once(now=lambda: MONDAY) == 2
    finally:
        await worker.close()
    assert len(smtp.sink.received) == 5
