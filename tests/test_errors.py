"""What counts as an outage (503, retry) and what as a bug (500), on errors the real
databases raise (issue 27)."""

import sqlite3

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from app.errors import is_outage


def raised(engine, statement: str) -> DBAPIError:
    with pytest.raises(DBAPIError) as caught, engine.connect() as connection:
        connection.execute(text(statement))
    return caught.value


def test_a_busy_sqlite_file_is_an_outage_and_bad_sql_is_a_bug(tmp_path):
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")  # another writer holds the file
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        assert is_outage(raised(engine, "INSERT INTO t VALUES (1)"))
    finally:
        holder.rollback()
        holder.close()
    assert not is_outage(raised(engine, "SELECT * FROM no_such_table"))
    assert not is_outage(raised(engine, "INSERT INTO t VALUES (1, 2)"))


def test_an_unreachable_postgresql_is_an_outage():
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(DBAPIError) as caught:
        engine.connect()
    assert is_outage(caught.value)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_statement_postgresql_refuses_is_a_bug(database_url):
    engine = create_engine(database_url)
    assert not is_outage(raised(engine, "SELECT * FROM no_such_table"))
    assert not is_outage(raised(engine, "SELECT 1 / 0"))
    engine.dispose()


def test_what_is_no_database_error_is_no_outage():
    assert not is_outage(ValueError("database is locked"))
