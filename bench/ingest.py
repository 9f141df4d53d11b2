"""Benchmark email intake: signed Mailgun deliveries per second against a running server.

Usage: .venv/bin/python bench/ingest.py [--requests N] [--warmup N] [--concurrency C]
                                        [--only trivial,sqlite,postgresql] [--pg-url URL]
                                        [--before PATH]

In one run, on this machine, it starts and loads in turn:
  trivial              bench/trivial_app.py under uvicorn (1 worker): `POST /echo` parses the
                       same urlencoded form and answers {"ok": true}, the ceiling of the stack;
  sportello-sqlite     `sportello serve` (migrate, then 1 uvicorn worker) on a fresh SQLite file;
  sportello-postgresql the same on a fresh PostgreSQL database on the server at --pg-url;
  sportello-*-plain    each again with SPORTELLO_GROUP_COMMIT=false: every delivery commits on
                       its own (what group commit contributes, docs/adr/0001-group-commit.md);
  sportello-*-nofreeze each again with `--no-gc-freeze` (docs/adr/0002-gc-freeze.md);
  sportello-*-before   with --before PATH, each again with the code of another checkout at PATH
                       (PYTHONPATH), e.g. a `git worktree` of the previous commit.
Each Sportello is started as a user would (in a temporary directory, SPORTELLO_* environment),
seeded through the admin API with a customer owning rossi.it and a contract, so that every
delivery takes the realistic path: a new ticket matched to the contract, with its deadline.

The load: one httpx.AsyncClient (keep-alive), C concurrent senders, a warm-up, then N timed
requests. Each delivery is a Mailgun route forward() (~1.5 KB urlencoded) with its own
Message-Id and a fresh single-use token signed with HMAC-SHA256(key, timestamp + token). Every
answer must be 200 with a new ticket; afterwards the database must hold one ticket per delivery,
each on the contract.

Targets: Sportello >= 0.25x the trivial endpoint's rate on SQLite and >= 0.15x on PostgreSQL,
p99 < 100 ms (at 32 senders), no errors; the plain and before variants are for comparison.
The load generator runs on the same cores as the server (the same for every target): its CPU
time per request is printed beside the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg

try:  # httpcore imports sniffio on every lock it makes: without it, each is a failed import
    import sniffio  # noqa: F401  (a filesystem scan, ~0.2 ms of client CPU per request)
except ImportError:
    sys.modules["sniffio"] = None  # type: ignore[assignment]  # fail fast, as httpcore expects
from sqlalchemy.engine import URL, make_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_DB = "sportello_ingest_bench"
SIGNING_KEY = "bench-mailgun-signing-key"
ADMIN_TOKEN = "bench-admin"
MAILGUN_PATH = "/api/v1/inbound/email/mailgun"
TARGETS = ("trivial", "sqlite", "postgresql")
TARGET_RATIO = {"sqlite": 0.25, "postgresql": 0.15}
TARGET_P99_MS = 100.0
READY_TIMEOUT_S = 60.0
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")

PLAIN = (
    "Buongiorno,\r\n\r\n"
    "da questa mattina il sito non risponde: la home page resta bianca e dopo circa trenta "
    "secondi compare un errore 502 Bad Gateway, anche dal pannello di amministrazione. Ieri "
    "sera funzionava ancora tutto e non abbiamo fatto modifiche.\r\n"
    "Potete verificare con urgenza? Abbiamo una campagna in partenza domani mattina.\r\n\r\n"
    "Grazie,\r\nMario Rossi\r\nRossi S.r.l. - Ufficio commerciale\r\nTel. 02 1234567\r\n"
)
STRIPPED = PLAIN.split("\r\n\r\nGrazie,")[0].removeprefix("Buongiorno,\r\n\r\n")
HTML = '<div dir="ltr"><p>Buongiorno,</p><p>{}</p><p>Grazie,<br>Mario Rossi</p></div>'.format(
    STRIPPED.replace("\r\n", "<br>")
)


# --- the deliveries -------------------------------------------------------------------------


def mailgun_delivery(run: str, n: int, *, key: str = SIGNING_KEY) -> bytes:
    """One signed Mailgun forward(), urlencoded: its own Message-Id and single-use token."""
    now = datetime.now(UTC)
    timestamp = str(int(now.timestamp()))
    token = secrets.token_hex(25)  # 50 hex characters, as Mailgun's
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    message_id = f"<bench-{run}-{n}@rossi.it>"
    subject = f"Il sito non risponde (segnalazione {n})"
    sender = "Mario Rossi <mario@rossi.it>"
    headers = [
        ["X-Mailgun-Incoming", "Yes"],
        ["Mime-Version", "1.0"],
        ["From", sender],
        ["Date", format_datetime(now)],
        ["Message-Id", message_id],
        ["Subject", subject],
        ["To", "Assistenza <assistenza@sportello.example>"],
        ["Content-Type", 'multipart/alternative; boundary="000000000000b1c2d3"'],
    ]
    fields = [
        ("recipient", "assistenza@sportello.example"),
        ("sender", "mario@rossi.it"),
        ("from", sender),
        ("subject", subject),
        ("body-plain", PLAIN),
        ("stripped-text", STRIPPED),
        ("body-html", HTML),
        ("Message-Id", message_id),
        ("message-headers", json.dumps(headers)),
        ("timestamp", timestamp),
        ("token", token),
        ("signature", signature),
    ]
    return urlencode(fields).encode("ascii")


def delivery_maker(run: str) -> Callable[[int], list[bytes]]:
    """`count` more deliveries, numbered on from the last batch (each Message-Id unique)."""
    made = 0

    def make(count: int) -> list[bytes]:
        nonlocal made
        bodies = [mailgun_delivery(run, made + n) for n in range(count)]
        made += count
        return bodies

    return make


# --- the load -------------------------------------------------------------------------------


@dataclass
class Result:
    """What one target did under load."""

    name: str
    requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    error_example: str = ""
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    client_cpu_s: float = 0.0
    server_cpu_s: float | None = None
    db_cpu_s: float | None = None
    ticket_ids: set[int] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the latencies, in ms."""
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1]

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


