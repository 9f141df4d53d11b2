"""Concurrent writers all succeed: none is lost to a lock, none waits forever."""

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlmodel import Session, func, select

from app.db import get_engine
from app.models.ticket import Ticket

SENDERS = 48  # more than the server's 40 worker threads


def test_concurrent_requests_are_all_stored(api, db):
    def send(i: int) -> int:
        with httpx.Client(base_url=api.base_url, timeout=60) as client:
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
