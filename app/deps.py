"""Annotated dependencies, so that endpoint signatures read like sentences."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext, suppress
from datetime import datetime
from functools import partial
from typing import Annotated, TypeVar

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session

from app.db import FINISHERS, committed, is_sqlite, reader, unit_of_work
from app.enums import Role
from app.errors import Forbidden, Unauthorized
from app.models.base import utcnow
from app.services.directory.auth import Principal, authenticate, bootstrap_admin
from app.services.knobs import Knobs
from app.settings import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_WAIT_S = 0.2  # the longest a SQLite read waits for the writers queued before it
_bearer = HTTPBearer(auto_error=False, description="A token from `sportello token create`.")


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
    """The app's database engine."""
    engine: Engine = request.app.state.engine
    return engine


# Commits and rollbacks of PostgreSQL request sessions run here, never queued behind endpoint
# threads: a transaction holding row locks always gets to finish, even when every worker
# thread is busy waiting for those very locks.
_FINISHERS = ThreadPoolExecutor(max_workers=FINISHERS, thread_name_prefix="sportello-commit")


@asynccontextmanager
async def request_unit_of_work(request: Request) -> AsyncIterator[Session]:
    """The request's one unit of work: commit on success, roll back on error.

    SQLite has one writer at a time: write requests wait for their turn here, on the event
    loop, holding no worker thread, so the writer in turn always finds a thread to finish with
    (waiting inside SQLite would hold threads, sleep in growing steps and can starve the writer
    that holds the lock); reads start after the writers queued before them (`_after_writers`).
    On PostgreSQL a request takes one of the pool's connections here, on the event loop
    (`session_slots`, as many as the pool without its overflow): its session keeps the
    connection until FastAPI has validated the endpoint's answer, on a worker thread of its
    own, so if sessions waited for a connection on the worker threads instead, answers waiting
    for a thread could hold every connection while every thread waited for one. The overflow
    stays for the units of work that run whole on a thread (a delivery, a token's lookup, the
    runners): they never wait for a thread while they hold a connection.
    The commit runs once the endpoint returns: inline for SQLite, on a small dedicated pool for
    PostgreSQL (a network round trip).
    """
    engine: Engine = request.app.state.engine
    read_only = request.method in _READ_METHODS
    sqlite = is_sqlite(engine)
    turn: AbstractAsyncContextManager[object] = nullcontext()
    if not sqlite:
        turn = request.app.state.session_slots
    elif not read_only:
        turn = request.app.state.sqlite_writer

    async def finish(step: Callable[[], object]) -> None:
        if sqlite:
            step()
        else:
            await asyncio.get_running_loop().run_in_executor(_FINISHERS, step)

    if sqlite and read_only:
        await _after_writers(request.app.state.sqlite_writer)
    async with turn:
        session = Session(reader(engine) if read_only else engine, expire_on_commit=False)
        try:
            yield session
        except BaseException:
            await finish(session.close)  # closing rolls back
            raise
        if read_only:
            # A read has nothing to commit: closing it sends nothing to the server (SQLite's
            # read transaction ends locally; PostgreSQL's reads run in autocommit, app.db.reader),
            # so it needs no hop to the finishers.
            session.close()
            return
        # One step, so one hop to the finishers for PostgreSQL: a write commits, and closes
        # however the commit ends.
        await finish(partial(_commit_and_close, session))


async def _after_writers(writers: asyncio.Lock) -> None:
    """Wait until the SQLite writers queued before this read are done, or READ_WAIT_S.

    Reads beside a writer share the interpreter lock with it, so each turn lasted longer and
    the writers' queue grew: a mix of reads and writes at 64 connections answered with a p99
    of 0.8 s, 0.23 s once reads let the writers queued before them go first. A read never
    waits longer than READ_WAIT_S for a long writer: WAL lets it run beside one
    (docs/adr/0009-sqlite-threads-and-reads-after-writers.md).
    """
    with suppress(TimeoutError):
        async with asyncio.timeout(READ_WAIT_S), writers:
            pass


def _commit_and_close(session: Session) -> None:
    try:
        session.commit()
    finally:
        session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's session (see `request_unit_of_work`)."""
    async with request_unit_of_work(request) as session:
        yield session


async def committed_unit(request: Request, work: Callable[[Session], T]) -> T:
    """`work(session)` in a unit of work of its own, committed on one worker thread before it
    returns: a delivery from outside (begun once its payload is read, committed before the
    answer), or what must count even when the request fails later (a rate-limit hit)."""
    engine: Engine = request.app.state.engine
    turn = request.app.state.sqlite_writer if is_sqlite(engine) else None
    return await committed(engine, work, turn=turn)


async def get_now() -> datetime:
    """The request's `now`: the one place a request reads the clock; the engine takes it in."""
    return utcnow()


async def get_knobs(request: Request) -> Knobs:
    """The configurable SLA parameters (R2 support target, at-risk threshold), mail identity."""
    knobs: Knobs = request.app.state.knobs
    return knobs


SettingsDep = Annotated[Settings, Depends(get_settings)]
Now = Annotated[datetime, Depends(get_now)]
KnobsDep = Annotated[Knobs, Depends(get_knobs)]
EngineDep = Annotated[Engine, Depends(get_engine)]
# scope="function": the commit happens when the endpoint returns, before the response is
# sent, so a 2xx always means "stored" (and a failed commit becomes a 503, not a lie).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def authenticate_bearer(request: Request, token: str) -> Principal:
    """The principal behind a bearer token (401 when unknown or revoked); blocking."""
    settings: Settings = request.app.state.settings
    principal = bootstrap_admin(token, admin_token=settings.admin_token) or _stored(
        request.app.state.engine, token
    )
    request.state.principal = principal
    return principal


async def principal_for(request: Request, token: str) -> Principal:
    """`authenticate_bearer` from the event loop: the configured admin token is recognised
    there (a comparison), and only a stored token is looked up on a worker thread."""
    settings: Settings = request.app.state.settings
    principal = bootstrap_admin(token, admin_token=settings.admin_token)
    if principal is None:
        principal = await anyio.to_thread.run_sync(_stored, request.app.state.engine, token)
    request.state.principal = principal
    return principal


def _stored(engine: Engine, token: str) -> Principal:
    with unit_of_work(engine, read_only=True) as session:
        return authenticate(token, session=session, admin_token=None)


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind the bearer token; 401 without one."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized(
            "This endpoint needs 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return await principal_for(request, credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through principals whose role includes `role`."""

    async def _check(principal: CurrentPrincipal) -> Principal:
        if not principal.can(role):
            raise Forbidden(
                f"This action needs the role '{role}'; your token has '{principal.role}'.",
                required_role=role,
            )
        return principal

    _check.__name__ = f"require_{role}"
    return _check


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Agent = Annotated[Principal, Depends(require(Role.AGENT))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