Check = Callable[[httpx.Response, Result], str | None]


def check_trivial(response: httpx.Response, _result: Result) -> str | None:
    if response.status_code != 200 or response.json() != {"ok": True}:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    return None


def check_ticket(response: httpx.Response, result: Result) -> str | None:
    """200 with a new ticket (never a duplicate, never one seen before in this run)."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    answer = response.json()
    if answer.get("duplicate") is not False or not answer.get("ticket_number"):
        return f"unexpected answer: {answer}"
    if answer["ticket_id"] in result.ticket_ids:
        return f"ticket {answer['ticket_id']} answered twice"
    result.ticket_ids.add(answer["ticket_id"])
    return None


async def load(
    clients: list[httpx.AsyncClient],
    url: str,
    bodies: list[bytes],
    *,
    check: Check,
    result: Result,
    record: bool,
) -> float:
    """Send `bodies`, one sender per client (or all on one); the wall-clock seconds it took."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    pending = iter(bodies)

    async def sender(client: httpx.AsyncClient) -> None:
        for body in pending:
            began = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers=headers)
                elapsed_ms = (time.perf_counter() - began) * 1000
                problem = check(response, result)
            except (httpx.HTTPError, ValueError) as exc:
                elapsed_ms = (time.perf_counter() - began) * 1000
                problem = f"{type(exc).__name__}: {exc}"
            if not record:
                continue
            result.requests += 1
            result.latencies_ms.append(elapsed_ms)
            if problem is not None:
                result.errors[problem.split(":")[0]] += 1
                result.error_example = result.error_example or problem

    began = time.perf_counter()
    await asyncio.gather(*(sender(client) for client in clients))
    return time.perf_counter() - began


