"""Load: a desk's mixed workload at rising concurrency, against SQLite and PostgreSQL.

Usage: .venv/bin/python bench/load.py [--levels 8,16,32,64] [--seconds 15]
                                      [--only sqlite,postgresql,million] [--pg-url URL]
                                      [--size 1000000]

For each database it starts `sportello serve` as a user would (an empty directory, SPORTELLO_*
variables, the outbox worker inside writing .eml files), seeds a customer and a contract
through the admin API, and then, at each concurrency level for a bounded time, runs closed-loop
clients doing:
  70% reads: the work queue's first page (GET /api/v1/tickets) or one ticket page;
  20% inbound email: a signed Mailgun delivery of a new message (a new ticket and its receipt);
  10% state changes that email the customer: take in charge a new ticket, or resolve one taken.
Each ticket is moved by one client only, so a 409 is an error like any other non-2xx.
Baseline, measured in the same run at the same concurrency: GET /healthz (the stack alone).
It prints requests/s, p50/p99, errors and the server's peak RSS (VmHWM), per level.

`million`: 1,000,000 tickets COPYed into PostgreSQL (bench/ticket_queries.py's history), then
the work queue's first page through HTTP by 16 concurrent readers.

Goals: 0 errors at 64 clients, p99 < 250 ms, RSS < 300 MB; at 1M tickets the queue's first
page p99 < 25 ms with 16 readers.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import ingest  # bench/ is the script's directory, so on sys.path
import psycopg
from sqlalchemy.engine import make_url
from ticket_queries import (
    DEFAULT_URL,
    libpq_url,
    load_tickets,
    percentile,
    recreate_database,
    seed_customers,
)

from app.migrations import upgrade

ROOT = Path(__file__).resolve().parent.parent
SPORTELLO = str(Path(sys.executable).parent / "sportello")
ADMIN = "bench-admin-" + secrets.token_hex(8)
KEY = "bench-mailgun-key"
LOAD_DB = "sportello_load"
GOAL_ERRORS, GOAL_P99_MS, GOAL_RSS_MB, GOAL_MILLION_P99_MS = 0, 250.0, 300.0, 25.0


@dataclass
class Figures:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, started: float, outcome: str | None) -> None:
        self.latencies.append(time.perf_counter() - started)
        if outcome:
            self.errors[outcome] = self.errors.get(outcome, 0) + 1

    def line(self, name: str, level: int, rss_mb: float | None, baseline: float | None) -> str:
        ordered = sorted(self.latencies)
        rate = len(ordered) / self.seconds if self.seconds else 0.0
        ratio = f"{rate / baseline:5.2f}" if baseline else "    -"
        rss = f"{rss_mb:7.1f}" if rss_mb is not None else "      -"
        return (
            f"{name:<22} {level:>4} {len(ordered):>7} {rate:>9.1f} {ratio} "
            f"{percentile(ordered, 0.5) * 1000:>8.1f} {percentile(ordered, 0.99) * 1000:>8.1f} "
            f"{sum(self.errors.values()):>6} {rss}"
        )


class Server(ingest.Server):
    """`sportello serve` in a directory of its own (bench/ingest.py's server process), ready."""

    def __init__(self, database_url: str) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="sportello-load-"))
        port = ingest.free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPORTELLO_")}
        env.update(
            {
                "SPORTELLO_DATABASE_URL": database_url,
                "SPORTELLO_ADMIN_TOKEN": ADMIN,
                "SPORTELLO_MAILGUN_SIGNING_KEY": KEY,
                "SPORTELLO_LOG_LEVEL": "WARNING",
                "SPORTELLO_WORKER_POLL_SECONDS": "0.2",
            }
        )
        argv = [SPORTELLO, "serve", "--host", "127.0.0.1", "--port", str(port)]
        log = self.directory / "serve.log"
        super().__init__("sportello", argv, cwd=self.directory, env=env, log=log, port=port)
        self.base_url = self.base
        self.wait_ready("/healthz")

    def peak_rss_mb(self) -> float:
        """The server's peak resident memory (VmHWM), in MB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def mailgun_form(run: str, n: int) -> dict[str, str]:
    """A signed Mailgun forward() of a new message."""
    timestamp, token = str(int(time.time())), secrets.token_hex(25)
    message_id = f"<{run}.{n}@rossi.it>"
    headers = [
        ["From", "Mario Rossi <mario@rossi.it>"],
        ["Subject", f"Richiesta {n}"],
        ["Message-Id", message_id],
    ]
    return {
        "recipient": "assistenza@example.com",
        "sender": "mario@rossi.it",
        "from": "Mario Rossi <mario@rossi.it>",
        "subject": f"Richiesta {n}",
        "body-plain": "Il sito è lento da stamattina, potete controllare?",
        "stripped-text": "Il sito è lento da stamattina, potete controllare?",
        "Message-Id": message_id,
        "message-headers": json.dumps(headers),
        "timestamp": timestamp,
        "token": token,
        "signature": hmac.new(
            KEY.encode(), (timestamp + token).encode(), hashlib.sha256
        ).hexdigest(),
    }


class Desk:
    """The mixed workload's shared state: tickets waiting to be taken in charge, or resolved."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.run = secrets.token_hex(4)
        self.sent = 0
        self.new: list[int] = []
        self.taken: list[int] = []
        self.known: list[int] = []
        self.headers = {"Authorization": f"Bearer {ADMIN}"}

    async def seed(self, client: httpx.AsyncClient, tickets: int) -> None:
        customer = await client.post(
            "/api/v1/customers",
            json={"name": "Rossi", "email_domains": ["rossi.it"]},
            headers=self.headers,
        )
        customer.raise_for_status()
        contract = await client.post(
            "/api/v1/contracts",
            json={
                "customer_id": customer.json()["id"],
                "code": "LOAD-1",
                "starts_on": f"{datetime.now(UTC):%Y}-01-01",
                "annual_fee": "1200.00",
            },
            headers=self.headers,
        )
        contract.raise_for_status()
        for _ in range(tickets):
            await self.inbound(client)

    async def inbound(self, client: httpx.AsyncClient) -> str | None:
        self.sent += 1
        response = await client.post(
            "/api/v1/inbound/email/mailgun", data=mailgun_form(self.run, self.sent)
        )
        if response.status_code != 200:
            return f"inbound {response.status_code}"
        ticket_id = response.json()["ticket_id"]
        self.new.append(ticket_id)
        self.known.append(ticket_id)
        return None

    async def read(self, client: httpx.AsyncClient) -> str | None:
        if random.random() < 0.5 or not self.known:
            response = await client.get(
                "/api/v1/tickets", params={"limit": 50}, headers=self.headers
            )
        else:
            ticket = random.choice(self.known)
            response = await client.get(f"/api/v1/tickets/{ticket}", headers=self.headers)
        return None if response.status_code == 200 else f"read {response.status_code}"

    async def change(self, client: httpx.AsyncClient) -> str | None:
        if self.taken and (random.random() < 0.5 or not self.new):
            ticket = self.taken.pop(random.randrange(len(self.taken)))
            response = await client.post(
                f"/api/v1/tickets/{ticket}/resolve",
                json={"resolution": "Risolto.", "delivery_mode": "online"},
                headers=self.headers,
            )
        elif self.new:
            ticket = self.new.pop(random.randrange(len(self.new)))
            response = await client.post(
                f"/api/v1/tickets/{ticket}/take-charge",
                json={"note": "Guardo."},
                headers=self.headers,
            )
            if response.status_code == 200:
                self.taken.append(ticket)
        else:
            return await self.inbound(client)
        return None if response.status_code == 200 else f"change {response.status_code}"


