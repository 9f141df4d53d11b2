"""The conversation under wrk on PostgreSQL: a ticket of 1,000 messages, and `assignee=me`.

Usage: .venv/bin/python bench/conversation.py [--size 1000000] [--messages 1000]
                                              [--levels 1,8] [--seconds 10] [--threads 1]
                                              [--staff 8] [--pg-url URL]

It migrates a fresh PostgreSQL database, COPYs --size tickets of a desk's history
(bench/history.py: ~97% resolved or closed) and 1,000 recent open ones, creates --staff
agents through the API and gives every ticket an owner among them (each owns 1/--staff of the
desk, open or not), then writes one open ticket's conversation of --messages messages through
the app's own services (customers' emails, staff replies, internal notes and automatic
letters in turn, a file on every 40th), and lets the database settle (a CHECKPOINT, autovacuum
done: bench/reports.py). `sportello serve` runs as a user
starts it (bench/harness.py). At each level of connections, with wrk (bench/wrk.py):
  /healthz        the baseline, the stack alone;
  conversation    GET /api/v1/tickets/{ref}/messages of the 1,000-message ticket;
  assignee=me     GET /api/v1/tickets?assignee=me&limit=50 with the first agent's token.
Targets, at 1 connection (each request's own latency, not a queue's): the conversation's p99
< 50 ms; assignee=me's p99 < 25 ms. The other levels are shown for the ratios to /healthz.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
from harness import (  # bench/ is the script's directory, so on sys.path
    DEFAULT_PG_URL,
    PostgresProbe,
    Sportello,
    admin_headers,
    fresh_database,
    libpq,
    scalar,
)
from history import load_history
from reports import settle
from sqlalchemy.engine import make_url
from wrk import GENERATOR_NOTE, HEADER, HEALTHZ, Category, Run, line, run_wrk

from app.db import get_engine, unit_of_work
from app.enums import Channel, MessageKind
from app.migrations import upgrade
from app.models.message import NewMessage
from app.services.intake.attachments import store_attachments
from app.services.intake.parsing.model import InboundAttachment
from app.services.tickets.conversation import add_message

BENCH_DB = "sportello_conversation_bench"
JUDGED_AT = 1  # connection
CONVERSATION_P99_MS, MINE_P99_MS = 50.0, 25.0
WORDS = (
    "Buongiorno, il sito mostra ancora l'errore 500 sulla pagina dei prodotti dopo "
    "l'aggiornamento di ieri sera; abbiamo provato a svuotare la cache del browser. "
)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16


def make_staff(base: str, count: int) -> tuple[list[int], str]:
    """`count` agents through the API; their ids, and a token of the first."""
    ids = []
    with httpx.Client(base_url=base, headers=admin_headers(), timeout=30) as client:
        for n in range(count):
            member = client.post(
                "/api/v1/staff",
                json={"name": f"Agente {n}", "email": f"agente{n}@agency.example", "role": "agent"},
            )
            member.raise_for_status()
            ids.append(member.json()["id"])
        token = client.post("/api/v1/tokens", json={"staff_id": ids[0]})
        token.raise_for_status()
    return ids, token.json()["token"]


def give_owners(url: str, staff: list[int]) -> None:
    """Every ticket an owner among `staff`, in turn by id; then VACUUM ANALYZE."""
    with psycopg.connect(libpq(make_url(url))) as conn:
        conn.execute(
            "UPDATE ticket SET assignee_id = (%s::int[])[1 + id %% %s]", (staff, len(staff))
        )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM (ANALYZE) ticket")


def write_conversation(url: str, ticket_id: int, count: int, staff: list[int]) -> None:
    """`count` messages on the ticket through the app's services, an hour apart at most."""
    start = datetime.now(UTC) - timedelta(days=30)
    with unit_of_work(get_engine(url)) as session:
        for n in range(count):
            at = start + timedelta(minutes=40 * n)
            turn = n % 4
            message = NewMessage(
                direction=("inbound", "outbound", "internal", "outbound")[turn],
                channel=Channel.EMAIL,
                text=f"{n}. " + WORDS * 4,
                received_at=at,
                from_email=("mario@rossi.it", "assistenza@agency.example", "", "")[turn],
                from_name=("Mario Rossi", "Agente 0 - Agenzia", "Agente 1", "Agenzia")[turn],
                subject="Re: [#2026-000001] Errore 500",
                message_id=None if turn == 2 else f"<bench-{ticket_id}-{n}@bench.example>",
                to=("assistenza@agency.example",) if turn == 0 else ("mario@rossi.it",),
                kind=(None, MessageKind.REPLY, MessageKind.NOTE, None)[turn],
                author_id=(None, staff[0], staff[1], None)[turn],
            )
            message_id = add_message(ticket_id, message, session=session)
            if n % 40 == 0:
                store_attachments(
                    message_id,
                    (InboundAttachment(f"schermata-{n}.png", "image/png", PNG + bytes([n % 256])),),
                    session=session,
                )


