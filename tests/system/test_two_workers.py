"""Two live workers never send one email twice, whatever the SMTP server's speed (P2).

Two `sportello worker` processes share one PostgreSQL and an SMTP server that accepts
connections and then says nothing for longer than a row's lease (a server hung under load),
then recovers. Leases and timeouts are short (SPORTELLO_WORKER_LEASE_SECONDS,
SPORTELLO_SMTP_TIMEOUT_SECONDS) so that the stall outlasts several leases in a few seconds.
"""

import time
from collections import Counter

import pytest

from app.db import get_engine, unit_of_work
from app.enums import Channel, OutboxState
from app.models.base import utcnow
from app.models.ticket import TicketCreate
from app.services.intake import opening
from app.services.knobs import knobs_from
from tests.conftest import make_settings
from tests.processes import Process, environment, run
from tests.runners.test_worker import SUPPORT, customer, customer_rows
from tests.smtp import StallingFront

RECEIPTS = 60
# The stall outlasts two leases; the timeout leaves a loaded CI machine time for a whole send
# (one cut off after the server took the message is sent again: SMTP cannot say otherwise).
LEASE, SMTP_TIMEOUT, STALL = 3.0, 1.0, 6.5


def _started(worker: Process) -> bool:
    return "outbox worker" in worker.log.read_text() and "started" in worker.log.read_text()


def _queue_receipts(db: str) -> None:
    """60 requests received now (retried for the whole delivery horizon), in one transaction:
    the workers find all their receipts at once."""
    knobs = knobs_from(make_settings(db, support_address=SUPPORT))
    now = utcnow()
    with unit_of_work(get_engine(db)) as session:
        for n in range(RECEIPTS):
            opening.open_ticket(
                opening.TicketRequest.typed(
                    TicketCreate(
                        channel=Channel.EMAIL,
                        from_email=f"c{n}@rossi.it",
                        subject=f"R {n}",
                        body="?",
                    ),
                    now=now,
                ),
                session=session,
                knobs=knobs,
                actor="test",
                now=now,
            )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_and_a_stalling_smtp_server_send_each_email_once(db, session, smtp, tmp_path):
    customer(session)
    session.commit()
    front = StallingFront(smtp).start()
    env = environment(
        database_url=db,
        smtp_url=front.url,
        support_address=SUPPORT,
        worker_poll_seconds="0.1",
        worker_lease_seconds=str(LEASE),
        smtp_timeout_seconds=str(SMTP_TIMEOUT),
        delivery_retry_seconds="1",
    )
    workers: list[Process] = [run(tmp_path / f"worker{n}", "worker", env=env) for n in (1, 2)]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(_started(w) for w in workers):
            time.sleep(0.1)
        front.stall(STALL)
        _queue_receipts(db)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and {r.state for r in customer_rows(db)} != {
            OutboxState.SENT
        }:
            time.sleep(0.2)
        time.sleep(1)  # a row sent twice would arrive now
    finally:
        for worker in workers:
            worker.stop()
        front.stop()

    assert front.stalled_connections > 0  # the workers did meet the stall
    ids = Counter(e.message["Message-ID"] for e in smtp.sink.received)
    assert {i: n for i, n in ids.items() if n > 1} == {}  # none twice
    assert len(ids) == RECEIPTS  # every one, once
    assert {r.state for r in customer_rows(db)} == {OutboxState.SENT}
    logs = "".join(worker.log.read_text() for worker in workers)
    assert "lease lost" not in logs
