"""Benchmark the review of one contract's year (app.services.reports.review) on PostgreSQL.

Usage: .venv/bin/python bench/contract_review.py [--url URL] [--tickets N] [--background N]
                                                 [--repeat N] [--seed SEED] [--keep]

Creates a fresh database `sportello_bench_review`, migrates it, and COPYs in a desk's history
(bench/history.py: 500 customers with a contract each, `--background` tickets over three
years), then one contract whose running year (started 300 days ago) holds `--tickets`
requests (20,000 by default): ~85% with a deadline, 80% of those taken in charge on time,
~15% not covered and billable (R4), waits on third parties, a billable time entry per billable
request and a covered one on every other request, a third of the billable lines billed.
Through the services and a real Session it times, in turns (warmed up, then `--repeat` rounds):

- baseline: the monthly SLA statement of the contract's last full month (statement.py);
- the contract's review, JSON (the service), and as the printable HTML page and the CSV.

Target: the review's p99 < 500 ms. Rerun with `.venv/bin/python bench/contract_review.py`
(about two minutes, most of it loading); `--keep` leaves the database for EXPLAIN.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from harness import (  # bench/ is on sys.path
    DEFAULT_PG_URL,
    bench_database,
    libpq,
    recreate_database,
)
from history import copy_tickets, load_tickets, seed_customers, ticket_rows
from reports import fill_report_columns, settle
from sqlalchemy.engine import make_url
from ticket_queries import percentile

from app.db import get_engine, unit_of_work
from app.engine.months import Month
from app.engine.rates import Rates
from app.migrations import upgrade
from app.models.contract import one_year_from
from app.services.reports import review, review_formats, statement

BENCH_DB = "sportello_bench_review"
REVIEW_P99_MS = 500.0
YEAR_SO_FAR = timedelta(days=300)


def add_contract(conn: psycopg.Connection[Any], *, now: datetime) -> int:
    """A customer and its contract, in its year since YEAR_SO_FAR ago; the contract's id."""
    starts_on = (now - YEAR_SO_FAR).date()
    customer = conn.execute(
        "INSERT INTO customer (name, language, created_at, updated_at)"
        " VALUES ('Rossi Arredamenti', 'it', %s, %s) RETURNING id",
        (now, now),
    ).fetchone()
    assert customer is not None
    contract = conn.execute(
        "INSERT INTO contract (customer_id, code, starts_on, ends_on, annual_fee, proposal_ref,"
        " coverage, calendar_id, take_charge_hours, created_at, updated_at)"
        " SELECT %s, 'R-BENCH', %s, %s, 1200, 'P-1', '[\"website\", \"hosting\", \"backup\"]',"
        " id, 4, %s, %s FROM calendar WHERE name = 'default' RETURNING id",
        (customer[0], starts_on, one_year_from(starts_on), now, now),
    ).fetchone()
    assert contract is not None
    conn.commit()
    return int(contract[0])


def load_year(
    conn: psycopg.Connection[Any], *, contract_id: int, first_id: int, count: int, now: datetime
) -> None:
    """`count` requests of the contract in its year so far; those the history would give no
    contract are the contract's, not covered (R4) and billable."""
    rows = ticket_rows(
        first_id=first_id,
        count=count,
        now=now,
        contracts=[contract_id],
        seed=30,
        history=YEAR_SO_FAR - timedelta(days=1),
    )
    copy_tickets(conn, [rows])
    conn.execute(
        "UPDATE ticket SET customer_id = c.customer_id, contract_id = c.id,"
        " coverage = CASE WHEN ticket.contract_id IS NULL THEN 'not_covered'"
        " ELSE ticket.coverage END,"
        " billing_reasons = CASE WHEN ticket.contract_id IS NULL"
        " THEN '[\"not_covered\"]'::jsonb ELSE ticket.billing_reasons END"
        " FROM contract c WHERE c.id = %s AND ticket.id >= %s",
        (contract_id, first_id),
    )
    conn.commit()


def fill_year(conn: psycopg.Connection[Any], *, contract_id: int, now: datetime) -> int:
    """Covered time on every other request of the contract, a third of its billable lines
    billed; how many lines billed."""
    conn.execute(
        "INSERT INTO time_entry (ticket_id, author, minutes, note, billable, created_at)"
        " SELECT id, 'anna', 10 + id %% 50, '', false, received_at FROM ticket"
        " WHERE contract_id = %s AND NOT billable AND id %% 2 = 0",
        (contract_id,),
    )
    billed = conn.execute(
        "INSERT INTO billed_item (item_id, ticket_id, reason, minutes, amount, invoice_ref,"
        " billed_by, billed_at)"
        " SELECT id || ':not_covered', id, 'not_covered', 30, 30.00, 'F-1', 'admin', %s"
        " FROM ticket WHERE contract_id = %s AND billable AND id %% 3 = 0",
        (now, contract_id),
    ).rowcount
    conn.commit()
    conn.autocommit = True
    try:
        conn.execute("VACUUM (ANALYZE) ticket, time_entry, billed_item")
    finally:
        conn.autocommit = False
    return billed


