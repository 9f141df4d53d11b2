"""What the HTTP benchmarks share: `sportello serve` as a user starts it, and its databases.

- `Sportello`: the server in an empty temporary directory with SPORTELLO_* variables only
  (none inherited from the caller's shell), its log there (shown if it dies), CPU and peak
  memory read from /proc over its processes (more than one with --workers);
- `fresh_database`, `recreate_database`, `libpq`, `PostgresProbe`, `scalar`: the databases;
- `wait_for_outbox`: the in-process outbox worker caught up, so the next figure starts clean;
  `wait_for`: until the database shows what was sent (requests in flight when the load
  stopped are finished by the server all the same).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ADMIN_TOKEN = "bench-admin-" + secrets.token_hex(8)
SIGNING_KEY = "bench-mailgun-signing-key"  # bench/mailgun.py signs with it
READY_TIMEOUT_S = 60.0
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
SPORTELLO = str(Path(sys.executable).parent / "sportello")


# --- the server -----------------------------------------------------------------------------


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


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (uvicorn's workers with --workers N)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            parents.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(parents.get(current, []))
    return found


class Sportello:
    """`sportello serve` in a directory of its own, as a user would start it; ready on return.

    `command` is what runs `serve` (bench/counted_serve.py: the same, counting statements).
    """

    def __init__(
        self,
        database_url: str,
        *,
        name: str = "sportello",
        workers: int = 1,
        extra_env: dict[str, str] | None = None,
        extra_argv: tuple[str, ...] = (),
        command: tuple[str, ...] = (SPORTELLO,),
    ) -> None:
        self.name = name
        self.directory = Path(tempfile.mkdtemp(prefix="sportello-bench-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPORTELLO_")}
        env.update(
            {
                "SPORTELLO_DATABASE_URL": database_url,
                "SPORTELLO_ADMIN_TOKEN": ADMIN_TOKEN,
                "SPORTELLO_MAILGUN_SIGNING_KEY": SIGNING_KEY,
                "SPORTELLO_LOG_LEVEL": "WARNING",
                **(extra_env or {}),
            }
        )
        argv = [*command, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if workers != 1:  # the option's default, so that older code (--before) starts too
            argv += ["--workers", str(workers)]
        argv += extra_argv
        self.log_path = self.directory / "serve.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            argv,
            cwd=self.directory,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self.startup_s = self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> float:
        """Seconds until /readyz answers 200 (migrations done); the log tail if it dies first."""
        began = time.monotonic()
        while time.monotonic() - began < READY_TIMEOUT_S:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited before it was ready (log above)")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + "/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - began
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {READY_TIMEOUT_S:.0f} s:\n{self.tail()}")

    def cpu_seconds(self) -> float:
        """CPU seconds of the server's processes alive now (a worker that exited is lost)."""
        return sum(cpu_seconds(pid) or 0.0 for pid in descendants(self.process.pid))

    def peak_rss_mb(self) -> float:
        """Peak resident memory (VmHWM) in MB, summed over the server's processes."""
        total_kb = 0
        for pid in descendants(self.process.pid):
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        total_kb += int(line.split()[1])
        return total_kb / 1024

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is not None:  # it died on its own: say why
            code = self.process.returncode
            print(f"{self.name} exited ({code}):\n{self.tail()}", file=sys.stderr)
        else:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Sportello:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


# --- databases ------------------------------------------------------------------------------


def libpq(url: URL) -> str:
    """The SQLAlchemy URL as a libpq connection string for plain psycopg."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def bench_database(parser: argparse.ArgumentParser, url: str, name: str) -> tuple[URL, str]:
    """The PostgreSQL server of `url` (else the usage error) and the URL of its database `name`."""
    server = make_url(url)
    if server.get_backend_name() != "postgresql":
        parser.error("--url must be a PostgreSQL URL")
    return server, server.set(database=name).render_as_string(hide_password=False)


def recreate_database(server: URL, name: str, *, drop_only: bool = False) -> None:
    """Drop `name` on the server (closing its sessions) and, unless drop_only, create it."""
    with psycopg.connect(libpq(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


@contextlib.contextmanager
def fresh_database(kind: str, *, pg_url: str, name: str) -> Iterator[str]:
    """The URL of an empty database (`kind` sqlite or postgresql), removed afterwards."""
    if kind == "sqlite":
        directory = tempfile.mkdtemp(prefix="sportello-bench-db-")
        try:
            yield f"sqlite:///{directory}/{name}.db"
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    server = make_url(pg_url)
    recreate_database(server, name)
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with contextlib.suppress(psycopg.Error):
            recreate_database(server, name, drop_only=True)


def scalar(database_url: str, sql: str, **params: Any) -> Any:
    """One value read from the database the server writes (a connection of its own)."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


