"""Benchmark outbox delivery: queued emails drained by workers into a loopback SMTP sink.

Usage: .venv/bin/python bench/outbox.py [--emails N] [--workers W] [--written] [--pg-url URL]

In one run, on this machine:
  bare    one aiosmtplib connection sending the N emails one after the other, as fast as it
          can, to the sink: the ceiling of sending alone (no database, no bookkeeping);
  outbox  N emails queued in the outbox of a fresh PostgreSQL database as their causes queue
          them, as facts, drained by W `sportello worker` processes (each claims a row under a
          lease and writes its email from the facts in one transaction, sends it, and marks it
          sent in a transaction of its own), into the same sink. With --written the rows are
          queued already written, as rows from before migration 0014 are (no writing to do).
The sink is aiosmtpd on 127.0.0.1 in a process of its own, counting Message-IDs; both runs
send messages built alike (app.services.notifications.transports.build_email); the facts are
those of a "taken in charge" email, about as long as the written payload.

Targets: outbox >= 0.5x the bare rate, 0 duplicates, every row `sent`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import queue as queue_module
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import free_port, fresh_database, outbox_states, run_workers  # noqa: E402  (bench/ is on sys.path)

from app import migrations  # noqa: E402
from app.models.base import table_of  # noqa: E402
from app.models.outbox import LetterFacts, Outbox, OutboxFacts  # noqa: E402
from app.services.notifications.transports import build_email  # noqa: E402

TARGET = 0.5


class Sink:
    """aiosmtpd in a process of its own (no interpreter lock shared with the senders),
    reporting each accepted email's Message-ID to this process."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ids: Counter[bytes] = Counter()
        self._queue: multiprocessing.Queue[bytes] = multiprocessing.Queue()
        self._ready = multiprocessing.Event()
        self._process = multiprocessing.Process(
            target=_serve_sink, args=(port, self._queue, self._ready), daemon=True
        )

    def start(self) -> None:
        self._process.start()
        if not self._ready.wait(10):
            raise SystemExit("the SMTP sink did not start")

    def stop(self) -> None:
        self._process.terminate()
        self._process.join(10)

    def count(self) -> int:
        while True:
            try:
                self.ids[self._queue.get_nowait()] += 1
            except queue_module.Empty:
                return sum(self.ids.values())


class _Handler:
    def __init__(self, queue: multiprocessing.Queue[bytes]) -> None:
        self.queue = queue

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.content
        start = content.find(b"Message-ID: ")
        self.queue.put(content[start + 12 : content.find(b"\n", start)].strip())
        return "250 OK"


def _serve_sink(port: int, queue: multiprocessing.Queue[bytes], ready: Any) -> None:
    controller = Controller(_Handler(queue), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    threading.Event().wait()


def payload(n: int, run: str) -> dict[str, Any]:
    return {
        "from": "assistenza@agency.example",
        "from_name": "Agenzia Web",
        "to": [f"cliente{n}@rossi.it"],
        "subject": f"[#2026-{n:06d}] Presa in carico: il sito non risponde",
        "text": "Gentile cliente,\n\nla sua richiesta è stata presa in carico.\n" * 5,
        "html": "<p>Gentile cliente,</p><p>la sua richiesta è stata presa in carico.</p>" * 5,
        "date": "Mon, 23 Nov 2026 15:00:00 +0000",
        "message_id": f"{run}.{n}@agency.example",
        "headers": {"Reply-To": "assistenza@agency.example", "Auto-Submitted": "auto-replied"},
    }


def facts(n: int) -> dict[str, Any]:
    taken = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    return OutboxFacts(
        template="taken_in_charge",
        language="it",
        caused_at=taken,
        sender="assistenza@agency.example",
        sender_name="Agenzia Web",
        to=[f"cliente{n}@rossi.it"],
        headers={"Reply-To": "assistenza@agency.example", "Auto-Submitted": "auto-replied"},
        letter=LetterFacts.of(
            {
                "number": f"2026-{n:06d}",
                "subject": "il sito non risponde",
                "name": "Mario Rossi",
                "company": "Agenzia Web",
                "support_address": "assistenza@agency.example",
                "status_url": f"https://support.agency.example/status/token{n}",
                "taken": taken,
                "estimate": datetime(2026, 11, 24, 16, 0, tzinfo=UTC),
            }
        ),
    ).model_dump(mode="json")


async def bare(port: int, count: int) -> float:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await client.connect()
    started = time.perf_counter()
    for n in range(count):
        email = payload(n, "bare")
        await client.sendmail(email["from"], email["to"], build_email(email))
    elapsed = time.perf_counter() - started
    await client.quit()
    return elapsed


def queue(url: str, count: int, *, written: bool) -> None:
    engine = create_engine(url)
    now = datetime.now(UTC)
    rows = [
        {
            "kind": "customer.taken_in_charge",
            "channel": "email",
            "recipient": f"cliente{n}@rossi.it",
            "message_id": f"outbox.{n}@agency.example",
            "dedup_key": f"bench:{n}",
            "payload": payload(n, "outbox") if written else None,
            "facts": None if written else facts(n),
            "state": "pending",
            "attempts": 0,
            "created_at": now,
            "available_at": now,
        }
        for n in range(count)
    ]
    with engine.begin() as connection:
        for start in range(0, count, 1000):
            connection.execute(insert(table_of(Outbox)), rows[start : start + 1000])
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--written", action="store_true", help="queue rows already written")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "SPORTELLO_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()

    port = free_port()
    sink = Sink(port)
    sink.start()
    name = f"sportello_outbox_{os.getpid()}"
    try:
        with fresh_database("postgresql", pg_url=args.pg_url, name=name) as url:
            migrations.upgrade(url)
            bare_seconds = asyncio.run(bare(port, args.emails))
            while sink.count() < args.emails:
                time.sleep(0.01)
            bare_rate = args.emails / bare_seconds
            queue(url, args.emails, written=args.written)
            drained = run_workers(
                url,
                args.workers,
                arrived=sink.count,
                count=args.emails * 2,
                SPORTELLO_SMTP_URL=f"smtp://127.0.0.1:{port}",
            )
            outbox_rate = args.emails / drained.delivering_s
            outbox_ids = {k: v for k, v in sink.ids.items() if k.startswith(b"<outbox.")}
            duplicates = sum(v - 1 for v in outbox_ids.values())
            final = outbox_states(url)
    finally:
        sink.stop()

    ratio = outbox_rate / bare_rate
    queued = "written" if args.written else "as facts"
    print(
        f"emails: {args.emails} queued {queued}, workers: {args.workers} (PostgreSQL), "
        "sink: aiosmtpd loopback"
    )
    print(f"bare aiosmtplib loop   {bare_rate:8.0f} emails/s  ({bare_seconds:.2f} s)")
    print(
        f"outbox, {args.workers} workers     {outbox_rate:8.0f} emails/s"
        f"  ({drained.delivering_s:.2f} s"
        f" from the first email to the last; the workers started in {drained.starting_s:.2f} s)"
    )
    print(
        f"ratio {ratio:.2f} (target >= {TARGET}), "
        f"duplicates {duplicates}, distinct {len(outbox_ids)}"
    )
    print(f"rows by state: {final}")
    ok = ratio >= TARGET and duplicates == 0 and final == {"sent": args.emails}
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