def run(
    server: Sportello, url: str, label: str, plan: list[Category], connections: int, **kw
) -> Run:
    """A wrk run of `plan`, shown as one row (with the CPU PostgreSQL used meanwhile)."""
    probe = PostgresProbe.local(url)
    if probe is not None:
        probe.start()
    done = run_wrk(
        server, plan, connections=connections, threads=kw["threads"], seconds=kw["seconds"]
    )
    db_cpu = probe.cpu_since() if probe is not None else None
    print(
        line(label, connections, done, baseline=kw.get("baseline"), db_cpu_s=db_cpu,
             rss_mb=server.peak_rss_mb()),
        flush=True,
    )  # fmt: skip
    if done.errors:
        print(f"  errors: {done.describe_errors()}")
    return done


def measure(args: argparse.Namespace) -> list[str]:
    """Load the desk, run every level; the verdicts."""
    with fresh_database("postgresql", pg_url=args.pg_url, name=BENCH_DB) as url:
        upgrade(url)
        now = datetime.now(UTC).replace(microsecond=0)
        seconds = load_history(url, count=args.size, pool=1000, now=now, seed=2026)
        print(f"{args.size:,} tickets of history and 1,000 recent in {seconds:.1f} s", flush=True)
        with Sportello(url) as server:
            staff, token = make_staff(server.base, args.staff)
            give_owners(url, staff)
            ticket = scalar(url, "SELECT max(id) FROM ticket WHERE status = 'new'")
            write_conversation(url, ticket, args.messages, staff)
            with psycopg.connect(libpq(make_url(url))) as conn:
                waited = settle(conn)  # the load's dirty pages written, autovacuum done
            print(f"the database settled in {waited:.1f} s", flush=True)
            mine = scalar(
                url,
                "SELECT count(*) FROM ticket WHERE assignee_id = :me"
                " AND status NOT IN ('resolved', 'closed')",
                me=staff[0],
            )
            print(f"ticket {ticket}: {args.messages:,} messages; the agent owns {mine:,} open")
            conversation = Category(
                "conversation", 1, [("GET", f"/api/v1/tickets/{ticket}/messages", "")],
                headers=admin_headers(),
            )  # fmt: skip
            queue = Category(
                "mine", 1, [("GET", "/api/v1/tickets?assignee=me&limit=50", "")],
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip
            kw = {"threads": args.threads, "seconds": args.seconds}
            run_wrk(server, [conversation, queue], connections=4, threads=1, seconds=2)  # warm
            print(HEADER, flush=True)
            verdicts = []
            for level in args.levels:
                base = run(server, url, "/healthz", [HEALTHZ], level, **kw)
                talk = run(server, url, "conversation", [conversation], level, baseline=base, **kw)
                own = run(server, url, "assignee=me", [queue], level, baseline=base, **kw)
                if level == JUDGED_AT:
                    verdicts += judged(talk, own, args)
            return verdicts


def judged(talk: Run, own: Run, args: argparse.Namespace) -> list[str]:
    out = []
    for name, got, target in (
        (f"conversation of {args.messages:,} messages", talk, CONVERSATION_P99_MS),
        (f"assignee=me at {args.size:,} tickets", own, MINE_P99_MS),
    ):
        p99 = got.latency_ms["99"]
        met = p99 < target and got.errors == 0
        out.append(
            f"{'PASS' if met else 'MISS'} {name}, {JUDGED_AT} connection: p99 {p99:.1f} ms "
            f"(< {target:.0f}), {got.errors} errors"
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="tickets of history")
    parser.add_argument("--messages", type=int, default=1000, help="in the one conversation")
    parser.add_argument("--levels", default="1,8", help="connections, comma separated")
    parser.add_argument("--seconds", type=int, default=10, help="per run (default 10)")
    parser.add_argument("--threads", type=int, default=1, help="wrk's threads")
    parser.add_argument("--staff", type=int, default=8, help="agents owning the tickets")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="a PostgreSQL server URL")
    args = parser.parse_args()
    args.levels = [int(level) for level in args.levels.split(",")]
    if args.size < 1 or args.messages < 1 or args.staff < 2 or min(args.levels) < 1:
        parser.error("--size, --messages and levels >= 1; --staff >= 2")
    verdicts = measure(args)
    print(GENERATOR_NOTE)
    for verdict in verdicts:
        print(verdict)
    return 0 if not any(v.startswith("MISS") for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
