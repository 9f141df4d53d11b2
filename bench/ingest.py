"""Benchmark email intake: signed Mailgun deliveries per second, driven by wrk.

Usage: .venv/bin/python bench/ingest.py [--seconds 10] [--connections 32] [--threads 2]
                                        [--only sqlite,postgresql]
                                        [--pg-url URL] [--before PATH] [--deliveries N]

For each database (a fresh SQLite file; a fresh PostgreSQL database on the server at --pg-url)
it starts `sportello serve` (one process) as a user would (bench/harness.py), seeds through the
admin API a customer owning rossi.it with a contract, so that every delivery takes the
realistic path (a new ticket on the contract, with its deadline, and a receipt), sends 50
deliveries to warm up and waits for their receipts. Then, with the same generator (wrk,
bench/wrk.py and bench/plan.lua), the same connections and threads, for --seconds each:
  1. GET /healthz: the baseline, the stack alone;
  2. signed Mailgun deliveries (a route's forward(), ~1.5 KB urlencoded), each sent once:
     generated right before the run (each its own Message-Id and single-use token, signed
     HMAC-SHA256(key, timestamp + token); the server takes a signature for 5 minutes, a token
     once), as many as /healthz's rate could send and more (no delivery costs the server less
     than /healthz), so that the run cannot use them up.
Afterwards the database must hold one new ticket on the contract per delivery sent, within a
minute (a request in flight when wrk stopped is finished by the server all the same, its
answer unread): otherwise the run counts as an error.

The cost of one delivery, which the machine's load does not change as it changes rates:
  - CPU ms per request: the server's user + system CPU time (/proc) over a run, divided by the
    requests answered, for /healthz and for deliveries, and their ratio; for deliveries also
    up to the outbox drained (the receipts rendered and written: the whole cost), divided by
    the deliveries sent;
  - SQL statements: the server runs under bench/counted_serve.py, which counts the statements
    of each delivery's transaction (savepoint and BEGIN included; commits apart), and every
    statement the process sent (the receipts' too), per delivery, and shows which ones one
    delivery sends.

With --before PATH, the code of another checkout (PYTHONPATH; e.g. a `git worktree` of an
older commit) is measured too, with a server and a baseline of its own, in the same run.

Targets (32 connections, one server process): deliveries >= 0.10 of /healthz's rate on SQLite
and on PostgreSQL, p99 < 1 s, 0 errors; the older checkout is for comparison.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from counted_serve import read_counts
from harness import (  # bench/ is the script's directory, so on sys.path
    DEFAULT_PG_URL,
    PostgresProbe,
    Sportello,
    comma_choices,
    fresh_database,
    scalar,
    wait_for,
    wait_for_outbox,
)
from mailgun import FORM, MAILGUN_PATH, Deliveries, post_deliveries, seed_contract
from wrk import GENERATOR_NOTE, HEADER, HEALTHZ, Category, Run, budget, line, run_wrk

DATABASES = ("sqlite", "postgresql")
BENCH_DB = "sportello_ingest_bench"
TARGET_RATIO, TARGET_P99_MS = 0.10, 1000.0
WARMUP = 50
MAX_SECONDS = 240  # a signature is accepted for 5 minutes after it is made
COUNTED_SERVE = (sys.executable, str(Path(__file__).resolve().parent / "counted_serve.py"))
COUNTS = "sql-counts.json"  # in the server's directory (its working directory)


@dataclass
class Figures:
    """One server's baseline and deliveries, and the database's account of them."""

    name: str
    baseline: Run
    deliveries: Run
    db_cpu_s: float | None
    rss_mb: float
    stored: int
    on_contract: int
    waited_s: float | None  # until every delivery sent was stored; None: it never was
    drained_cpu_s: float  # the server's CPU from the deliveries' start to the outbox drained
    sql: dict[str, Any]  # bench/counted_serve.py's counts over the same span (differences)
    held: int  # emails the outbox holds back (the loop guard): none when every receipt is sent

    def cpu_ms(self, run: Run) -> float:
        return 1000 * run.server_cpu_s / run.requests if run.requests else 0.0

    @property
    def drained_cpu_ms(self) -> float:
        sent = self.deliveries.sent["delivery"]
        return 1000 * self.drained_cpu_s / sent if sent else 0.0

    @property
    def problems(self) -> list[str]:
        """What makes the deliveries' figure wrong or unfinished, beside wrk's errors."""
        run, found = self.deliveries, []
        if run.invalid:
            found.append(run.invalid)
        if run.duplicates:
            found.append(f"{run.duplicates} answered as duplicates (every Message-Id is new)")
        sent = run.sent["delivery"]
        if self.stored != sent or self.on_contract != self.stored:  # stored >= answered
            found.append(
                f"database: {self.stored} tickets stored ({self.on_contract} on the contract) "
                f"for {sent} deliveries sent ({run.fresh} answered), a minute after the run"
            )
        return found

    @property
    def errors(self) -> int:
        return self.deliveries.errors + len(self.problems)


def measure(
    name: str,
    database_url: str,
    args: argparse.Namespace,
    *,
    env: dict[str, str],
    argv: tuple[str, ...],
) -> Figures:
    deliveries = Deliveries()
    counted = (*COUNTED_SERVE, COUNTS)
    with Sportello(
        database_url, name=name, extra_env=env, extra_argv=argv, command=counted
    ) as server:
        contract_id = seed_contract(server.base)
        post_deliveries(server.base, deliveries.make(WARMUP))
        wait_for_outbox(database_url)
        shape = {"connections": args.connections, "threads": args.threads, "seconds": args.seconds}
        baseline = run_wrk(server, [HEALTHZ], **shape)
        count = args.deliveries or budget(baseline.rate, args.seconds, 1.0, args.connections)
        requests = [("POST", MAILGUN_PATH, body) for body in deliveries.make(count)]
        plan = [Category("delivery", 1, requests, once=True, headers={"Content-Type": FORM})]
        last_id = scalar(database_url, "SELECT max(id) FROM ticket")
        probe = PostgresProbe.local(database_url)
        if probe is not None:
            probe.start()
        counts_before, cpu_before = (
            read_counts(server.process.pid, server.directory / COUNTS),
            server.cpu_seconds(),
        )
        run = run_wrk(server, plan, **shape)
        db_cpu = probe.cpu_since() if probe is not None else None
        new = "SELECT count(*) FROM ticket WHERE id > :last"
        sent = run.sent["delivery"]
        waited = wait_for(lambda: scalar(database_url, new, last=last_id) >= sent)
        wait_for_outbox(database_url)
        drained_cpu = server.cpu_seconds() - cpu_before
        sql = difference(read_counts(server.process.pid, server.directory / COUNTS), counts_before)
        stored = scalar(database_url, new, last=last_id)
        on_contract = scalar(
            database_url, f"{new} AND contract_id = :contract", last=last_id, contract=contract_id
        )
        rss = server.peak_rss_mb()
        held = scalar(database_url, "SELECT count(*) FROM outbox WHERE state = 'held'")
    return Figures(
        name, baseline, run, db_cpu, rss, stored, on_contract, waited, drained_cpu, sql, held
    )


def difference(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """What the server counted between two readings."""
    shapes = Counter(after["delivery_shapes"])
    shapes.subtract(before["delivery_shapes"])
    return {
        **{key: after[key] - before[key] for key in after if key != "delivery_shapes"},
        "delivery_shapes": +shapes,
    }


def report(figures: Figures, connections: int) -> None:
    print(line(f"{figures.name} /healthz", connections, figures.baseline), flush=True)
    print(
        line(
            f"{figures.name} deliveries",
            connections,
            figures.deliveries,
            baseline=figures.baseline,
            db_cpu_s=figures.db_cpu_s,
            rss_mb=figures.rss_mb,
        ),
        flush=True,
    )
    run = figures.deliveries
    print(
        f"  {run.sent['delivery']} deliveries sent, {run.fresh} answered with a new ticket, "
        f"{figures.stored} tickets stored ({figures.on_contract} on the contract)"
        + ("" if figures.waited_s is None else f" {figures.waited_s:.1f} s after the run")
        + f"; {figures.held} emails held; {run.describe_errors()}"
    )
    for problem in figures.problems:
        print(f"  ERROR {problem}")
    healthz_ms, delivery_ms = figures.cpu_ms(figures.baseline), figures.cpu_ms(run)
    print(
        f"  server CPU per request: /healthz {healthz_ms:.3f} ms, delivery {delivery_ms:.2f} ms "
        f"(x{delivery_ms / healthz_ms:.1f} /healthz's: its rate ceiling "
        f"{healthz_ms / delivery_ms:.3f}), {figures.drained_cpu_ms:.2f} ms with its receipt "
        f"(until the outbox drained)"
        if healthz_ms and delivery_ms
        else "  server CPU per request: no requests"
    )
    sql, sent = figures.sql, run.sent["delivery"]
    if sql["deliveries"] and sent:
        print(
            f"  SQL: {sql['delivery_statements'] / sql['deliveries']:.1f} statements in a "
            f"delivery's transaction ({sql['deliveries']} transactions), "
            f"{sql['statements'] / sent:.1f} statements, {sql['ends'] / sent:.1f} "
            f"commits or rollbacks and {sql['checkouts'] / sent:.1f} pool checkouts per "
            "delivery in all (receipts included)"
        )
        shape, times = sql["delivery_shapes"].most_common(1)[0]
        print(f"  one delivery's statements ({times} times): {shape}")


def verdict(figures: Figures) -> bool:
    run = figures.deliveries
    ratio = run.rate / figures.baseline.rate if figures.baseline.rate else 0.0
    p99 = run.latency_ms["99"]
    met = ratio >= TARGET_RATIO and p99 < TARGET_P99_MS and figures.errors == 0
    print(
        f"{'PASS' if met else 'MISS'} {figures.name}: deliveries {ratio:.3f} of /healthz's rate "
        f"(>= {TARGET_RATIO}), p99 {p99:.0f} ms (< {TARGET_P99_MS:.0f}), "
        f"{figures.errors} errors (0)"
    )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="per run (default 10)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads")
    parser.add_argument("--only", type=comma_choices(DATABASES), default=DATABASES)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="a PostgreSQL server URL")
    parser.add_argument("--before", help="another checkout whose code to measure beside this")
    parser.add_argument("--deliveries", type=int, help="how many to generate (default: sized)")
    args = parser.parse_args()
    if not 0 < args.seconds <= MAX_SECONDS or args.connections < 1 or args.threads < 1:
        parser.error(f"--seconds in (0, {MAX_SECONDS}], --connections and --threads positive")

    runs: list[tuple[str, dict[str, str], tuple[str, ...]]] = [("", {}, ())]
    if args.before:
        runs.append(("-before", {"PYTHONPATH": str(Path(args.before).resolve())}, ()))
    print(f"{args.connections} connections, {args.threads} wrk threads, {args.seconds:g} s a run")
    print(HEADER, flush=True)
    verdicts = []
    for kind in args.only:
        for suffix, env, argv in runs:
            with fresh_database(kind, pg_url=args.pg_url, name=BENCH_DB) as url:
                figures = measure(f"{kind}{suffix}", url, args, env=env, argv=argv)
            report(figures, args.connections)
            if not suffix:
                verdicts.append(figures)
    print(GENERATOR_NOTE)
    met = [verdict(figures) for figures in verdicts]
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
