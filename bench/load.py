"""Load: the work queue, one ticket and a desk's mixed workload under wrk, at rising connections.

Usage: .venv/bin/python bench/load.py [--levels 8,16,32,64] [--seconds 10] [--threads 2]
                                      [--only sqlite,postgresql,million] [--tickets 10000]
                                      [--pool 1000] [--size 1000000] [--workers 1]
                                      [--pg-url URL]

For each database it migrates a fresh one, loads --tickets tickets of a desk's history
(bench/history.py: SQLAlchemy Core on SQLite, COPY on PostgreSQL) and --pool recent open ones
(half new, half taken in charge), starts `sportello serve` as a user would (bench/harness.py:
an empty directory, SPORTELLO_* variables, the outbox worker inside writing .eml files), seeds
a customer owning rossi.it with a contract, and warms up. Then at each level of connections,
with the same generator (wrk, bench/wrk.py and bench/plan.lua) and threads, for --seconds each:
  /healthz      the baseline, the stack alone;
  queue page    GET /api/v1/tickets?limit=50, the work queue's first page;
  one ticket    GET /api/v1/tickets/{id}, ids spread over the whole history;
  mixed         70% reads (half queue pages, half single tickets), 20% signed Mailgun
                deliveries (generated right before the run, each sent once), 10% state
                changes that email the customer: take in charge a `new` ticket, resolve one
                taken in charge. Each ticket is moved by one request only (the lists come from
                the database before each run, each id sent once), so a 409 is an error like
                any other non-2xx. Afterwards the database must agree within a minute: one
                new ticket per delivery sent, one ticket moved per state change sent (those
                in flight when wrk stopped are finished by the server all the same).
Each row shows requests/s, p50/p90/p99, errors (non-2xx and socket errors), the ratio to
/healthz's rate at the same level, the CPU that wrk, the server and PostgreSQL used (a share of
one core over the run), and the server's peak RSS (VmHWM) so far. Between runs the outbox
worker catches up, so that each figure measures its own requests.

`million`: 1,000,000 tickets (--size) COPYed into PostgreSQL, then the work queue's first page
with 1 and 16 connections beside /healthz.

Targets at 64 connections: queue page >= 0.12 of /healthz's rate and p99 < 250 ms; one ticket
>= 0.25 of /healthz's rate; mixed 0 errors and p99 < 500 ms; peak RSS < 300 MB. At 1,000,000
tickets on PostgreSQL, queue page p99 < 100 ms with 16 connections.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from harness import (  # bench/ is the script's directory, so on sys.path
    DEFAULT_PG_URL,
    PostgresProbe,
    Sportello,
    admin_headers,
    comma_choices,
    fresh_database,
    scalar,
    wait_for,
    wait_for_outbox,
)
from history import load_history
from mailgun import FORM, MAILGUN_PATH, Deliveries, post_deliveries, seed_contract
from wrk import GENERATOR_NOTE, HEADER, HEALTHZ, Category, Run, budget, line, run_wrk

from app.migrations import upgrade

SCENARIOS = ("sqlite", "postgresql", "million")
LOAD_DB = "sportello_load_bench"
JUDGED_AT = 64  # connections
QUEUE_RATIO, QUEUE_P99_MS, TICKET_RATIO, MIXED_P99_MS, RSS_MB = 0.12, 250.0, 0.25, 500.0, 300.0
MILLION_CONNECTIONS, MILLION_P99_MS = 16, 100.0
JSON = {"Content-Type": "application/json"}
TAKE_CHARGE = '{"note": "Guardo subito."}'
RESOLVE = '{"resolution": "Risolto.", "delivery_mode": "online"}'
SAMPLED_IDS = 2000
OPEN = "SELECT count(*) FROM ticket WHERE status NOT IN ('resolved', 'closed')"
BY_STATUS = "SELECT count(*) FROM ticket WHERE id <= :last AND status = :status"
NEW_TICKETS = "SELECT count(*) FROM ticket WHERE id > :last"


def queue_page() -> Category:
    return Category("queue", 1, [("GET", "/api/v1/tickets?limit=50", "")], headers=admin_headers())


def one_ticket(ticket_ids: list[int]) -> Category:
    requests = [("GET", f"/api/v1/tickets/{ticket_id}", "") for ticket_id in ticket_ids]
    return Category("ticket", 1, requests, headers=admin_headers())


def ids_in(url: str, status: str, limit: int) -> list[int]:
    """Up to `limit` ids of tickets in `status`, oldest first."""
    sql = "SELECT string_agg(CAST(id AS TEXT), ',') FROM"
    sql += " (SELECT id FROM ticket WHERE status = :status ORDER BY id LIMIT :limit) AS chosen"
    if url.startswith("sqlite"):
        sql = sql.replace("string_agg(", "group_concat(")
    found = scalar(url, sql, status=status, limit=limit)
    return [int(ticket_id) for ticket_id in found.split(",")] if found else []


@dataclass
class Desk:
    """One server under test, its database, and how its runs are shown and judged."""

    name: str
    url: str
    server: Sportello
    args: argparse.Namespace
    deliveries: Deliveries = field(default_factory=Deliveries)
    verdicts: list[str] = field(default_factory=list)

    def run(
        self, label: str, plan: list[Category], connections: int, baseline: Run | None = None
    ) -> Run:
        """A wrk run of `plan`, shown as one row (with the CPU PostgreSQL used meanwhile)."""
        probe = PostgresProbe.local(self.url)
        if probe is not None:
            probe.start()
        run = run_wrk(
            self.server,
            plan,
            connections=connections,
            threads=self.args.threads,
            seconds=self.args.seconds,
        )
        db_cpu = probe.cpu_since() if probe is not None else None
        row = line(
            f"{self.name} {label}",
            connections,
            run,
            baseline=baseline,
            db_cpu_s=db_cpu,
            rss_mb=self.server.peak_rss_mb(),
        )
        print(row, flush=True)
        if run.errors:
            print(f"  errors: {run.describe_errors()}")
        if run.invalid:
            print(f"  INVALID: {run.invalid}")
        return run

    def judge(self, met: bool, text: str) -> None:
        self.verdicts.append(f"{'PASS' if met else 'MISS'} {self.name}: {text}")


def state_changes(url: str, count: int) -> list[Category]:
    """Take in charge `new` tickets and resolve ones taken in charge: up to `count` of each,
    from the database now, each id once."""
    headers = {**admin_headers(), **JSON}
    take = [
        ("POST", f"/api/v1/tickets/{i}/take-charge", TAKE_CHARGE) for i in ids_in(url, "new", count)
    ]
    taken = ids_in(url, "taken_in_charge", count)
    resolve = [("POST", f"/api/v1/tickets/{i}/resolve", RESOLVE) for i in taken]
    return [
        Category("take-charge", 5, take, once=True, headers=headers),
        Category("resolve", 5, resolve, once=True, headers=headers),
    ]


def mixed_plan(desk: Desk, connections: int, baseline: Run, tickets: Category) -> list[Category]:
    """70% reads, 20% deliveries, 10% state changes; send-once lists sized from `baseline`."""
    rate, seconds = baseline.rate, desk.args.seconds
    bodies = desk.deliveries.make(budget(rate, seconds, 0.20, connections))
    deliveries = [("POST", MAILGUN_PATH, body) for body in bodies]
    return [
        dataclasses.replace(queue_page(), weight=35),
        dataclasses.replace(tickets, weight=35),
        Category("delivery", 20, deliveries, once=True, headers={"Content-Type": FORM}),
        *state_changes(desk.url, budget(rate, seconds, 0.05, connections)),
    ]


def mixed(desk: Desk, connections: int, baseline: Run, tickets: Category) -> tuple[Run, int]:
    """The mixed workload at one level, checked against the database; the run and its errors
    (wrk's, answers that were duplicates, and disagreements with the database)."""
    url = desk.url
    last = scalar(url, "SELECT max(id) FROM ticket")
    new_before = scalar(url, BY_STATUS, last=last, status="new")
    resolved_before = scalar(url, BY_STATUS, last=last, status="resolved")
    plan = mixed_plan(desk, connections, baseline, tickets)
    run = desk.run("mixed", plan, connections, baseline)

    def done() -> dict[str, int]:
        return {
            "delivery": scalar(url, NEW_TICKETS, last=last),
            "take-charge": new_before - scalar(url, BY_STATUS, last=last, status="new"),
            "resolve": scalar(url, BY_STATUS, last=last, status="resolved") - resolved_before,
        }

    waited = wait_for(lambda: all(count >= run.sent[kind] for kind, count in done().items()))
    found = done()
    after = "a minute" if waited is None else f"{waited:.1f} s"
    print(
        f"  sent {dict(run.sent)} ({run.unanswered} unanswered when wrk stopped); "
        f"in the database {after} later {found}; deliveries answered new {run.fresh}"
    )
    problems = [f"{run.duplicates} deliveries answered as duplicates"] if run.duplicates else []
    if found != {kind: run.sent[kind] for kind in found}:
        problems.append("the database does not hold one change per request sent, a minute after")
    for problem in problems:
        print(f"  ERROR {problem}")
    wait_for_outbox(url)
    return run, run.errors + len(problems)


@contextmanager
def desk_for(kind: str, args: argparse.Namespace, *, tickets: int, pool: int) -> Iterator[Desk]:
    """A fresh database of `kind` with the history loaded, and a warmed-up server on it."""
    with fresh_database(kind, pg_url=args.pg_url, name=LOAD_DB) as url:
        upgrade(url)
        now = datetime.now(UTC).replace(microsecond=0)
        seconds = load_history(url, count=tickets, pool=pool, now=now, seed=2026)
        print(
            f"{kind}: {tickets:,} tickets of history and {pool:,} recent in {seconds:.1f} s; "
            f"{scalar(url, OPEN):,} open",
            flush=True,
        )
        with Sportello(url, workers=args.workers) as server:
            desk = Desk(kind, url, server, args)
            seed_contract(server.base)
            post_deliveries(server.base, desk.deliveries.make(20))
            wait_for_outbox(url)
            yield desk


def run_database(kind: str, args: argparse.Namespace) -> list[str]:
    """Every level on one database; the verdicts."""
    with desk_for(kind, args, tickets=args.tickets, pool=args.pool) as desk:
        sample = random.Random(7).sample(range(1, args.tickets + 1), min(SAMPLED_IDS, args.tickets))
        tickets = one_ticket(sample)
        run_wrk(desk.server, [queue_page(), tickets], connections=8, threads=1, seconds=1)
        for level in args.levels:
            baseline = desk.run("/healthz", [HEALTHZ], level)
            queue = desk.run("queue page", [queue_page()], level, baseline)
            one = desk.run("one ticket", [tickets], level, baseline)
            run, errors = mixed(desk, level, baseline, tickets)
            if level == JUDGED_AT:
                judge_level(desk, baseline, queue, one, run, errors)
        rss = desk.server.peak_rss_mb()
        desk.judge(rss < RSS_MB, f"peak RSS {rss:.0f} MB (< {RSS_MB:.0f})")
        if JUDGED_AT not in args.levels:
            desk.verdicts.append(f"---- {kind}: not run at {JUDGED_AT} connections, not judged")
        return desk.verdicts


def judge_level(
    desk: Desk, baseline: Run, queue: Run, one: Run, mixed_run: Run, errors: int
) -> None:
    at = f"at {JUDGED_AT} connections"
    ratio = queue.rate / baseline.rate
    p99 = queue.latency_ms["99"]
    desk.judge(
        ratio >= QUEUE_RATIO and p99 < QUEUE_P99_MS and queue.errors == 0,
        f"queue page {at}: {ratio:.3f} of /healthz (>= {QUEUE_RATIO}), p99 {p99:.0f} ms "
        f"(< {QUEUE_P99_MS:.0f}), {queue.errors} errors",
    )
    ratio = one.rate / baseline.rate
    desk.judge(
        ratio >= TICKET_RATIO and one.errors == 0,
        f"one ticket {at}: {ratio:.3f} of /healthz (>= {TICKET_RATIO}), {one.errors} errors",
    )
    p99 = mixed_run.latency_ms["99"]
    valid = mixed_run.invalid is None
    desk.judge(
        errors == 0 and p99 < MIXED_P99_MS and valid,
        f"mixed {at}: {errors} errors (0), p99 {p99:.0f} ms (< {MIXED_P99_MS:.0f})"
        + ("" if valid else f"; INVALID: {mixed_run.invalid}"),
    )


def run_million(args: argparse.Namespace) -> list[str]:
    """The work queue's first page at --size tickets on PostgreSQL."""
    with desk_for("postgresql", args, tickets=args.size, pool=0) as desk:
        desk.name = f"{args.size:,} tickets"
        run_wrk(desk.server, [queue_page()], connections=8, threads=1, seconds=2)
        for connections in (1, MILLION_CONNECTIONS):  # alone: the page's own latency
            baseline = desk.run("/healthz", [HEALTHZ], connections)
            queue = desk.run("queue page", [queue_page()], connections, baseline)
        p99 = queue.latency_ms["99"]
        desk.judge(
            p99 < MILLION_P99_MS and queue.errors == 0,
            f"queue page with {MILLION_CONNECTIONS} connections: p99 {p99:.0f} ms "
            f"(< {MILLION_P99_MS:.0f}), {queue.errors} errors",
        )
        return desk.verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="8,16,32,64", help="connections, comma separated")
    parser.add_argument("--seconds", type=int, default=10, help="per run (default 10)")
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads")
    parser.add_argument("--only", type=comma_choices(SCENARIOS), default=SCENARIOS)
    parser.add_argument("--tickets", type=int, default=10_000, help="history per database")
    parser.add_argument("--pool", type=int, default=1_000, help="recent open tickets besides")
    parser.add_argument("--size", type=int, default=1_000_000, help="tickets for `million`")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="a PostgreSQL server URL")
    args = parser.parse_args()
    args.levels = [int(level) for level in args.levels.split(",")]
    if not 0 < args.seconds <= 240 or min(args.levels) < 1 or args.tickets < 1:
        parser.error("--seconds in (0, 240] (signatures last 5 minutes), levels and --tickets >= 1")

    print(
        f"{args.threads} wrk threads, {args.seconds:g} s a run, {args.workers} server process(es)"
    )
    print(HEADER, flush=True)
    verdicts = []
    for kind in ("sqlite", "postgresql"):
        if kind in args.only:
            verdicts += run_database(kind, args)
    if "million" in args.only:
        verdicts += run_million(args)
    print(GENERATOR_NOTE)
    for verdict in verdicts:
        print(verdict)
    return 0 if not any(v.startswith("MISS") for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
