"""Secrets at rest (GDPR art. 32): mailbox passwords and webhook signing secrets are stored
sealed with Fernet keys from SPORTELLO_SECRET_KEYS, never in clear.

The keys are a list: the first seals, every one opens (cryptography's MultiFernet), so a new key
goes first, `sportello secrets rotate` re-seals everything with it, then the old one is dropped.
The process holds one keyring, set from the settings when the app or a command starts
(`configure`); the `Sealed` column type (app.models.base) seals and opens through it.
"""

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from app.errors import is_outage
from app.settings import Settings

log = logging.getLogger(__name__)

# Every sealed column, as (table, column): what the start-up check opens and rotation re-seals.
SEALED_COLUMNS = (
    ("mailbox", "password"),
    ("webhook_subscription", "secret"),
    ("webhook_subscription", "previous_secret"),
)
LOCAL_KEY_FILE = ".sportello-secret-key"
NO_KEY = (
    "no secret key is configured: set SPORTELLO_SECRET_KEYS (make one with "
    "`sportello secrets new-key`) or SPORTELLO_SECRET_KEYS_FILE"
)

CLOSED = (
    "cannot be opened with SPORTELLO_SECRET_KEYS (a wrong key, or the key it was sealed with "
    "was dropped from the list)"
)


class KeyProblem(Exception):
    """A key is missing, malformed or does not open what is stored (a one-line message)."""


class Keyring:
    """Seals with the first key, opens with any of them."""

    def __init__(self, keys: list[str]) -> None:
        try:
            fernets = [Fernet(key.strip().encode()) for key in keys if key.strip()]
        except ValueError as exc:
            raise KeyProblem(
                "SPORTELLO_SECRET_KEYS: each key must be 32 url-safe base64-encoded bytes "
                "(`sportello secrets new-key` makes one)"
            ) from exc
        self._fernet = MultiFernet(fernets) if fernets else None

    @property
    def ready(self) -> bool:
        """Whether there is a key to seal with."""
        return self._fernet is not None

    def _keys(self) -> MultiFernet:
        if self._fernet is None:
            raise KeyProblem(NO_KEY)
        return self._fernet

    def seal(self, clear: str) -> str:
        """The secret sealed with the first key."""
        return self._keys().encrypt(clear.encode()).decode()

    def open(self, sealed: str) -> str:
        """The secret in clear; KeyProblem when no key opens it."""
        try:
            return self._keys().decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise KeyProblem(f"a stored secret {CLOSED}") from None

    def reseal(self, sealed: str) -> str:
        """The secret sealed again with the first key (rotation)."""
        try:
            return self._keys().rotate(sealed.encode()).decode()
        except InvalidToken:
            raise KeyProblem(f"a stored secret {CLOSED}") from None


_keyring = Keyring([])


def configure(keys: list[str]) -> Keyring:
    """Make these keys the process's keyring (KeyProblem for a malformed one)."""
    global _keyring
    _keyring = Keyring(keys)
    return _keyring


def keyring() -> Keyring:
    """The process's keyring."""
    return _keyring


def key_file_of(settings: Settings) -> Path | None:
    """Where the keys are read from a file: SPORTELLO_SECRET_KEYS_FILE, or for a SQLite
    database file, `.sportello-secret-key` beside it (the newcomer's path)."""
    if settings.secret_keys_file:
        return Path(settings.secret_keys_file)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).parent / LOCAL_KEY_FILE
    return None


def keys_from(settings: Settings) -> list[str]:
    """The keys the settings give: SPORTELLO_SECRET_KEYS, else the key file's lines."""
    if settings.secret_keys:
        return [key.get_secret_value() for key in settings.secret_keys]
    path = key_file_of(settings)
    if path is None or not path.exists():
        if settings.secret_keys_file:
            raise KeyProblem(f"SPORTELLO_SECRET_KEYS_FILE: no file at {path}")
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def make_local_key(settings: Settings) -> Path | None:
    """With no SPORTELLO_SECRET_KEYS and a key file path (set, or beside a SQLite database)
    that does not exist yet: write a new key there, readable by its owner alone (0600)."""
    path = key_file_of(settings)
    if settings.secret_keys or path is None or path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(Fernet.generate_key().decode() + "\n")
    return path


def _stored(connection: Connection) -> list[tuple[str, str, int, str]]:
    """Every sealed value as stored: (table, column, row id, token)."""
    found: list[tuple[str, str, int, str]] = []
    for table, column in SEALED_COLUMNS:
        rows = connection.execute(
            text(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY id")
        )
        found.extend((table, column, row_id, value) for row_id, value in rows)
    return found


def check(connection: Connection, ring: Keyring) -> int:
    """Open every stored secret: how many there are, or KeyProblem naming the first that a
    missing or wrong key leaves closed (at start-up, not as a 500 later)."""
    stored = _stored(connection)
    for table, column, row_id, token in stored:
        if not ring.ready:
            raise KeyProblem(f"{table} {row_id} holds a sealed {column}, but {NO_KEY}")
        try:
            ring.open(token)
        except KeyProblem:
            raise KeyProblem(f"the {column} of {table} {row_id} {CLOSED}") from None
    return len(stored)


def check_at_start(engine: Engine) -> None:
    """`check` as a process starts: a wrong or missing key stops it (KeyProblem), not a request
    later. A database that is away cannot be checked: the process starts all the same (the API
    answers 503 until it is back) and says so; the next start checks."""
    try:
        with engine.connect() as connection:
            check(connection, keyring())
    except Exception as exc:
        if not is_outage(exc):
            raise
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        log.warning("stored secrets not checked at start-up: the database is away (%s)", reason)


def rotate(connection: Connection, ring: Keyring) -> int:
    """Seal every stored secret again with the first key: how many were."""
    stored = _stored(connection)
    for table, column, row_id, token in stored:
        connection.execute(
            text(f"UPDATE {table} SET {column} = :value WHERE id = :id"),
            {"value": ring.reseal(token), "id": row_id},
        )
    return len(stored)
