"""Test harness: real databases (SQLite always, PostgreSQL when configured), a real server.

PostgreSQL runs when SPORTELLO_TEST_DATABASE_URL is set (a server URL; the suite creates and
drops its own database there). With SPORTELLO_TEST_REQUIRE_POSTGRES=1 (CI), a missing or
unreachable PostgreSQL fails the run instead of being skipped.
"""

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

import app.models  # noqa: F401
from app import migrations, sealing
from app.db import get_engine
from app.main import create_app
from app.models.base import utcnow
from app.services.directory.auth import create_token
from app.settings import Settings
from tests.imap import imap, imap_server  # noqa: F401  (fixtures for the IMAP tests)
from tests.smtp import SmtpServer

ADMIN_TOKEN = "test-admin-token-" + uuid.uuid4().hex
# The last day of the contracts of fixtures that receive mail now: they run on whatever day
# the suite runs (a contract of one year from 2026 would leave today uncovered from 2027).
RUNS_UNTIL = "2099-12-31"
MAILGUN_KEY = "sportello-test-signing-key"  # the key the Mailgun fixtures are signed with
INBOUND_USER, INBOUND_PASSWORD = "inbound", "inbound-" + uuid.uuid4().hex
PG_URL = os.environ.get("SPORTELLO_TEST_DATABASE_URL", "")
REQUIRE_PG = os.environ.get("SPORTELLO_TEST_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", "postgresql"]
# The key secrets are sealed with in tests (app.sealing); services used without an app use it too.
SECRET_KEY = "dGVzdC1zZWNyZXQta2V5LW9mLXRoaXJ0eS10d28tYnk="
sealing.configure([SECRET_KEY])


def _postgres_unavailable() -> str | None:
    if not PG_URL:
        return "SPORTELLO_TEST_DATABASE_URL is not set"
    try:
        engine = create_engine(PG_URL, pool_pre_ping=True)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # the reason is printed, whatever the driver raised
        return (
            f"PostgreSQL at {make_url(PG_URL).render_as_string(hide_password=True)} "
            f"is unreachable: {type(exc).__name__}: {exc}"
        )
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/system is marked `system` (make test-lowest leaves it out)."""
    for item in items:
        if "system" in item.path.parts:
            item.add_marker(pytest.mark.system)


def pytest_report_header(config: pytest.Config) -> str:
    reason = _postgres_unavailable()
    return "databases: sqlite" + (f", postgresql skipped ({reason})" if reason else ", postgresql")


def _create_pg_database(name: str) -> str:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(name: str) -> None:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def fresh_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    """Make an empty database for a backend and return its URL (dropped at the end)."""
    made: list[str] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            path = tmp_path_factory.mktemp("db") / f"sportello-{uuid.uuid4().hex[:8]}.db"
            return f"sqlite:///{path}"
        reason = _postgres_unavailable()
        if reason:
            if REQUIRE_PG:
                pytest.fail(f"PostgreSQL is required (SPORTELLO_TEST_REQUIRE_POSTGRES=1): {reason}")
            pytest.skip(reason)
        name = f"sportello_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        made.append(name)
        return _create_pg_database(name)

    yield make
    for name in made:
        _drop_pg_database(name)


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, fresh_database: Callable[[str], str]) -> str:
    """A migrated database per backend, shared by the session (tables emptied per test)."""
    url = fresh_database(request.param)
    migrations.upgrade(url)
    return url


# A sequence owned by one of these tables restarts at 1 (as TRUNCATE ... RESTART IDENTITY did).
_RESTART_SEQUENCES = text(
    "SELECT setval(s.oid::regclass, 1, false) FROM pg_class s"
    " JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')"
    " JOIN pg_class t ON t.oid = d.refobjid"
    " WHERE s.relkind = 'S' AND t.relname = ANY(:tables)"
)


def _empty_tables(url: str) -> None:
    """Empty every table but the default calendar, and restart the ids at 1.

    DELETE, children before parents, rather than TRUNCATE: a test leaves a few rows, and on
    PostgreSQL a TRUNCATE of every table gives each one new files (about a second a test)."""
    engine = get_engine(url)
    kept = {"calendar"}  # the default calendar stays
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables) if t.name not in kept]
    with engine.begin() as connection:
        for table in tables:
            connection.execute(text(f'DELETE FROM "{table}"'))
        connection.execute(text("DELETE FROM calendar WHERE name <> 'default'"))
        if engine.dialect.name == "postgresql":
            connection.execute(_RESTART_SEQUENCES, {"tables": tables})


class LiveServer:
    """The app served by uvicorn on a loopback port, in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        # As `sportello serve` runs it: uvicorn trusts no proxy; the app's own setting decides.
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
            proxy_headers=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for tests: the given database, a known admin token, nothing from the env."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "admin_token": ADMIN_TOKEN,
        "mailgun_signing_key": MAILGUN_KEY,
        "inbound_username": INBOUND_USER,
        "inbound_password": INBOUND_PASSWORD,
        # The shared server sees every test's contact-form posts from 127.0.0.1; the rate
        # limit itself is tested on a server of its own.
        "contact_rate_limit": 100_000,
        # The shared servers run no outbox worker: the tests that deliver start their own.
        "worker": False,
        "secret_keys": [SECRET_KEY],
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a loopback port, for this test."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_server(database_url: str) -> Iterator[LiveServer]:
    """One server per backend for the whole session."""
    with LiveServer(make_settings(database_url)) as server:
        yield server


@pytest.fixture
def db(database_url: str) -> Iterator[str]:
    """The backend's database, emptied after the test (the default calendar stays)."""
    yield database_url
    _empty_tables(database_url)


@pytest.fixture
def session(db: str) -> Iterator[Session]:
    """A session on the test database, for arranging data and checking what was stored."""
    with Session(get_engine(db), expire_on_commit=False) as s:
        yield s


def _token(url: str, role: str) -> str:
    with Session(get_engine(url)) as s:
        _, clear = create_token(session=s, name=f"test-{role}", role=role, now=utcnow())
        s.commit()
    return clear


# httpx's default TLS context, made once: each client would otherwise load the CA bundle anew
# (about a tenth of a second, four clients a test); the tests speak plain HTTP on loopback.
TLS = httpx.create_ssl_context()


class Api:
    """httpx clients against the live server, one per role, plus an anonymous one."""

    def __init__(self, server: LiveServer, database_url: str) -> None:
        self.base_url = server.base_url
        self.anonymous = httpx.Client(base_url=server.base_url, timeout=30, verify=TLS)
        self.admin = self._client(ADMIN_TOKEN)
        self.agent = self._client(_token(database_url, "agent"))
        self.viewer = self._client(_token(database_url, "viewer"))

    def _client(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            timeout=30,
            headers={"Authorization": f"Bearer {token}"},
            verify=TLS,
        )

    def close(self) -> None:
        for client in (self.anonymous, self.admin, self.agent, self.viewer):
            client.close()


@pytest.fixture
def api(live_server: LiveServer, db: str) -> Iterator[Api]:
    """Clients on the live server, with fresh tokens for each role."""
    clients = Api(live_server, db)
    yield clients
    clients.close()


@pytest.fixture
def serve(db: str) -> Iterator[Callable[..., LiveServer]]:
    """Start an extra server with other settings (limits, secrets) on the same database."""
    servers: list[LiveServer] = []

    def start(**overrides: Any) -> LiveServer:
        server = LiveServer(
            make_settings(overrides.pop("database_url", db), **overrides)
        ).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


FIXTURES = Path(__file__).parent / "fixtures"