async def measure(
    name: str,
    url: str,
    make_bodies: Callable[[int], list[bytes]],
    *,
    args: argparse.Namespace,
    check: Check,
    server_cpu: Callable[[], float | None],
    db: PostgresProbe | None = None,
) -> Result:
    """Warm up, then time `requests` deliveries; CPU seconds of the server (and database).

    Bodies are made (and signed) just before each phase, so that the sender's CPU in the timed
    phase is HTTP only; a phase lasts far less than the 5 minutes a Mailgun timestamp stays fresh.
    """
    result = Result(name)
    timeout = httpx.Timeout(60.0)
    concurrency = args.concurrency
    if args.shared_client:  # httpcore's pool scans every connection per request: O(C) each
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        shared = httpx.AsyncClient(limits=limits, timeout=timeout)
        clients = [shared] * concurrency
    else:  # one keep-alive connection per sender, as 32 independent senders would hold
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        clients = [httpx.AsyncClient(limits=limits, timeout=timeout) for _ in range(concurrency)]
    try:
        warm = Result(name)
        await load(clients, url, make_bodies(args.warmup), check=check, result=warm, record=False)
        result.ticket_ids = warm.ticket_ids
        bodies = make_bodies(args.requests)
        server_before = server_cpu()
        if db is not None:
            db.start()
        client_before = time.process_time()
        result.seconds = await load(clients, url, bodies, check=check, result=result, record=True)
        result.client_cpu_s = time.process_time() - client_before
        server_after = server_cpu()
        if db is not None:
            result.db_cpu_s = db.cpu_since()
    finally:
        for client in set(clients):
            await client.aclose()
    if server_before is not None and server_after is not None:
        result.server_cpu_s = server_after - server_before
    return result


def run_async(coroutine: Any) -> Any:
    """Run on uvloop when it is there (less client overhead), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process, from /proc (None where unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """A server process, its log in the temporary directory; terminated on exit."""

    def __init__(
        self, name: str, argv: list[str], *, cwd: Path, env: dict[str, str], log: Path, port: int
    ) -> None:
        self.name, self.port, self.log_path = name, port, log
        self.base = f"http://127.0.0.1:{port}"
        self.log = log.open("wb")
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, path: str = "/readyz") -> float:
        """Seconds until GET `path` answers 200; the log tail if the server dies first."""
        began = time.monotonic()
        while time.monotonic() - began < READY_TIMEOUT_S:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.process.returncode}):\n{self.tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + path, timeout=2).status_code == 200:
                    return time.monotonic() - began
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {READY_TIMEOUT_S:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


# --- PostgreSQL -----------------------------------------------------------------------------


def libpq(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def recreate_database(server: URL, name: str, *, drop_only: bool = False) -> None:
    with psycopg.connect(libpq(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


@dataclass
class PostgresProbe:
    """The backends serving database `name` on a local server: their CPU, the sessions opened.

    CPU is summed per backend from /proc (a backend that starts during the run counts whole; one
    that exits during it is lost, hence `sessions`: pg_stat_database's count of connections
    made, which shows a pool that keeps opening and closing them).
    """

    server: URL
    name: str
    cpu_before: dict[int, float] = field(default_factory=dict)
    sessions_before: int = 0

    def _query(self) -> tuple[dict[int, float], int]:
        with psycopg.connect(libpq(self.server), autocommit=True) as conn:
            pids = [
                int(row[0])
                for row in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.name,)
                )
            ]
            row = conn.execute(
                "SELECT sessions FROM pg_stat_database WHERE datname = %s", (self.name,)
            ).fetchone()
        cpu = {pid: seconds for pid in pids if (seconds := cpu_seconds(pid)) is not None}
        return cpu, int(row[0]) if row and row[0] is not None else 0

    def start(self) -> None:
        self.cpu_before, self.sessions_before = self._query()

    def cpu_since(self) -> float | None:
        """Backend CPU seconds since start() (None when /proc shows none of them)."""
        after, _ = self._query()
        if not after:
            return None
        return sum(seconds - self.cpu_before.get(pid, 0.0) for pid, seconds in after.items())

    def sessions_since(self) -> int:
        """Connections made since start(); read once the server is stopped (stats flushed)."""
        time.sleep(1.0)
        return self._query()[1] - self.sessions_before


# --- the targets ----------------------------------------------------------------------------


def bench_trivial(args: argparse.Namespace, tmp: Path, run: str) -> Result:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "bench.trivial_app:app", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = Server("trivial", argv, cwd=ROOT, env=env, log=tmp / "trivial.log", port=port)
    try:
        server.wait_ready()
        result = run_async(
            measure(
                "trivial",
                server.base + "/echo",
                delivery_maker(run),
                args=args,
                check=check_trivial,
                server_cpu=lambda: cpu_seconds(server.process.pid),
            )
        )
    finally:
        server.stop()
    return result


def seed(base: str) -> int:
    """A customer owning rossi.it and its contract; the contract's id."""
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
        customer = client.post(
            "/api/v1/customers", json={"name": "Rossi", "email_domains": ["rossi.it"]}
        )
        customer.raise_for_status()
        contract = client.post(
            "/api/v1/contracts",
            json={
                "customer_id": customer.json()["id"],
                "code": "R",
                "starts_on": "2026-01-01",
                "annual_fee": "1200.00",
            },
        )
        contract.raise_for_status()
        return int(contract.json()["id"])