def interleaved(
    calls: list[Callable[[], Any]], *, repeat: int, warmup: int
) -> list[tuple[float, float, Any]]:
    """(p50 ms, p99 ms, last result) of each call, the calls timed in turn, `repeat` rounds."""
    results: list[Any] = [None] * len(calls)
    for _ in range(warmup):
        results = [call() for call in calls]
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(repeat):
        for index, call in enumerate(calls):
            began = time.perf_counter()
            results[index] = call()
            samples[index].append((time.perf_counter() - began) * 1000)
    return [
        (percentile(sorted(s), 0.5), percentile(sorted(s), 0.99), result)
        for s, result in zip(samples, results, strict=True)
    ]


def last_full_month(now: datetime) -> Month:
    first = date(now.year, now.month, 1)
    return Month.parse(f"{first - timedelta(days=1):%Y-%m}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_PG_URL, help="PostgreSQL server URL")
    parser.add_argument("--tickets", type=int, default=20_000, help="the contract's year")
    parser.add_argument("--background", type=int, default=200_000, help="other tickets")
    parser.add_argument("--repeat", type=int, default=30, help="timed calls per figure")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help=f"keep the {BENCH_DB} database")
    args = parser.parse_args()

    server, bench_url = bench_database(parser, args.url, BENCH_DB)
    now = datetime.now(UTC).replace(microsecond=0)
    month, rates = last_full_month(now), Rates()

    recreate_database(server, BENCH_DB)
    try:
        upgrade(bench_url)
        contracts = seed_customers(bench_url, now)
        with psycopg.connect(libpq(make_url(bench_url))) as conn:
            load_tickets(
                conn, first_id=1, count=args.background, now=now, contracts=contracts, seed=1
            )
            contract_id = add_contract(conn, now=now)
            load_year(
                conn,
                contract_id=contract_id,
                first_id=args.background + 1,
                count=args.tickets,
                now=now,
            )
            entries = fill_report_columns(conn)
            billed = fill_year(conn, contract_id=contract_id, now=now)
            waited = settle(conn)
        print(
            f"loaded {args.background:,} background tickets and {args.tickets:,} of the "
            f"contract's year; {entries:,} billable time entries, {billed:,} lines billed; "
            f"settled in {waited:.1f} s; now {now.isoformat()}"
        )
        engine = get_engine(bench_url)

        def monthly() -> Any:
            with unit_of_work(engine) as session:
                return statement.sla_statement(
                    month, session=session, now=now, contract_id=contract_id
                )

        def year() -> Any:
            with unit_of_work(engine) as session:
                return review.contract_review(contract_id, session=session, rates=rates, now=now)

        def page() -> str:
            return review_formats.review_html(year(), company="Agenzia")

        def sheet() -> str:
            return review_formats.review_csv(year())

        # In turns, so that the machine's noise falls on each figure alike.
        figures = interleaved([monthly, year, page, sheet], repeat=args.repeat, warmup=3)
        (base50, base99, one_month), (json50, json99, got) = figures[0], figures[1]
        (html50, html99, _), (csv50, csv99, _) = figures[2], figures[3]
        engine.dispose()

        print(
            f"baseline, the monthly statement of {month.name} for the contract "
            f"({one_month.contracts[0].received:,} requests): "
            f"p50 {base50:7.1f} ms  p99 {base99:7.1f} ms"
        )
        total = got.total
        print(
            f"the year's review, {total.received:,} requests, {len(got.months)} months, "
            f"{total.amounts.lines:,} billing lines: p50 {json50:7.1f} ms  p99 {json99:7.1f} ms  "
            f"({json99 / base99:.1f}x baseline; target p99 < {REVIEW_P99_MS:.0f} ms)"
        )
        print(f"  as the printable page: p50 {html50:7.1f} ms  p99 {html99:7.1f} ms")
        print(f"  as CSV:                p50 {csv50:7.1f} ms  p99 {csv99:7.1f} ms")
        met = max(json99, html99, csv99) < REVIEW_P99_MS
        print("target met" if met else "TARGET NOT MET")
        return 0 if met else 1
    finally:
        if not args.keep:
            recreate_database(server, BENCH_DB, drop_only=True)


if __name__ == "__main__":
    sys.exit(main())