async def closed_loop(base_url: str, clients: int, seconds: float, step: Any) -> Figures:
    """`clients` loops calling `step(client)` for `seconds`; latencies and errors."""
    figures = Figures()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        stop_at = time.perf_counter() + seconds

        async def loop() -> None:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                try:
                    outcome = await step(client)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                figures.add(started, outcome)

        began = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(clients)))
        figures.seconds = time.perf_counter() - began
    return figures


def mixed(desk: Desk) -> Any:
    async def step(client: httpx.AsyncClient) -> str | None:
        draw = random.random()
        if draw < 0.70:
            return await desk.read(client)
        if draw < 0.90:
            return await desk.inbound(client)
        return await desk.change(client)

    return step


async def healthz(client: httpx.AsyncClient) -> str | None:
    response = await client.get("/healthz")
    return None if response.status_code == 200 else f"healthz {response.status_code}"


HEADER = (
    f"{'target':<22} {'conc':>4} {'reqs':>7} {'req/s':>9} {'ratio':>5} {'p50 ms':>8} "
    f"{'p99 ms':>8} {'errors':>6} {'RSS MB':>7}"
)


def run_mixed(name: str, database_url: str, levels: list[int], seconds: float) -> list[str]:
    """The mixed workload at each level against one database; verdict lines."""
    server = Server(database_url)
    verdicts = []
    try:
        desk = Desk(server)

        async def seed() -> None:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
                await desk.seed(client, 200)

        asyncio.run(seed())
        for level in levels:
            base = asyncio.run(closed_loop(server.base_url, level, seconds / 3, healthz))
            rate = len(base.latencies) / base.seconds
            print(base.line("baseline /healthz", level, None, None), flush=True)
            figures = asyncio.run(closed_loop(server.base_url, level, seconds, mixed(desk)))
            rss = server.peak_rss_mb()
            print(figures.line(name, level, rss, rate), flush=True)
            if figures.errors:
                print(f"  errors: {figures.errors}", flush=True)
            if level == 64:
                p99 = percentile(sorted(figures.latencies), 0.99) * 1000
                errors = sum(figures.errors.values())
                met = errors <= GOAL_ERRORS and p99 < GOAL_P99_MS and rss < GOAL_RSS_MB
                verdicts.append(
                    f"{'ok  ' if met else 'MISS'} {name} at 64 clients: {errors} errors, "
                    f"p99 {p99:.0f} ms (< {GOAL_P99_MS:.0f}), peak RSS {rss:.0f} MB "
                    f"(< {GOAL_RSS_MB:.0f})"
                )
    finally:
        server.stop()
    return verdicts


