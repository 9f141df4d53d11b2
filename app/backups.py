"""Backups of a SQLite database (`sportello backup`, `sportello restore`).

A backup is a consistent copy taken while the server runs: SQLite's online backup API copies
every page in one step under a read transaction, which in WAL mode never stops a writer, so the
copy holds exactly the transactions committed before it began. Restoring puts a copy back while
no process has the database open, once the copy passed `PRAGMA integrity_check` and carries a
schema this release knows. PostgreSQL has pg_dump and pg_restore (see the README).
"""

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import make_url

from app import migrations


class BackupProblem(Exception):
    """Why a backup or a restore was refused (one line)."""


@dataclass(frozen=True)
class Copy:
    """What a backup or a restore copied."""

    path: Path
    revision: str
    tickets: int


def sqlite_file(database_url: str) -> Path:
    """The database file of a SQLite URL; BackupProblem for any other database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise BackupProblem(
            "backup and restore copy a SQLite database file; for PostgreSQL use pg_dump and "
            "pg_restore (see the README, 'Backups')"
        )
    return Path(url.database)


def _check(connection: sqlite3.Connection, what: str, database_url: str) -> Copy:
    """The copy is whole (integrity check) and its schema one this release knows."""
    try:
        verdict = connection.execute("PRAGMA integrity_check").fetchall()
        if verdict != [("ok",)]:
            raise BackupProblem(f"{what} fails SQLite's integrity check: {verdict[0][0]}"[:300])
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        tickets = connection.execute("SELECT count(*) FROM ticket").fetchone()[0]
    except (sqlite3.DatabaseError, TypeError) as exc:
        raise BackupProblem(f"{what} is not a whole Sportello database ({exc})"[:300]) from None
    scripts = ScriptDirectory.from_config(migrations.alembic_config(database_url))
    try:
        scripts.get_revision(revision)
    except CommandError:
        raise BackupProblem(
            f"{what} has schema {revision}, unknown to this release (made by a newer one?)"
        ) from None
    return Copy(Path(what), revision, tickets)


def _checked_or_removed(
    connection: sqlite3.Connection, partial: Path, what: str, database_url: str
) -> Copy:
    try:
        return _check(connection, what, database_url)
    except BackupProblem:
        partial.unlink(missing_ok=True)
        raise


def backup(database_url: str, target: Path) -> Copy:
    """Copy the database to `target` while it is in use; the copy is checked, then put in
    place whole (a copy that stopped halfway never takes the place of an older one)."""
    source = sqlite_file(database_url)
    if not source.exists():
        raise BackupProblem(f"no database at {source}")
    if target.resolve() == source.resolve():
        raise BackupProblem(f"{target} is the database itself: a backup goes to another file")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    _private_file(partial)
    with (
        closing(sqlite3.connect(source, timeout=30)) as live,
        closing(sqlite3.connect(partial)) as copy,
    ):
        live.backup(copy)  # every page in one step: one consistent snapshot
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        checked = _checked_or_removed(copy, partial, str(target), database_url)
    partial.replace(target)
    return Copy(target, checked.revision, checked.tickets)


def _private_file(path: Path) -> None:
    """An empty file only its owner reads and writes (0600, like the sealing key): a backup
    holds every message and, sealed, every secret."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    path.chmod(0o600)


def in_use(database: Path) -> bool:
    """Whether a process seems to have the database open: in WAL mode its `-wal` file lives
    from the first connection to the last one closed (or stays after a process was killed)."""
    return Path(f"{database}-wal").exists()


def restore(
    source: Path, database_url: str, *, force: bool = False, now: datetime | None = None
) -> Copy:
    """Put the backup at `source` in the database's place (the one there, if any, is kept
    beside it, renamed, with its WAL); refused while a process has the database open, unless
    `force` (a process was killed and left its WAL behind)."""
    target = sqlite_file(database_url)
    if not source.is_file():
        raise BackupProblem(f"no backup at {source}")
    if in_use(target) and not force:
        raise BackupProblem(
            f"{target} seems to be in use ({target}-wal exists): stop the server and workers "
            "first (after a process was killed, start and stop one, or use --force)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    with (
        closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)) as copy,
        closing(sqlite3.connect(partial)) as into,
    ):
        checked = _checked_or_removed(copy, partial, str(source), database_url)
        copy.backup(into)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    aside = target.with_name(f"{target.name}.before-restore-{stamp}")
    if target.exists():
        target.replace(aside)
    wal = Path(f"{target}-wal")
    if wal.exists():  # the old database's last transactions: never replayed onto the new one
        wal.replace(f"{aside}-wal")
    Path(f"{target}-shm").unlink(missing_ok=True)
    partial.replace(target)
    return Copy(target, checked.revision, checked.tickets)
