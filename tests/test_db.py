"""The engines: a pooled PostgreSQL connection that the server closed while it sat idle is
replaced before a request uses it (what a restart or an administrator does between requests)."""

import time

import pytest
from sqlalchemy import text

from app.db import get_engine
from tests.conftest import PG_URL


def _terminate(pid: int) -> None:
    admin = get_engine(PG_URL)
    with admin.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        connection.commit()


def _backend_pid(engine_url: str) -> int:
    with get_engine(engine_url).connect() as connection:
        pid: int = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        return pid


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_connection_closed_by_the_server_while_idle_is_replaced_before_use(database_url):
    url = f"{database_url}?application_name=sportello-test-db"  # an engine of its own
    engine = get_engine(url)
    try:
        first = _backend_pid(url)
        _terminate(first)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the server ends the backend asynchronously
            with get_engine(PG_URL).connect() as admin:
                gone = not admin.execute(
                    text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": first}
                ).first()
            if gone:
                break
            time.sleep(0.05)
        assert gone

        second = _backend_pid(url)  # no OperationalError: the dead one was not handed out

        assert second != first
        assert engine.pool.checkedout() == 0
    finally:
        engine.dispose()