@dataclass
class PostgresProbe:
    """CPU of the backends serving database `name` on a local server, between start and now.

    CPU is summed per backend from /proc: a backend that starts during the run counts whole;
    one that exits during it is lost (a stable pool keeps them all).
    """

    server: URL
    name: str
    cpu_before: dict[int, float] = field(default_factory=dict)

    @classmethod
    def local(cls, database_url: str) -> PostgresProbe | None:
        """A probe when the database is PostgreSQL on this machine (its /proc readable)."""
        url = make_url(database_url)
        if url.get_backend_name() != "postgresql" or (url.host or "localhost") not in LOCAL_HOSTS:
            return None
        return cls(url.set(database="postgres"), url.database or "")

    def _cpu(self) -> dict[int, float]:
        with psycopg.connect(libpq(self.server), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.name,)
            ).fetchall()
        return {int(pid): s for (pid,) in rows if (s := cpu_seconds(int(pid))) is not None}

    def start(self) -> None:
        self.cpu_before = self._cpu()

    def cpu_since(self) -> float | None:
        """Backend CPU seconds since start() (None when /proc shows none of them)."""
        after = self._cpu()
        if not after:
            return None
        return sum(seconds - self.cpu_before.get(pid, 0.0) for pid, seconds in after.items())


def wait_for_outbox(database_url: str, *, timeout_s: float = 180.0) -> float:
    """Seconds until no email is pending (the server's worker caught up); raises after timeout.

    Each figure then measures its own requests, not the worker still sending the last one's
    emails.
    """
    began = time.monotonic()
    while scalar(database_url, "SELECT count(*) FROM outbox WHERE state = 'pending'"):
        if time.monotonic() - began > timeout_s:
            raise RuntimeError(f"the outbox still has pending emails after {timeout_s:.0f} s")
        time.sleep(0.5)
    return time.monotonic() - began


def wait_for(check: Callable[[], bool], *, timeout_s: float = 60.0) -> float | None:
    """Seconds until `check()` is true (polled every 0.25 s); None after `timeout_s`.

    Requests in flight when the load generator stopped are still finished by the server, its
    answer unread: a check that every request sent is in the database waits for them.
    """
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > timeout_s:
            return None
        time.sleep(0.25)
    return time.monotonic() - began


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def comma_choices(choices: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    """An argparse type: a comma-separated selection among `choices` ('' for none)."""

    def parse(value: str) -> tuple[str, ...]:
        chosen = tuple(part.strip() for part in value.split(",") if part.strip())
        if any(part not in choices for part in chosen):
            raise argparse.ArgumentTypeError(f"choose among {', '.join(choices)}")
        return chosen

    return parse


# --- the runners ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Drained:
    """How long `run_workers` took: to start (until the first row arrived: the processes
    import, connect and claim) and to deliver (from the first row to the last)."""

    starting_s: float
    delivering_s: float


def run_workers(
    database_url: str, workers: int, *, arrived: Callable[[], int], count: int, **env: str
) -> Drained:
    """`workers` × `sportello worker` (as a user starts them, SPORTELLO_* variables only, plus
    `env`) delivering until `arrived()` reaches `count`; a second more is waited so that
    anything sent twice arrives too, then they are stopped as a service manager would."""
    variables = {k: v for k, v in os.environ.items() if not k.startswith("SPORTELLO_")}
    variables.update(
        {
            "SPORTELLO_DATABASE_URL": database_url,
            "SPORTELLO_WORKER_BATCH": "100",
            "SPORTELLO_WORKER_POLL_SECONDS": "0.05",
            "SPORTELLO_LOG_LEVEL": "WARNING",
            **env,
        }
    )
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        first: float | None = None
        processes = [
            subprocess.Popen([SPORTELLO, "worker"], cwd=directory, env=variables)
            for _ in range(workers)
        ]
        try:
            while (got := arrived()) < count:
                if first is None and got:
                    first = time.perf_counter()
                if any(p.poll() is not None for p in processes):
                    raise SystemExit("a worker exited early")
                time.sleep(0.005)
            finished = time.perf_counter()
            time.sleep(1.0)  # anything sent twice would arrive now
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=30)
    first = first or finished
    return Drained(starting_s=first - started, delivering_s=finished - first)


def outbox_states(database_url: str, *, channel: str | None = None) -> dict[str, int]:
    """The outbox's rows by state (of one channel, if given)."""
    where = "WHERE channel = :channel" if channel else ""
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.connect() as connection:
        rows = connection.execute(
            text(f"SELECT state, count(*) FROM outbox {where} GROUP BY 1"), {"channel": channel}
        ).all()
    engine.dispose()
    return {state: count for state, count in rows}
