"""`sportello serve` with a count of the SQL statements the server sends (bench/ingest.py).

Usage: python bench/counted_serve.py COUNTS_PATH [serve options...]

A bench-only hook, not part of the app: before serving, it listens to every engine's
`before_cursor_execute`, `commit` and `rollback` (SQLAlchemy events on the Engine class),
and counts per transaction (from its first statement on a connection to its commit or
rollback) the statements sent. A transaction that records a webhook token is a delivery's.
On SIGUSR1 it writes the counts so far to COUNTS_PATH (JSON, written whole then renamed):
  statements, ends      every statement and every commit or rollback, of all transactions;
  checkouts             connections taken from the pool (on PostgreSQL each is a round trip
                        more: the pool's pre-ping, which SQLAlchemy sends below the events);
  deliveries            the delivery transactions ended (committed or rolled back);
  delivery_statements   the statements those sent, savepoints and BEGIN included;
  delivery_shapes       how many delivery transactions had each sequence of statements
                        (the verb and table of each), to see which statements one sends.
PostgreSQL's BEGIN, which psycopg sends itself before a transaction's first statement, is no
statement SQLAlchemy sees either: a delivery's round trips there are its statements, BEGIN and
COMMIT, and the pre-ping. The server must run with one process (--workers 1): the counts are
this process's.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

DELIVERY_MARK = re.compile(r"INSERT INTO webhook_token\b", re.IGNORECASE)
SHAPE = re.compile(
    r"^\s*(?P<verb>\w+)(?:.*?\b(?:FROM|INTO|UPDATE)\s+(?P<table>[\w\"]+))?", re.S | re.I
)


class Counts:
    """Statements per transaction, by connection; thread-safe (one lock, a few dict updates)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[int, list[str]] = {}  # id(connection) -> the shapes sent so far
        self.statements = 0
        self.ends = 0
        self.checkouts = 0
        self.deliveries = 0
        self.delivery_statements = 0
        self.delivery_shapes: Counter[str] = Counter()

    def statement(self, connection: Any, sql: str) -> None:
        match = SHAPE.match(sql)
        shape = sql[:20] if match is None else " ".join(filter(None, match.groups()))
        if DELIVERY_MARK.search(sql):
            shape = "INSERT webhook_token"
        with self.lock:
            self.statements += 1
            self.open.setdefault(id(connection), []).append(shape.replace('"', ""))

    def end(self, connection: Any) -> None:
        with self.lock:
            self.ends += 1
            shapes = self.open.pop(id(connection), [])
            if "INSERT webhook_token" in shapes:
                self.deliveries += 1
                self.delivery_statements += len(shapes)
                self.delivery_shapes[" | ".join(shapes)] += 1

    def checkout(self) -> None:
        with self.lock:
            self.checkouts += 1

    def write(self, path: Path) -> None:
        with self.lock:
            data = {
                "statements": self.statements,
                "ends": self.ends,
                "checkouts": self.checkouts,
                "deliveries": self.deliveries,
                "delivery_statements": self.delivery_statements,
                "delivery_shapes": dict(self.delivery_shapes),
            }
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(data))
        partial.replace(path)


def install(path: Path) -> Counts:
    counts = Counts()

    @event.listens_for(Engine, "before_cursor_execute")
    def _statement(conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        counts.statement(conn.connection.dbapi_connection, sql)

    @event.listens_for(Engine, "commit")
    def _commit(conn: Any) -> None:
        counts.end(conn.connection.dbapi_connection)

    @event.listens_for(Engine, "rollback")
    def _rollback(conn: Any) -> None:
        counts.end(conn.connection.dbapi_connection)

    @event.listens_for(Pool, "checkout")
    def _checkout(*_: Any) -> None:
        counts.checkout()

    signal.signal(signal.SIGUSR1, lambda *_: counts.write(path))
    return counts


def main() -> None:
    path = Path(sys.argv[1])
    install(path)
    from app.cli import main as sportello  # the server's code: not imported by bench/ingest.py

    sys.argv = ["sportello", *sys.argv[2:]]
    sportello()


def read_counts(pid: int, path: Path, *, timeout_s: float = 10.0) -> dict[str, Any]:
    """The counts of the server `pid` started by main() with `path`, as of now."""
    path.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    began = time.monotonic()
    while not path.exists():
        if time.monotonic() - began > timeout_s:
            raise RuntimeError(f"the server wrote no counts to {path} in {timeout_s:.0f} s")
        time.sleep(0.05)
    counts: dict[str, Any] = json.loads(path.read_text())
    return counts


if __name__ == "__main__":
    main()
