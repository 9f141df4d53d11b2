"""Benchmark the staff console's queue page (GET /console/, signed in) at 1,000,000 tickets on
PostgreSQL.

Usage: .venv/bin/python bench/console_queue.py [--url URL] [--size 1000000] [--seconds 5]
                                               [--seed SEED] [--keep]

Creates a fresh database `sportello_console_bench` on the server at --url, migrates it to head,
adds customers and contracts, COPYs --size tickets of a desk's history (bench/history.py: ~3
years, ~97% resolved or closed, ~10% urgent), adds a staff member with a password and gives
them one open ticket in ten. Then it starts `sportello serve` as a user would (bench/harness.py)
and signs in through the sign-in form, as a browser does.

Each page is asked by wrk (bench/wrk.py) on one keep-alive connection for --seconds, one
request after the other (nothing else running against the server), after a second's warm-up;
the latency is from sending the request to having read the whole answer, on loopback: the
server's time, plus a loopback round trip. /healthz, measured the same way in the same run, is
the baseline (the stack alone). The pages: the queue as it opens (its default view: open tickets,
urgent first, then the nearest deadline, 100 rows), each of its views (urgent, mine,
unassigned, at risk, breached, waiting on a provider, consent pending), its automatic refresh
(refresh=auto), and a search (informative).

Target: every view's p99 < 100 ms at 1,000,000 tickets.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime

import httpx
import psycopg
from harness import (  # bench/ on sys.path
    DEFAULT_PG_URL,
    Sportello,
    bench_database,
    libpq,
    recreate_database,
)
from history import load_tickets, seed_customers
from sqlalchemy.engine import make_url
from sqlmodel import Session
from wrk import GENERATOR_NOTE, HEADER, Category, line, run_wrk

from app.console.guard import COOKIE
from app.db import get_engine
from app.enums import Role
from app.migrations import upgrade
from app.models.staff import StaffMember
from app.services.console.sign_in import set_password

BENCH_DB = "sportello_console_bench"
TARGET_P99_MS = 100.0
EMAIL, PASSWORD = "marco@agency.example", "correct horse battery staple"
OPEN = "status NOT IN ('resolved', 'closed')"
PAGES = (
    ("/healthz (baseline)", "/healthz", False),
    ("queue", "/console/", True),
    ("queue, urgent", "/console/?view=urgent", True),
    ("queue, mine", "/console/?view=mine", True),
    ("queue, unassigned", "/console/?view=unassigned", True),
    ("queue, at risk", "/console/?view=at_risk", True),
    ("queue, breached", "/console/?view=breached", True),
    ("queue, waiting on a provider", "/console/?view=waiting", True),
    ("queue, consent pending", "/console/?view=consent", True),
    ("queue, refreshed", "/console/?refresh=auto", True),
    ("queue, search (informative)", "/console/?q=certificato", False),
)


def describe(conn: psycopg.Connection[object], staff_id: int) -> str:
    row = conn.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {OPEN}),"
        f" count(*) FILTER (WHERE {OPEN} AND urgent),"
        f" count(*) FILTER (WHERE {OPEN} AND assignee_id = %(me)s),"
        " pg_size_pretty(pg_total_relation_size('ticket')) FROM ticket",
        {"me": staff_id},
    ).fetchone()
    conn.rollback()
    assert row is not None
    total, open_, urgent, mine, size = row
    return (
        f"{total:,} tickets: {open_:,} open, {urgent:,} of them urgent, {mine:,} assigned to the"
        f" staff member signed in; table and indexes {size}"
    )


def add_staff(bench_url: str, conn: psycopg.Connection[object]) -> int:
    """A staff member with a password, given one open ticket in ten; their id."""
    with Session(get_engine(bench_url)) as session:
        member = StaffMember(name="Marco", email=EMAIL, role=Role.AGENT, language="it")
        session.add(member)
        session.flush()
        set_password(EMAIL, PASSWORD, session=session)
        session.commit()
        assert member.id is not None
        staff_id = member.id
    conn.execute(
        f"UPDATE ticket SET assignee_id = %(me)s WHERE {OPEN} AND id %% 10 = 0", {"me": staff_id}
    )
    conn.commit()
    conn.autocommit = True
    try:
        conn.execute("VACUUM (ANALYZE) ticket")
    finally:
        conn.autocommit = False
    return staff_id


def sign_in(client: httpx.Client) -> None:
    """Through the sign-in form, as a browser does: its token, then the post."""
    form = client.get("/console/sign-in")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text
    answer = client.post(
        "/console/sign-in", data={"email": EMAIL, "password": PASSWORD, "csrf": token.group(1)}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/console/", answer.text
    assert client.get("/console/").status_code == 200


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_PG_URL, help="PostgreSQL server URL")
    parser.add_argument("--size", type=int, default=1_000_000, help="tickets")
    parser.add_argument("--seconds", type=int, default=5, help="per page (default 5)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help=f"keep the {BENCH_DB} database")
    args = parser.parse_args()
    server, bench_url = bench_database(parser, args.url, BENCH_DB)
    now = datetime.now(UTC).replace(microsecond=0)

    recreate_database(server, BENCH_DB)
    try:
        upgrade(bench_url)
        contracts = seed_customers(bench_url, now)
        with psycopg.connect(libpq(make_url(bench_url))) as conn:
            seconds = load_tickets(
                conn, first_id=1, count=args.size, now=now, contracts=contracts, seed=args.seed
            )
            print(f"loaded {args.size:,} tickets in {seconds:.1f} s (COPY + VACUUM ANALYZE)")
            staff_id = add_staff(bench_url, conn)
            print(describe(conn, staff_id))
        get_engine(bench_url).dispose()

        print(f"each page on one connection for {args.seconds} s, one request after the other")
        print(HEADER)
        verdicts = []
        with Sportello(bench_url, name="console bench") as sportello:
            with httpx.Client(base_url=sportello.base, timeout=30) as client:
                sign_in(client)
                cookie = {"Cookie": f"{COOKIE}={client.cookies[COOKIE]}"}
            baseline = None
            for n, (name, path, judged) in enumerate(PAGES):
                page = Category(f"page{n}", 1, [("GET", path, "")], headers=cookie)
                run_wrk(sportello, [page], connections=1, threads=1, seconds=1)  # warm-up
                done = run_wrk(sportello, [page], connections=1, threads=1, seconds=args.seconds)
                baseline = baseline or done
                print(line(name, 1, done, baseline=baseline, rss_mb=sportello.peak_rss_mb()))
                if done.errors:
                    print(f"  errors: {done.describe_errors()}")
                if judged:
                    p99 = done.latency_ms["99"]
                    ok = p99 < TARGET_P99_MS and done.errors == 0
                    verdicts.append(
                        f"{'PASS' if ok else 'MISS'} {name}: p99 {p99:.1f} ms"
                        f" (< {TARGET_P99_MS:.0f}) at {args.size:,} tickets, {done.errors} errors"
                    )
            rss = sportello.peak_rss_mb()
        print(GENERATOR_NOTE)
        print(f"server peak RSS {rss:.0f} MB")
        for verdict in verdicts:
            print(verdict)
        return 0 if all(v.startswith("PASS") for v in verdicts) else 1
    finally:
        if not args.keep:
            recreate_database(server, BENCH_DB, drop_only=True)


if __name__ == "__main__":
    sys.exit(main())
