"""Outages, from outside: PostgreSQL refusing connections while deliveries arrive is a 503 with
`Retry-After` (never a 500), nothing half-stored, and the server recovers without a restart;
an SMTP server down for a while gets every email once when it is back."""

import asyncio
import time
import uuid
from collections import Counter

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from app.db import get_engine
from tests.conftest import MAILGUN_KEY, PG_URL
from tests.processes import environment, run, serve
from tests.routers.test_inbound import mailgun_fields, signed
from tests.runners.test_worker import customer
from tests.smtp import SmtpServer

MESSAGES = 60


def _refuse_connections(database: str, *, refuse: bool) -> None:
    """ALLOW_CONNECTIONS on the test database only, and its sessions ended when refusing."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(
            text(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS {str(not refuse).lower()}')
        )
        if refuse:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": database},
            )
    admin.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_refusing_connections_is_a_503_and_the_server_recovers_alone(
    db, session, tmp_path
):
    customer(session)
    session.commit()
    session.close()
    get_engine(db).dispose()  # the test's own connections must not hold the database
    database = make_url(db).database
    assert database is not None
    env = environment(database_url=db, mailgun_signing_key=MAILGUN_KEY, worker="false")
    server = serve(tmp_path, env, "--no-migrate")
    url = server.base_url + "/api/v1/inbound/email/mailgun"
    run_id = uuid.uuid4().hex[:8]
    deliveries = [
        signed(mailgun_fields(subject=f"Richiesta {n}", message_id=f"<{run_id}.{n}@rossi.it>"))
        for n in range(MESSAGES)
    ]
    answers: Counter[int] = Counter()
    retry_after: set[str | None] = set()
    stored: set[int] = set()

    async def deliver(client: httpx.AsyncClient, n: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            response = await client.post(url, data=deliveries[n])
            answers[response.status_code] += 1
            if response.status_code == 200:
                stored.add(n)
                return
            if response.status_code == 503:
                retry_after.add(response.headers.get("retry-after"))
            await asyncio.sleep(0.2)

    async def burst() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            first = [deliver(client, n) for n in range(MESSAGES // 3)]
            await asyncio.gather(*first)  # the database is up: all stored
            _refuse_connections(database, refuse=True)
            during = asyncio.gather(*(deliver(client, n) for n in range(MESSAGES // 3, MESSAGES)))
            await asyncio.sleep(2.0)  # deliveries keep arriving and being refused
            assert len(stored) == MESSAGES // 3
            _refuse_connections(database, refuse=False)
            await during

    try:
        asyncio.run(burst())
        health = httpx.get(server.base_url + "/readyz")
    finally:
        _refuse_connections(database, refuse=False)
        server.stop()

    assert answers[500] == 0 and answers[503] > 0  # the outage was felt, never as a 500
    assert retry_after and None not in retry_after  # every 503 says when to come back
    assert stored == set(range(MESSAGES))  # recovered without a restart
    assert health.status_code == 200
    with Session(get_engine(db)) as check:
        counts = check.execute(
            text(
                "SELECT count(*),"
                " count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM message m"
                "   WHERE m.ticket_id = ticket.id)),"
                " count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM ticket_event e"
                "   WHERE e.ticket_id = ticket.id))"
                " FROM ticket"
            )
        ).one()
    assert tuple(counts) == (MESSAGES, 0, 0)  # one ticket each, none half-stored
    # Issue 27: an outage is one line per refused request, not a traceback each.
    log = server.log.read_text(errors="replace")
    assert log.count("database unavailable on POST /api/v1/inbound/email/mailgun") == answers[503]
    assert log.count("Traceback") <= 2, log


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_smtp_down_for_a_while_then_every_email_is_delivered_once(db, session, tmp_path):
    customer(session)
    session.commit()
    smtp = SmtpServer()  # not started: the SMTP server is down
    env = environment(
        database_url=db,
        mailgun_signing_key=MAILGUN_KEY,
        smtp_url=smtp.url,
        support_address="assistenza@agency.example",
        worker="false",
        worker_poll_seconds="0.1",
        delivery_retry_seconds="0.5",
    )
    server = serve(tmp_path / "api", env, "--no-migrate")
    worker = run(tmp_path / "worker", "worker", env={**env, "SPORTELLO_WORKER": "true"})
    run_id = uuid.uuid4().hex[:8]
    try:
        for n in range(20):
            fields = mailgun_fields(
                sender=f"cliente{n}@rossi.it", message_id=f"<{run_id}.{n}@rossi.it>"
            )
            delivered = httpx.post(
                server.base_url + "/api/v1/inbound/email/mailgun", data=signed(fields)
            )
            assert delivered.status_code == 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the worker tries each, fails, and backs off
            with Session(get_engine(db)) as check:
                tried = check.execute(
                    text("SELECT count(DISTINCT outbox_id) FROM outbox_attempt WHERE NOT ok")
                ).scalar_one()
            if tried == 20:
                break
            time.sleep(0.2)
        assert tried == 20  # every email was tried while the server was down
        smtp.start()
        smtp.sink.wait_for(20, timeout=60)
        time.sleep(1.0)  # anything sent twice would arrive now
    finally:
        for process in (server, worker):
            process.stop()
        smtp.stop()
    ids = [r.message["Message-ID"] for r in smtp.sink.received]
    assert len(ids) == 20 and len(set(ids)) == 20
    assert sorted(r.recipients[0] for r in smtp.sink.received) == sorted(
        f"cliente{n}@rossi.it" for n in range(20)
    )