def run_million(pg_url: str, size: int, seconds: float) -> list[str]:
    """The work queue's first page at `size` tickets, 16 concurrent readers."""
    server_url = make_url(pg_url)
    database_url = server_url.set(database=LOAD_DB).render_as_string(hide_password=False)
    recreate_database(server_url, LOAD_DB)
    try:
        upgrade(database_url)
        now = datetime.now(UTC).replace(microsecond=0)
        with psycopg.connect(libpq_url(make_url(database_url))) as conn:
            contracts = seed_customers(conn, now)
            loaded = load_tickets(
                conn, first_id=1, count=size, now=now, contracts=contracts, seed=2026
            )
        print(f"loaded {size:,} tickets in {loaded:.1f} s", flush=True)
        server = Server(database_url)
        try:
            headers = {"Authorization": f"Bearer {ADMIN}"}

            async def first_page(client: httpx.AsyncClient) -> str | None:
                response = await client.get("/api/v1/tickets", headers=headers)
                return None if response.status_code == 200 else f"queue {response.status_code}"

            asyncio.run(closed_loop(server.base_url, 16, 2, first_page))  # warm the caches
            for readers in (1, 16):  # one alone: the page's own latency; then the goal's 16
                base = asyncio.run(closed_loop(server.base_url, readers, seconds / 3, healthz))
                print(base.line("baseline /healthz", readers, None, None), flush=True)
                figures = asyncio.run(closed_loop(server.base_url, readers, seconds, first_page))
                rate = len(base.latencies) / base.seconds
                name = f"queue page @{size:,}"
                print(figures.line(name, readers, server.peak_rss_mb(), rate), flush=True)
        finally:
            server.stop()
        p99 = percentile(sorted(figures.latencies), 0.99) * 1000
        met = p99 < GOAL_MILLION_P99_MS and not figures.errors
        return [
            f"{'ok  ' if met else 'MISS'} work queue first page at {size:,} tickets, 16 readers:"
            f" p99 {p99:.1f} ms (< {GOAL_MILLION_P99_MS:.0f}), {sum(figures.errors.values())}"
            " errors"
        ]
    finally:
        recreate_database(server_url, LOAD_DB, drop_only=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="8,16,32,64")
    parser.add_argument("--seconds", type=float, default=15, help="per level and target")
    parser.add_argument("--only", default="sqlite,postgresql,million")
    parser.add_argument("--pg-url", default=DEFAULT_URL, help="a PostgreSQL server URL")
    parser.add_argument("--size", type=int, default=1_000_000)
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    only = set(args.only.split(","))
    verdicts: list[str] = []
    print(HEADER, flush=True)
    if "sqlite" in only:
        directory = tempfile.mkdtemp(prefix="sportello-load-db-")
        try:
            url = f"sqlite:///{directory}/load.db"
            verdicts += run_mixed("sqlite mixed", url, levels, args.seconds)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    if "postgresql" in only:
        server_url = make_url(args.pg_url)
        recreate_database(server_url, LOAD_DB)
        try:
            url = server_url.set(database=LOAD_DB).render_as_string(hide_password=False)
            verdicts += run_mixed("postgresql mixed", url, levels, args.seconds)
        finally:
            recreate_database(server_url, LOAD_DB, drop_only=True)
    if "million" in only:
        verdicts += run_million(args.pg_url, args.size, args.seconds)
    print()
    for verdict in verdicts:
        print(verdict)
    return 0 if all(v.startswith("ok") for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
