"""Concurrent writers all succeed: none is lost to a lock, none waits forever."""

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlmodel import Session, func, select

from app.db import POOL_SIZE, SQLITE_KEPT_OPEN, get_engine
from app.models.ticket import Ticket
from tests.conftest import ADMIN_TOKEN, TLS

SENDERS = 48  # more than the server's worker threads (app.db.WORKER_THREADS)


def test_concurrent_requests_are_all_stored(api, db):
    def send(i: int) -> int:
        with httpx.Client(base_url=api.base_url, timeout=60, verify=TLS) as client:
            return client.post(
                "/api/v1/contact",
                json={
                    "name": f"Cliente {i}",
                    "email": f"c{i}@example.com",
                    "subject": f"Richiesta {i}",
                    "message": "Il sito non risponde.",
                },
            ).status_code

    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        statuses = list(pool.map(send, range(SENDERS * 2)))
    assert statuses == [201] * (SENDERS * 2)
    with Session(get_engine(db)) as session:
        assert session.exec(select(func.count()).select_from(Ticket)).one() == SENDERS * 2


def test_more_concurrent_writers_than_worker_threads_all_finish(api, db):
    """A writer never waits for a thread while holding the database: no deadlock, no loss.

    48 concurrent webhook deliveries, more than the server's worker threads, whose
    endpoints need a worker thread before the commit.
    """
    from tests.routers.test_inbound import mailgun_fields, signed

    def deliver(i: int) -> int:
        with httpx.Client(base_url=api.base_url, timeout=60, verify=TLS) as client:
            fields = signed(mailgun_fields(subject=f"Richiesta {i}"))
            return client.post("/api/v1/inbound/email/mailgun", data=fields).status_code

    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        statuses = list(pool.map(deliver, range(SENDERS * 2)))
    assert statuses == [200] * (SENDERS * 2)
    with Session(get_engine(db)) as session:
        assert session.exec(select(func.count()).select_from(Ticket)).one() == SENDERS * 2


def test_more_concurrent_reads_than_connections_all_finish(api):
    """A read's session keeps its connection until its answer is validated, on a worker thread
    of its own: more such answers at once than the pool holds never leave the threads waiting
    for a connection that no one gives back (a 503 after the pool's timeout)."""
    api.admin.post("/api/v1/customers", json={"name": "Rossi", "email_domains": ["rossi.it"]})
    # more than either database's pool and its overflow (PostgreSQL's pool is the smaller one)
    readers = max(POOL_SIZE, SQLITE_KEPT_OPEN) + 24

    def read(_: int) -> int:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        with httpx.Client(base_url=api.base_url, timeout=60, verify=TLS, headers=headers) as c:
            return c.get("/api/v1/customers").status_code

    with ThreadPoolExecutor(max_workers=readers) as pool:
        statuses = list(pool.map(read, range(readers * 3)))
    assert statuses == [200] * (readers * 3)


def test_concurrent_redeliveries_store_one_ticket(api, db):
    """R6 exactly once: the same message delivered 16 times at once."""
    from tests.routers.test_inbound import mailgun_fields, signed

    api.admin.post("/api/v1/customers", json={"name": "Rossi", "email_domains": ["rossi.it"]})
    fields = mailgun_fields(subject="Il sito non risponde")

    def deliver(_: int) -> dict:
        with httpx.Client(base_url=api.base_url, timeout=60, verify=TLS) as client:
            response = client.post("/api/v1/inbound/email/mailgun", data=signed(fields))
            assert response.status_code == 200, response.text
            return response.json()

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(deliver, range(16)))
    assert len({answer["ticket_id"] for answer in answers}) == 1
    assert sorted(answer["duplicate"] for answer in answers) == [False] + [True] * 15
    with Session(get_engine(db)) as session:
        assert session.exec(select(func.count()).select_from(Ticket)).one() == 1