def count_tickets(url: str, contract_id: int) -> tuple[int, int]:
    """(tickets, tickets on the contract) in the database the server wrote."""
    query = "SELECT count(*), count(*) FILTER (WHERE contract_id = {}) FROM ticket"
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        with contextlib.closing(sqlite3.connect(parsed.database or "")) as conn:
            row = conn.execute(query.format(int(contract_id))).fetchone()
    else:
        with psycopg.connect(libpq(parsed)) as conn:
            row = conn.execute(query.format(int(contract_id))).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def bench_sportello(
    kind: str,
    database_url: str,
    args: argparse.Namespace,
    tmp: Path,
    run: str,
    *,
    variant: str = "",
    extra_env: dict[str, str] | None = None,
    extra_argv: tuple[str, ...] = (),
) -> Result:
    name = f"sportello-{kind}{variant}"
    port = free_port()
    argv = [str(Path(sys.executable).parent / "sportello"), "serve", "--host", "127.0.0.1"]
    argv += ["--port", str(port), *extra_argv]
    env = {
        **os.environ,
        "SPORTELLO_DATABASE_URL": database_url,
        "SPORTELLO_MAILGUN_SIGNING_KEY": SIGNING_KEY,
        "SPORTELLO_ADMIN_TOKEN": ADMIN_TOKEN,
        "SPORTELLO_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    workdir = tmp / f"{kind}{variant}"
    workdir.mkdir()
    log = tmp / f"{kind}{variant}.log"
    server = Server(name, argv, cwd=workdir, env=env, log=log, port=port)
    probe = None
    if kind == "postgresql" and (make_url(args.pg_url).host or "localhost") in LOCAL_HOSTS:
        probe = PostgresProbe(make_url(args.pg_url), BENCH_DB)
    try:
        startup = server.wait_ready()
        contract_id = seed(server.base)
        result = run_async(
            measure(
                name,
                server.base + MAILGUN_PATH,
                delivery_maker(run),
                args=args,
                check=check_ticket,
                server_cpu=lambda: cpu_seconds(server.process.pid),
                db=probe,
            )
        )
        result.notes.append(f"migrate + start {startup:.1f} s")
    finally:
        server.stop()
    if probe is not None:
        result.notes.append(
            f"PostgreSQL connections opened during the timed phase ~{probe.sessions_since()} "
            "(0 means a stable pool); db CPU counts only backends alive at the end"
        )
    stored, on_contract = count_tickets(database_url, contract_id)
    expected = args.warmup + args.requests - result.error_count
    result.notes.append(
        f"tickets stored {stored} (expected {expected}), on the contract {on_contract}"
    )
    if stored != expected or on_contract != stored:
        result.errors["database check"] += 1
        result.error_example = result.error_example or result.notes[-1]
    return result


# --- the report -----------------------------------------------------------------------------


def report(results: dict[str, Result], args: argparse.Namespace) -> bool:
    cores = os.cpu_count()
    print(
        f"\n{args.requests} timed requests per target after {args.warmup} warm-up, "
        f"{args.concurrency} concurrent senders, 1 uvicorn worker, {cores} CPU cores"
    )
    print(
        "note: the load generator (this process: httpx + uvloop) shares the cores with the server"
        " and the database; the same for every target. CPU columns are per request."
    )
    head = (
        f"{'target':<22}{'requests':>9}{'errors':>7}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'max ms':>9}{'client':>9}{'server':>9}{'db':>8}"
    )
    print(head)
    print("-" * len(head))

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    for result in results.values():
        per = 1000 / result.requests if result.requests else 0.0
        print(
            f"{result.name:<22}{result.requests:>9}{result.error_count:>7}{result.rate:>9.1f}"
            f"{result.percentile(50):>9.1f}{result.percentile(99):>9.1f}"
            f"{max(result.latencies_ms, default=float('nan')):>9.1f}"
            f"{ms(result.client_cpu_s * per):>9}"
            f"{ms(None if result.server_cpu_s is None else result.server_cpu_s * per):>9}"
            f"{ms(None if result.db_cpu_s is None else result.db_cpu_s * per):>8}"
        )
    for result in results.values():
        for note in result.notes:
            print(f"  {result.name}: {note}")
        if result.errors:
            print(f"  {result.name}: errors {dict(result.errors)}; first: {result.error_example}")

    if len(results) > ("trivial" in results):
        print(
            f"note: {args.concurrency} closed-loop senders keep {args.concurrency} requests in "
            f"flight, so mean latency = {args.concurrency} / rate (Little's law): p99 < "
            f"{TARGET_P99_MS:.0f} ms needs well over {args.concurrency / TARGET_P99_MS * 1000:.0f}"
            " req/s."
        )
    trivial = results.get("trivial")
    met = all(r.error_count == 0 for r in results.values())
    for key, result in results.items():
        if key == "trivial":
            continue
        kind, _, variant = key.partition("-")
        target = TARGET_RATIO[kind]
        p99 = result.percentile(99)
        p99_ok = p99 < TARGET_P99_MS
        if trivial is not None and trivial.rate:
            ratio = result.rate / trivial.rate
            ratio_ok = ratio >= target
            ratio_text = f"ratio {result.name}/trivial = {ratio:.3f} (target >= {target})"
        else:
            ratio_ok, ratio_text = False, "ratio not measured (trivial not run), counts as"
        if variant:  # for comparison only
            verdict = "(compare)"
        else:
            verdict = "PASS" if ratio_ok and p99_ok and result.error_count == 0 else "FAIL"
            met = met and verdict == "PASS"
        print(
            f"{verdict} {ratio_text} {'ok' if ratio_ok else 'MISSED'}; "
            f"p99 {p99:.1f} ms (target < {TARGET_P99_MS:.0f}) {'ok' if p99_ok else 'MISSED'}; "
            f"errors {result.error_count}"
        )
    print("targets met" if met else "TARGETS NOT MET")
    return met


def parse_only(value: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [part for part in chosen if part not in TARGETS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(TARGETS)} (comma separated)")
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per target")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests first")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent senders")
    parser.add_argument(
        "--only", type=parse_only, default=TARGETS, help="trivial,sqlite,postgresql (default all)"
    )
    parser.add_argument(
        "--shared-client",
        action="store_true",
        help="all senders on one AsyncClient pool (httpcore then costs O(C) CPU per request)",
    )
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="a PostgreSQL server URL")
    parser.add_argument("--before", help="another checkout to measure beside this one")
    args = parser.parse_args()
    if args.requests < 1 or args.warmup < 0 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be positive, --warmup not negative")

    run = secrets.token_hex(4)
    tmp = Path(tempfile.mkdtemp(prefix="sportello-ingest-bench-"))
    pg_server = make_url(args.pg_url)
    results: dict[str, Result] = {}
    variants: list[tuple[str, dict[str, str], tuple[str, ...]]] = [
        ("", {}, ()),
        ("-plain", {"SPORTELLO_GROUP_COMMIT": "false"}, ()),
        ("-nofreeze", {}, ("--no-gc-freeze",)),
    ]
    if args.before:
        variants.append(("-before", {"PYTHONPATH": str(Path(args.before).resolve())}, ()))
    try:
        for target in (t for t in TARGETS if t in args.only):
            if target == "trivial":
                print(f"{target}: running...", flush=True)
                results[target] = bench_trivial(args, tmp, run)
                continue
            for variant, extra_env, extra_argv in variants:
                print(f"{target}{variant}: running...", flush=True)
                if target == "sqlite":
                    url = f"sqlite:///{tmp / f'bench{variant}.db'}"
                else:
                    recreate_database(pg_server, BENCH_DB)
                    url = pg_server.set(database=BENCH_DB).render_as_string(hide_password=False)
                results[f"{target}{variant}"] = bench_sportello(
                    target,
                    url,
                    args,
                    tmp,
                    run,
                    variant=variant,
                    extra_env=extra_env,
                    extra_argv=extra_argv,
                )
    finally:
        if "postgresql" in args.only:
            with contextlib.suppress(psycopg.Error):
                recreate_database(pg_server, BENCH_DB, drop_only=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if report(results, args) else 1


if __name__ == "__main__":
    sys.exit(main())
