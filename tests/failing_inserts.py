"""Inserts into a table that fail until the end of a block: a bug in our code, not an outage."""

import contextlib
from collections.abc import Iterator

from sqlalchemy import text

from app.db import get_engine


@contextlib.contextmanager
def failing_inserts(db: str, table: str, *, error: str) -> Iterator[None]:
    """Every insert into `table` fails with `error` (a trigger) until the block ends."""
    engine = get_engine(db)
    postgresql = engine.dialect.name == "postgresql"
    name = f"fail_{table}"
    with engine.begin() as connection:
        if postgresql:
            connection.execute(
                text(
                    f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN "
                    f"RAISE EXCEPTION '{error}'; END $$ LANGUAGE plpgsql"
                )
            )
            connection.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE INSERT ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION {name}()"
                )
            )
        else:
            # A pooled SQLite connection may still hold the schema it read before another one
            # dropped this trigger, and CREATE checks that copy ("already exists"): reading the
            # schema first makes the connection read it again.
            connection.execute(text("SELECT count(*) FROM sqlite_master"))
            connection.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE INSERT ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{error}'); END"
                )
            )
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(
                text(f"DROP TRIGGER {name}" + (f" ON {table}" if postgresql else ""))
            )
            if postgresql:
                connection.execute(text(f"DROP FUNCTION {name}()"))
