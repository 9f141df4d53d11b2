"""Engines per URL (SQLite pragmas, PostgreSQL pool) and the unit of work."""

import select
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager, nullcontext
from functools import lru_cache
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session, create_engine

T = TypeVar("T")
SQLITE_BUSY_TIMEOUT_MS = 15_000

# Threads that run endpoints and blocking work (anyio's default is 40). Python code runs on one
# of them at a time (the interpreter lock), and each thread more is one more to hand it to.
# SQLite runs in the process and lets go of the lock at every row it steps through: at 64
# connections on two cores 2 threads served a third more queue pages than 16
# (docs/adr/0009-sqlite-threads-and-reads-after-writers.md). On PostgreSQL a thread waits for
# each round trip, and 4 overlap them: as many reads as 16, a third more deliveries (ADR 0011).
WORKER_THREADS = {"sqlite": 2, "postgresql": 4}
# A connection for each worker thread and each finisher (app.deps: commits and rollbacks on
# PostgreSQL), so a request never waits for one nor opens and closes one per request; a
# process no longer holds 50, which two workers and a migration would not fit in PostgreSQL's
# default 100.
FINISHERS = 8
POOL_SIZE = WORKER_THREADS["postgresql"] + FINISHERS
# SQLite keeps this many connections open (a file each, as many as before ADR 0011 made
# PostgreSQL's pool smaller); more at once are opened and closed as they are used.
SQLITE_KEPT_OPEN = 24
LOCK_TIMEOUT_MS = 15_000


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling is turned off so that we emit BEGIN ourselves:
    # writers take the write lock up front (BEGIN IMMEDIATE) instead of failing late with
    # "database is locked" when a read transaction tries to upgrade.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per database URL, configured for its dialect."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        # A request's session keeps its connection until its answer is validated, on a worker
        # thread of its own for a sync endpoint: with 2 threads, many such answers waiting could
        # hold every connection of a bounded pool while the threads wait for one. SQLite's
        # connections are only open files, so the pool never makes a thread wait.
        pool = {} if in_memory else {"pool_size": SQLITE_KEPT_OPEN, "max_overflow": -1}
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            hide_parameters=True,
            **pool,
        )
        _configure_sqlite(engine)
        return engine
    engine = create_engine(
        url,
        pool_size=POOL_SIZE,
        max_overflow=10,
        pool_recycle=1800,
        # A database error logged with its traceback never shows the values it was given
        # (message bodies, addresses): only the statement.
        hide_parameters=True,
        # No request waits forever for a row lock: after this it fails, and answers 503. The
        # session's time zone is UTC, as everything stored is: instants arrive in UTC, with no
        # conversion by the driver or by app.models.base.UTCDateTime.
        connect_args={"options": f"-c lock_timeout={LOCK_TIMEOUT_MS} -c TimeZone=UTC"},
    )
    _replace_dead_on_checkout(engine)
    return engine


def _replace_dead_on_checkout(engine: Engine) -> None:
    """A pooled connection the server closed while it was idle (a restart, an administrator,
    an idle timeout) is replaced before anyone uses it, as `pool_pre_ping` would, but without
    its round trip: a closed socket, or anything the server sent unasked, is readable. It cost
    a request a fifth of its time (docs/adr/0010-dead-connections-seen-without-a-round-trip.md).
    """

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_connection.closed or dbapi_connection.broken or _readable(dbapi_connection):
            raise DisconnectionError("the server closed this connection while it was idle")


def _readable(dbapi_connection: Any) -> bool:
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def is_sqlite(engine: Engine) -> bool:
    """True for the embedded database."""
    return engine.dialect.name == "sqlite"


@lru_cache(maxsize=8)
def reader(engine: Engine) -> Engine:
    """The same engine for units of work that only read, derived once per engine.

    SQLite: a read transaction does not take the write lock (BEGIN DEFERRED). PostgreSQL: no
    transaction at all (autocommit), which saves a read its BEGIN and ROLLBACK round trips;
    under READ COMMITTED each statement takes its own snapshot inside a transaction too, so
    what a read sees is the same.
    """
    if is_sqlite(engine):
        return engine.execution_options(sqlite_begin="DEFERRED")
    return engine.execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def unit_of_work(engine: Engine, *, read_only: bool = False) -> Iterator[Session]:
    """A session that commits on success and rolls back on error: the one place that commits."""
    bind = reader(engine) if read_only else engine
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            if read_only:
                session.rollback()
            else:
                session.commit()
        except BaseException:
            session.rollback()
            raise


async def committed(
    engine: Engine,
    work: Callable[[Session], T],
    *,
    turn: AbstractAsyncContextManager[Any] | None = None,
) -> T:
    """`work(session)` in a unit of work of its own, on a worker thread, once `turn` is ours.

    `turn` is SQLite's one writer's turn (held on the event loop, not in a thread); the
    runners and what a request commits apart from its own session (a rate-limit hit) use it.
    """
    async with turn or nullcontext():
        return await anyio.to_thread.run_sync(_run_unit, engine, work)


def _run_unit(engine: Engine, work: Callable[[Session], T]) -> T:
    with unit_of_work(engine) as session:
        return work(session)
