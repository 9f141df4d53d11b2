"""Group commit: many small units of work in one transaction, each answered after its commit.

The one performance mechanism of the write path, kept for the reasons and figures in
docs/adr/0001-group-commit.md. Nothing else needs to know about it: routers hand a unit of work
(a function of a session) to `Writer` (app.deps), services write through the session they are
given, and whether that session is shared with other units is decided here.

Email intake is many small writes arriving together. One transaction (one BEGIN, one commit,
one thread hop) for a batch of them costs little more than for one, while every delivery still
gets its answer only once its rows are committed. Units of work queue on the event loop; one
batch runs at a time (SQLite has one writer anyway; on PostgreSQL it bounds lock contention),
and the next batch takes whatever arrived meanwhile, so batches grow with the load and a lone
delivery never waits for company.

A batch is all or nothing. When any unit in it fails (a replayed token, a broken constraint,
a failed commit), the batch is rolled back and each unit runs again alone, so that only the
unit at fault fails and nothing else is lost.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from contextvars import copy_context
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.db import unit_of_work

T = TypeVar("T")
Work = Callable[[Session], Any]
log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 64


@dataclass(frozen=True)
class _Outcome:
    result: Any = None
    error: BaseException | None = None

    def settle(self, future: "asyncio.Future[Any]") -> None:
        if future.done():  # the caller went away; its unit was still committed (or not)
            return
        if self.error is not None:
            future.set_exception(self.error)
        else:
            future.set_result(self.result)


def run_alone(engine: Engine, work: Callable[[Session], T], *, conflict_retries: int = 1) -> T:
    """One unit of work in its own transaction (blocking; call it on a worker thread).

    When a concurrent transaction breaks a unique constraint under us (IntegrityError), the
    unit runs again, up to `conflict_retries` times, and then sees what the other committed.
    """
    attempt = 0
    while True:
        try:
            with unit_of_work(engine) as session:
                return work(session)
        except IntegrityError:
            if attempt >= conflict_retries:
                raise
            attempt += 1


async def commit_alone(
    engine: Engine, work: Callable[[Session], T], *, turn: AbstractAsyncContextManager[Any]
) -> T:
    """`run_alone` on a worker thread, once `turn` is ours (SQLite: the one writer's turn)."""
    async with turn:
        return await run_in_threadpool(run_alone, engine, work)


class GroupCommit:
    """Runs units of work in batches, one transaction per batch, on worker threads."""

    def __init__(
        self,
        engine: Engine,
        *,
        turn: AbstractAsyncContextManager[Any] | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        enabled: bool = True,
    ) -> None:
        self._engine = engine
        self._enabled = enabled
        self._turn = turn or nullcontext()
        self._max_batch = max_batch
        self._queue: list[tuple[Work, asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def run(self, work: Callable[[Session], T]) -> T:
        """`work(session)` committed, maybe beside others; its result, or its own error.

        Disabled, every unit runs alone in its own transaction on a worker thread (SQLite
        writers still take their turn): the plain path, for comparison and as a way out.
        """
        if not self._enabled:
            return await commit_alone(self._engine, work, turn=self._turn)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        # The unit runs in its request's context (its request id on log lines and outbox
        # rows), whichever request's batch it shares.
        context = copy_context()
        self._queue.append((lambda session: context.run(work, session), future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[Work, asyncio.Future[Any]]] = []
        try:
            while self._queue:
                batch = [item for item in self._queue[: self._max_batch] if not item[1].done()]
                del self._queue[: self._max_batch]
                if not batch:
                    continue
                async with self._turn:
                    outcomes = await run_in_threadpool(self._commit, [work for work, _ in batch])
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    outcome.settle(future)
                batch = []
        except BaseException as exc:  # never strand a caller, even when cancelled
            for _, future in [*batch, *self._queue]:
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            self._queue.clear()
            raise
        finally:
            self._drainer = None

    def _commit(self, works: Sequence[Work]) -> list[_Outcome]:
        if len(works) > 1:
            try:
                with unit_of_work(self._engine) as session:
                    results = []
                    for work in works:
                        results.append(work(session))
                        session.flush()  # the next unit sees this one's ORM changes too
                return [_Outcome(result=result) for result in results]
            except Exception as exc:  # rolled back: each again alone, so only the culprit fails
                log.debug("batch of %d rolled back (%s); running each alone", len(works), exc)
        return [self._commit_alone(work) for work in works]

    def _commit_alone(self, work: Work) -> _Outcome:
        try:
            return _Outcome(result=run_alone(self._engine, work))
        except Exception as exc:
            return _Outcome(error=exc)
