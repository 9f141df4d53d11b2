"""Engines per URL (SQLite pragmas, PostgreSQL pool) and the unit of work."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from app.errors import ServiceUnavailable

SQLITE_BUSY_TIMEOUT_MS = 15_000
# As many connections as the server has worker threads (anyio's default limit is 40), so a
# request never waits for a connection nor opens and closes one per request.
POOL_SIZE = 40


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

    # One writer at a time, as SQLite allows: this process's writers queue on a lock, woken as
    # soon as it is free, instead of polling inside SQLite's busy handler, whose growing sleeps
    # leave the lock idle and some writers waiting for seconds. Other processes are still kept
    # out by BEGIN IMMEDIATE and the busy timeout. The lock is released at COMMIT/ROLLBACK,
    # which never waits for a worker thread (see app.deps.get_session), so it cannot deadlock.
    writer = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        if mode == "IMMEDIATE":
            if not writer.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
                raise ServiceUnavailable(
                    "The database is busy with other writes; nothing was stored. Retry later.",
                    headers={"Retry-After": "5"},
                )
            connection.info["sqlite_writer"] = True
        try:
            connection.exec_driver_sql(f"BEGIN {mode}")
        except BaseException:
            _release(connection)
            raise

    def _release(connection: Any) -> None:
        if connection.info.pop("sqlite_writer", False):
            writer.release()

    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per database URL, configured for its dialect."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        pool = {} if in_memory else {"pool_size": POOL_SIZE, "max_overflow": 10}
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **pool,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url, pool_size=POOL_SIZE, max_overflow=10, pool_pre_ping=True, pool_recycle=1800
    )


def is_sqlite(engine: Engine) -> bool:
    """True for the embedded database."""
    return engine.dialect.name == "sqlite"


def reader(engine: Engine) -> Engine:
    """The same engine, but SQLite read transactions do not take the write lock."""
    return engine.execution_options(sqlite_begin="DEFERRED")


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
