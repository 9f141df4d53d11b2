"""A server killed mid-burst loses nothing and stores nothing twice.

A real `sportello serve` on PostgreSQL receives signed Mailgun deliveries from a client that
retries like Mailgun (the same token and signature on every retry; any answer other than 200,
or no answer, is retried). The server is killed with SIGKILL three times during the burst and
started again on the same port. A `sportello worker` of its own (as in docs/deploy.md) sends the
receipts to a loopback SMTP server.
"""

import asyncio
import signal
import time
import uuid
from collections import Counter

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session

from app.db import get_engine
from tests.conftest import MAILGUN_KEY
from tests.processes import Process, environment, run, serve
from tests.routers.test_inbound import mailgun_fields, signed
from tests.runners.test_worker import customer
from tests.smtp import free_port

MESSAGES = 150
KILLS_AT = (25, 60, 100)  # answered deliveries at which the server is killed


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_server_killed_three_times_mid_burst_stores_each_message_once(
    db, session, smtp, tmp_path
):
    customer(session)
    session.commit()
    port = free_port()
    env = environment(
        database_url=db,
        mailgun_signing_key=MAILGUN_KEY,
        smtp_url=smtp.url,
        support_address="assistenza@agency.example",
        worker="false",
        worker_poll_seconds="0.1",
    )
    server_dir = tmp_path / "api"
    worker = run(tmp_path / "worker", "worker", env={**env, "SPORTELLO_WORKER": "true"})
    servers: list[Process] = [serve(server_dir, env, "--port", str(port), "--no-migrate")]
    run_id = uuid.uuid4().hex[:8]
    # Mailgun signs a delivery once and posts the same signed form on every retry.
    deliveries = [
        signed(
            mailgun_fields(
                sender=f"cliente{n}@rossi.it",
                subject=f"Richiesta {n}",
                message_id=f"<{run_id}.{n}@rossi.it>",
            )
        )
        for n in range(MESSAGES)
    ]
    answers: Counter[int] = Counter()
    done: set[int] = set()

    async def deliver(client: httpx.AsyncClient, n: int) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                response = await client.post(
                    f"http://127.0.0.1:{port}/api/v1/inbound/email/mailgun", data=deliveries[n]
                )
                answers[response.status_code] += 1
                if response.status_code == 200:
                    done.add(n)
                    return
            except httpx.TransportError:
                answers[0] += 1  # no answer: the server is down
            await asyncio.sleep(0.1)

    async def killer() -> None:
        deadline = time.monotonic() + 120  # a server that never answers 200 fails the test
        for threshold in KILLS_AT:
            while len(done) < threshold:
                assert time.monotonic() < deadline, f"{len(done)} stored; answers {answers}"
                await asyncio.sleep(0.01)
            servers[-1].popen.send_signal(signal.SIGKILL)
            servers[-1].popen.wait()
            await asyncio.sleep(0.3)  # deliveries fail meanwhile, and are retried
            servers.append(
                await asyncio.to_thread(serve, server_dir, env, "--port", str(port), "--no-migrate")
            )

    async def burst() -> None:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            semaphore = asyncio.Semaphore(16)

            async def one(n: int) -> None:
                async with semaphore:
                    await deliver(client, n)

            await asyncio.gather(killer(), *(one(n) for n in range(MESSAGES)))

    try:
        asyncio.run(burst())
        smtp.sink.wait_for(MESSAGES, timeout=60)
        time.sleep(1.0)  # a second email for any ticket would arrive now
    finally:
        for process in (*servers, worker):
            process.stop()

    assert len(servers) == 1 + len(KILLS_AT)
    assert done == set(range(MESSAGES))  # every delivery was answered 200 in the end
    assert answers[500] == 0 and answers[0] > 0  # no server error; the kills were felt
    with Session(get_engine(db)) as check:
        counts = check.execute(
            text(
                "SELECT count(*) AS tickets,"
                " count(*) FILTER (WHERE number IS NULL) AS unnumbered,"
                " count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM message m"
                "   WHERE m.ticket_id = ticket.id AND m.direction = 'inbound')) AS no_message,"
                " count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM ticket_event e"
                "   WHERE e.ticket_id = ticket.id)) AS no_event"
                " FROM ticket"
            )
        ).one()
        assert tuple(counts) == (MESSAGES, 0, 0, 0)
        stored = check.execute(
            text("SELECT message_id FROM message WHERE direction = 'inbound'")
        ).scalars()
        assert sorted(stored) == sorted(f"{run_id}.{n}@rossi.it" for n in range(MESSAGES))
    receipts = smtp.sink.received
    assert len(receipts) == MESSAGES  # one email per ticket, none twice
    assert len({r.message["Message-ID"] for r in receipts}) == MESSAGES
