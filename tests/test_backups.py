"""Backups of a SQLite database: what `sportello restore` refuses, and a backup's round trip
(the copy under writes is tests/system/test_backup.py)."""

import os
import sqlite3
import stat
from contextlib import closing
from datetime import UTC, datetime

import pytest

from app import backups, migrations


@pytest.fixture
def database(tmp_path):
    url = f"sqlite:///{tmp_path / 'live' / 'sportello.db'}"
    (tmp_path / "live").mkdir()
    migrations.upgrade(url)
    return url


def test_a_backup_then_a_restore_keeps_the_database_it_replaces(database, tmp_path):
    copy = backups.backup(database, tmp_path / "copy.db")
    assert copy.tickets == 0 and copy.revision
    assert not (tmp_path / "copy.db.partial").exists()
    now = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    restored = backups.restore(tmp_path / "copy.db", database, now=now)
    assert restored.revision == copy.revision
    assert (tmp_path / "live" / "sportello.db.before-restore-20261207T093000Z").is_file()


def test_a_backup_is_readable_by_its_owner_only(database, tmp_path):
    """A backup holds every message and sealed secret: 0600 whatever the umask."""
    previous = os.umask(0o022)
    try:
        backups.backup(database, tmp_path / "copy.db")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "copy.db").stat().st_mode) == 0o600


@pytest.mark.parametrize("spelling", ["same", "dotted", "linked"])
def test_a_backup_onto_the_live_database_is_refused(database, tmp_path, spelling):
    live = tmp_path / "live" / "sportello.db"
    target = {
        "same": live,
        "dotted": tmp_path / "live" / ".." / "live" / "sportello.db",
        "linked": tmp_path / "link.db",
    }[spelling]
    if spelling == "linked":
        target.symlink_to(live)
    before = live.read_bytes()
    with pytest.raises(backups.BackupProblem, match="is the database itself"):
        backups.backup(database, target)
    assert live.read_bytes() == before
    assert not live.with_name("sportello.db.partial").exists()


def test_postgresql_is_left_to_pg_dump(tmp_path):
    with pytest.raises(backups.BackupProblem, match="pg_dump and pg_restore"):
        backups.backup("postgresql+psycopg://postgres@127.0.0.1/x", tmp_path / "copy.db")


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda path: path.write_bytes(b"not a database\r\n" * 64), "not a whole Sportello"),
        (lambda path: path.write_bytes(path.read_bytes()[:8192]), "not a whole Sportello"),
        (
            lambda path: _sql(path, "UPDATE alembic_version SET version_num = '9999'"),
            "schema 9999, unknown to this release",
        ),
        (lambda path: _sql(path, "DROP TABLE ticket"), "not a whole Sportello"),
    ],
)
def test_a_damaged_or_foreign_copy_is_refused_and_nothing_is_replaced(
    database, tmp_path, damage, says
):
    backups.backup(database, tmp_path / "copy.db")
    damage(tmp_path / "copy.db")
    before = (tmp_path / "live" / "sportello.db").read_bytes()
    with pytest.raises(backups.BackupProblem, match=says):
        backups.restore(tmp_path / "copy.db", database)
    assert (tmp_path / "live" / "sportello.db").read_bytes() == before
    assert not (tmp_path / "live" / "sportello.db.partial").exists()


def _sql(path, statement: str) -> None:
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(statement)
        connection.commit()


def test_a_database_in_use_is_not_replaced_unless_forced(database, tmp_path):
    backups.backup(database, tmp_path / "copy.db")
    with closing(sqlite3.connect(tmp_path / "live" / "sportello.db")) as server:
        server.execute("PRAGMA journal_mode=WAL")
        server.execute("SELECT count(*) FROM ticket").fetchall()
        with pytest.raises(backups.BackupProblem, match="seems to be in use"):
            backups.restore(tmp_path / "copy.db", database)
    (tmp_path / "live" / "sportello.db-wal").write_bytes(b"")  # left by a killed process
    backups.restore(tmp_path / "copy.db", database, force=True)
    assert not (tmp_path / "live" / "sportello.db-wal").exists()
