"""Benchmark event delivery: webhook events drained by workers into a loopback receiver.

Usage: .venv/bin/python bench/webhooks.py [--events N] [--tickets T] [--workers W] [--pg-url URL]

In one run, on this machine:
  bare    one httpx client posting the N event bodies one after the other, signed the same
          way (Standard Webhooks headers), to the receiver: the ceiling of sending alone (no
          database, no bookkeeping, no order between a ticket's events);
  outbox  the same N events, published as their causes publish them (services.webhooks.events,
          T tickets with N/T events each) into a fresh PostgreSQL database, drained by W
          `sportello worker` processes: each lane claims up to ten events under a lease (the
          first pending one of each ticket), signs and posts them one by one, and waits for
          each to be recorded as sent (the lanes' records written together) before the next.
          Timed from the first event's arrival to the last's (the workers' start-up, Python
          importing the app, is printed apart).
The receiver is uvicorn on 127.0.0.1 in a process of its own; it verifies every request with
the standardwebhooks library and counts webhook-ids.

Targets: outbox >= 0.5x the bare rate, 0 lost, every row `sent`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import queue as queue_module
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import free_port, fresh_database, outbox_states, run_workers  # noqa: E402  (bench/ is on sys.path)

from app import migrations, sealing  # noqa: E402
from app.db import get_engine, unit_of_work  # noqa: E402
from app.enums import Channel, EventType  # noqa: E402
from app.models.ticket import TicketCreate  # noqa: E402
from app.models.webhook import WebhookCreate  # noqa: E402
from app.services.intake import opening  # noqa: E402
from app.services.knobs import Knobs  # noqa: E402
from app.services.notifications.transports import body_of, signed_headers  # noqa: E402
from app.services.webhooks import events, subscriptions  # noqa: E402

TARGET = 0.5


class Receiver:
    """uvicorn in a process of its own, verifying each request and reporting its webhook-id."""

    def __init__(self, port: int, secret: str) -> None:
        self.port, self.url = port, f"http://127.0.0.1:{port}/events"
        self.ids: Counter[str] = Counter()
        self.refused = 0
        self._queue: multiprocessing.Queue[str] = multiprocessing.Queue()
        self._process = multiprocessing.Process(
            target=_serve, args=(port, secret, self._queue), daemon=True
        )

    def start(self) -> None:
        self._process.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise SystemExit("the receiver did not start")

    def stop(self) -> None:
        self._process.terminate()
        self._process.join(10)

    def count(self) -> int:
        while True:
            try:
                got = self._queue.get_nowait()
            except queue_module.Empty:
                return sum(self.ids.values())
            if got == "refused":
                self.refused += 1
            else:
                self.ids[got] += 1

    def take(self) -> Counter[str]:
        """What was counted so far; counting starts again from zero."""
        self.count()
        taken, self.ids = self.ids, Counter()
        return taken


def _serve(port: int, secret: str, queue: multiprocessing.Queue[str]) -> None:
    import uvicorn
    from standardwebhooks import Webhook, WebhookVerificationError

    webhook = Webhook(secret)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        status = 204
        if scope["method"] == "POST":
            try:
                webhook.verify(body, headers, json_parse=False)
                queue.put(headers["webhook-id"])
            except WebhookVerificationError:
                queue.put("refused")
                status = 400
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def publish(url: str, *, count: int, tickets: int, receiver_url: str) -> tuple[str, list[Any]]:
    """A subscription, T tickets and N events published as their causes would; the secret and
    the events as queued."""
    engine = get_engine(url)
    now = datetime.now(UTC)
    knobs = Knobs(support_hours=None, at_risk_fraction=0.25)
    with unit_of_work(engine) as session:
        ids = [
            opening.open_ticket(
                opening.TicketRequest.typed(
                    TicketCreate(
                        channel=Channel.EMAIL,
                        from_email=f"c{n}@rossi.it",
                        subject=f"Richiesta {n}",
                        body="Il sito non risponde.",
                    ),
                    now=now,
                    receipt=False,
                ),
                session=session,
                knobs=knobs,
                actor="bench",
                now=now,
            ).id
            for n in range(tickets)
        ]
    with unit_of_work(engine) as session:
        secret = subscriptions.create(
            WebhookCreate(url=receiver_url, events=list(EventType)), session=session, now=now
        ).secret
    with unit_of_work(engine) as session:
        for n in range(count):
            ticket = ids[n % tickets]
            events.publish(
                EventType.TICKET_MESSAGE_RECEIVED,
                session=session,
                at=now,
                cause=f"bench:{n}",
                ticket_id=ticket,
                data=lambda ticket=ticket, n=n: {
                    **events.ticket_data(ticket, session=session, at=now),
                    "message_id": n + 1,
                },
            )
    with engine.connect() as connection:
        # What autovacuum does within a minute of 10,000 new rows: plans from real statistics.
        connection.execute(text("ANALYZE outbox"))
        queued = connection.execute(
            text("SELECT facts FROM outbox WHERE channel = 'event' ORDER BY id")
        ).scalars()
        bodies = list(queued)
    engine.dispose()
    return secret, bodies


async def bare(url: str, secret: str, bodies: list[Any]) -> float:
    async with httpx.AsyncClient(timeout=30) as client:
        started = time.perf_counter()
        for event in bodies:
            body = body_of(event)
            headers = signed_headers(event["id"], body, secrets=[secret], at=datetime.now(UTC))
            response = await client.post(url, content=body, headers=headers)
            response.raise_for_status()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--tickets", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "SPORTELLO_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()

    port = free_port()
    name = f"sportello_webhooks_{os.getpid()}"
    key = Fernet.generate_key().decode()  # the subscription's secret is stored sealed
    sealing.configure([key])
    with fresh_database("postgresql", pg_url=args.pg_url, name=name) as url:
        migrations.upgrade(url)
        receiver_url = f"http://127.0.0.1:{port}/events"
        secret, bodies = publish(
            url, count=args.events, tickets=args.tickets, receiver_url=receiver_url
        )
        receiver = Receiver(port, secret)
        receiver.start()
        try:
            bare_seconds = asyncio.run(bare(receiver.url, secret, bodies))
            while receiver.count() < args.events:
                time.sleep(0.01)
            receiver.take()
            drained = run_workers(
                url,
                args.workers,
                arrived=receiver.count,
                count=args.events,
                SPORTELLO_SECRET_KEYS=key,
            )
            got = receiver.take()
            final = outbox_states(url, channel="event")
        finally:
            receiver.stop()

    bare_rate, outbox_rate = args.events / bare_seconds, args.events / drained.delivering_s
    ratio = outbox_rate / bare_rate
    lost = len({event["id"] for event in bodies} - set(got))
    duplicates = sum(n - 1 for n in got.values())
    print(
        f"events: {args.events} on {args.tickets} tickets, workers: {args.workers} (PostgreSQL),"
        " receiver: uvicorn loopback, verifying each"
    )
    print(f"bare httpx loop        {bare_rate:8.0f} events/s  ({bare_seconds:.2f} s)")
    print(
        f"outbox, {args.workers} workers     {outbox_rate:8.0f} events/s"
        f"  ({drained.delivering_s:.2f} s"
        f" from the first event to the last; the workers started in {drained.starting_s:.2f} s)"
    )
    print(
        f"ratio {ratio:.2f} (target >= {TARGET}), lost {lost}, duplicates {duplicates},"
        f" refused {receiver.refused}"
    )
    print(f"rows by state: {final}")
    ok = ratio >= TARGET and lost == 0 and final == {"sent": args.events}
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
