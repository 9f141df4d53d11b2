"""Recording what a worker's lanes sent: each lane waits for its row's record, the records
that wait together are written together (ADR 0008).

A lane posts one row, then waits until the row is recorded as sent before it claims or posts
another, so a worker killed at any moment has at most one row per lane sent and not recorded
(sent again after its lease, with the same webhook-id or Message-ID). While one transaction
of records is being written, the rows other lanes finish meanwhile wait, and the next
transaction records them all: one commit for as many sends as finished during the last one.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from app.services.notifications.outbox import Claimed

Write = Callable[[Sequence[Claimed]], Awaitable[set[int]]]


class SentRecords:
    """The sends of one round of lanes, recorded a transaction at a time by `write` (which
    returns the ids it settled: a row whose lease was lost meanwhile is not among them)."""

    def __init__(self, write: Write) -> None:
        self._write = write
        self._waiting: list[tuple[Claimed, asyncio.Future[bool]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def record(self, row: Claimed) -> bool:
        """Once `row` is recorded as sent: True, or False when its lease was lost meanwhile.
        Raises what the write raised (the database is down, say)."""
        recorded: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, recorded))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_waiting())
        return await recorded

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                settled = await self._write([row for row, _ in batch])
            except Exception as exc:
                for _, recorded in batch:
                    if not recorded.done():
                        recorded.set_exception(exc)
                continue
            for row, recorded in batch:
                if not recorded.done():  # its lane may have been cancelled meanwhile
                    recorded.set_result(row.id in settled)
