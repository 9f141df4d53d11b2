"""A customer's export (GET /customers/{id}/export) with 10,000 tickets: peak memory of the server.

One customer with `--tickets` tickets, each with the customer's email (about 1.5 KB of text),
a staff reply and a time entry, and every 20th with a 64 KB file; `sportello serve` on it; its
resident memory idle (after one request), then its peak (VmHWM) over the whole export, read
from /proc. The export reads tickets a chunk at a time and files one at a time into a spooled
ZIP, so the peak should stay well under the budget (150 MB) whatever the number of tickets.

    .venv/bin/python bench/export.py                       # SQLite, 10,000 tickets
    .venv/bin/python bench/export.py --database postgresql # PostgreSQL at --url
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from harness import DEFAULT_PG_URL, Sportello, admin_headers, fresh_database, libpq
from history import copy_tickets, insert_tickets, seed_customers, ticket_rows
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from app.enums import Channel, MessageKind
from app.migrations import upgrade
from app.models.base import table_of
from app.models.billing import TimeEntry
from app.models.message import Attachment, AttachmentBlob, Message, NewMessage

BUDGET_MB = 150.0
FILE_EVERY, FILE_BYTES = 20, 64 * 1024
BATCH = 2000
WORDS = ("il", "sito", "non", "risponde", "da", "stamattina", "il", "carrello", "mostra", "errori")


def load(url: str, *, tickets: int, seed: int) -> int:
    """The customer and its tickets, messages, files and time; the customer's id."""
    now = datetime.now(UTC).replace(microsecond=0)
    contracts = seed_customers(url, now)
    rows = ticket_rows(first_id=1, count=tickets, now=now, contracts=contracts[:1], seed=seed)
    if make_url(url).get_backend_name() == "postgresql":
        import psycopg

        with psycopg.connect(libpq(make_url(url))) as conn:
            copy_tickets(conn, [rows])
    else:
        insert_tickets(url, rows)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            customer_id = int(contracts[0])  # one contract per customer, in the same order
            conn.execute(text("UPDATE ticket SET customer_id = :c"), {"c": customer_id})
            for start in range(1, tickets + 1, BATCH):
                ids = range(start, min(start + BATCH, tickets + 1))
                _conversations(conn, ids, now=now, rng=random.Random(seed + start))
        return customer_id
    finally:
        engine.dispose()


def _conversations(conn: Any, ids: range, *, now: datetime, rng: random.Random) -> None:
    messages, blobs, files, entries = [], [], [], []
    for ticket_id in ids:
        text_ = " ".join(rng.choice(WORDS) for _ in range(220))
        inbound = NewMessage(
            direction="inbound",
            channel=Channel.EMAIL,
            text=text_,
            received_at=now - timedelta(days=1),
            from_email=f"utente{ticket_id % 7}@cliente.it",
            from_name="Utente",
            subject="Il sito non risponde",
        )
        reply = NewMessage(
            direction="outbound",
            channel=Channel.EMAIL,
            text="Gentile cliente, abbiamo risolto. " * 20,
            received_at=now,
            kind=MessageKind.REPLY,
            subject="Re: Il sito non risponde",
        )
        for offset, message in ((0, inbound), (1, reply)):
            messages.append(
                {"id": 2 * ticket_id - 1 + offset, **message.row(ticket_id, created_at=now)}
            )
        entries.append(
            {
                "ticket_id": ticket_id,
                "author": "bench",
                "minutes": 30,
                "note": "fatto",
                "billable": True,
                "created_at": now,
            }
        )
        if ticket_id % FILE_EVERY == 0:
            data = rng.randbytes(FILE_BYTES)
            digest = hashlib.sha256(data).hexdigest()
            blobs.append(
                {
                    "id": ticket_id,
                    "sha256": digest,
                    "size": len(data),
                    "data": data,
                    "created_at": now,
                }
            )
            files.append(
                {
                    "message_id": 2 * ticket_id - 1,
                    "blob_id": ticket_id,
                    "filename": f"schermata {ticket_id}.png",
                    "content_type": "image/png",
                    "size": len(data),
                    "sha256": digest,
                }
            )
    conn.execute(insert(table_of(Message)), messages)
    conn.execute(insert(table_of(TimeEntry)), entries)
    if blobs:
        conn.execute(insert(table_of(AttachmentBlob)), blobs)
        conn.execute(insert(table_of(Attachment)), files)


def rss_mb(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of one process, in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", default=DEFAULT_PG_URL, help="PostgreSQL server URL")
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    with fresh_database(args.database, pg_url=args.url, name="sportello_bench_export") as url:
        upgrade(url)
        began = time.perf_counter()
        customer_id = load(url, tickets=args.tickets, seed=args.seed)
        print(
            f"loaded {args.tickets:,} tickets ({args.database})"
            f" in {time.perf_counter() - began:.1f} s"
        )
        # Migrated above: served as a deployment does, migrations as their own step.
        with Sportello(
            url, extra_env={"SPORTELLO_WORKER": "false"}, extra_argv=("--no-migrate",)
        ) as server:
            pid = server.process.pid
            with httpx.Client(base_url=server.base, headers=admin_headers(), timeout=600) as client:
                client.get(f"/api/v1/customers/{customer_id}").raise_for_status()
                idle_rss, idle_peak = rss_mb(pid, "VmRSS"), rss_mb(pid, "VmHWM")
                began = time.perf_counter()
                size = 0
                with client.stream("GET", f"/api/v1/customers/{customer_id}/export") as response:
                    response.raise_for_status()
                    for piece in response.iter_bytes():
                        size += len(piece)
                seconds = time.perf_counter() - began
            peak = rss_mb(pid, "VmHWM")
    load1, load5, _ = os.getloadavg()
    print(f"export: {args.tickets:,} tickets, ZIP {size / 2**20:.1f} MB in {seconds:.1f} s")
    print(f"server RSS idle {idle_rss:.1f} MB (peak before the export {idle_peak:.1f} MB)")
    print(
        f"server peak RSS over the export {peak:.1f} MB: {peak / idle_rss:.2f}x idle, "
        f"+{peak - idle_peak:.1f} MB; budget {BUDGET_MB:.0f} MB: "
        f"{'within' if peak < BUDGET_MB else 'OVER'}"
    )
    print(f"load average {load1:.2f} {load5:.2f}")
    return 0 if peak < BUDGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
