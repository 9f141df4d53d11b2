"""The mailbox poller: reads IMAP mailboxes into tickets, each message once (R6).

It runs beside the outbox worker (in `sportello serve`, or in `sportello worker`). Every second
it takes the lease of the enabled mailboxes that are due and that no other process reads, and
keeps one connection per mailbox (mailboxes/imap: each step bounded in time and size, on a thread
of its own, so that a hung or hostile server holds only its own mailbox):

1. log in (implicit TLS or STARTTLS, certificates checked) and select the folder; a new
   UIDVALIDITY means the folder was recreated, so its UIDs start again;
2. fetch each message above the last UID done with, with `BODY.PEEK[]` (no side effect), at
   most one byte over the size limit;
3. store it through the same path as a raw-MIME webhook (threading, loop guard, size limits,
   attachments, exactly once by Message-ID), committed;
4. only then flag it `\\Seen` or move it; remember the UIDs done with.

A crash anywhere leaves a message either not stored (it is fetched again) or stored and perhaps
not flagged (it is fetched again, found stored by its Message-ID, and flagged): never lost, never
twice. A message over the size limit (whatever the server announced) is left in the mailbox and
reported to staff; one that cannot become a ticket is quarantined raw (P1), then flagged or
moved like a stored one. Then the poller waits for new mail
with IMAP IDLE where the server has it (polling otherwise), renewing its lease. A failure (wrong
password, server down or hung, TLS) ends the connection, shows on the mailbox's health, and is
retried with backoff; staff hear of it once. A database outage is logged once with its
traceback, then a line per failure while the poller backs off.
"""

import asyncio
import logging
import traceback
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext, suppress
from datetime import timedelta
from enum import Enum
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session

from app import metrics
from app.db import committed
from app.enums import AfterStore
from app.models.base import utcnow
from app.runners.leases import lease_holder
from app.services.intake import receiving
from app.services.intake.parsing import InboundEmail, MalformedEmail, from_mime
from app.services.knobs import Knobs
from app.services.mailboxes import records
from app.services.mailboxes.imap import IMAP_ERRORS, ImapConnection, ResponseTooLarge
from app.services.mailboxes.records import Reading
from app.settings import Settings

log = logging.getLogger("sportello.mailboxes")
# imapclient's own lines quote the server (which may echo the password) and, at DEBUG, the
# protocol itself: never logged.
logging.getLogger("imapclient").setLevel(logging.CRITICAL + 1)
T = TypeVar("T")
SEEN = b"\\Seen"
FETCH_CHUNK = 20  # messages whose sizes are asked in one round trip
IDLE_SLICE = 1.0  # seconds per IDLE wait, so that a stop and the lease's renewal are on time
STOP_GRACE = 2.0  # seconds, twice at most, that readers have to end when the poller stops
MAX_CLAIM_WAIT = 30.0  # seconds between two looks for due mailboxes while the database fails
# The database is away (down, unreachable, its pool exhausted): not a bug, nothing to trace.
DATABASE_AWAY = (OperationalError, PoolTimeout)


class Stop(Exception):
    """The lease was lost, the mailbox changed or was disabled: end this connection."""


class Reconnect(Exception):
    """The connection had to be cut (a message larger than announced): start a new one."""


class Taken(Enum):
    """What became of one message."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    LEFT = "left"  # left in the mailbox, staff told
    QUARANTINED = "quarantined"  # kept raw in the quarantine, then flagged or moved
    GONE = "gone"  # expunged meanwhile


class MailPoller:
    """Reads every enabled mailbox, one connection each; `run` loops until stopped."""

    def __init__(
        self,
        engine: Engine,
        *,
        settings: Settings,
        knobs: Knobs,
        turn: AbstractAsyncContextManager[Any] | None = None,
    ) -> None:
        self._engine = engine
        self._knobs = knobs
        self._turn = turn or nullcontext()  # SQLite: the app's one-writer turn
        self.name = lease_holder()
        self._lease = timedelta(seconds=settings.mailbox_lease_seconds)
        self._step_seconds = settings.imap_timeout_seconds
        self._ca_file = settings.imap_ca_file
        self._max_bytes = settings.max_message_bytes
        self._max_file_bytes = settings.max_file_bytes
        self._readers: dict[int, asyncio.Task[None]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Claim due mailboxes every second and read each in a task of its own; while the
        database fails, look less and less often, with one line per failure after the first."""
        log.info("mailbox poller %s started", self.name)
        try:
            failures = 0
            while not stop.is_set():
                wait = 1.0
                try:
                    await self.claim(stop)
                    failures = 0
                except Exception as exc:  # the database is down, say: keep the poller alive
                    failures += 1
                    wait = min(MAX_CLAIM_WAIT, 2.0**failures)
                    if failures == 1:
                        log.exception("mailbox poller: could not look for due mailboxes")
                    else:
                        log.warning(
                            "mailbox poller: still failing (%s); next try in %g s",
                            type(exc).__name__,
                            wait,
                        )
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
        finally:
            await self._stop_readers()
            log.info("mailbox poller %s stopped", self.name)

    async def _stop_readers(self) -> None:
        """Give readers a moment to finish their step and free their leases, then cancel the
        rest (which cuts their connections) and abandon those still not done: their leases
        run out."""
        readers = list(self._readers.values())
        if not readers:
            return
        _, late = await asyncio.wait(readers, timeout=STOP_GRACE)
        for reader in late:
            reader.cancel()
        if late:
            await asyncio.wait(late, timeout=STOP_GRACE)

    async def claim(self, stop: asyncio.Event) -> int:
        """Start a reader for each mailbox whose lease this poller could take; how many."""
        for mailbox_id, task in list(self._readers.items()):
            if task.done():
                del self._readers[mailbox_id]
        boxes = await self._unit(
            lambda session: records.claim_due(
                session=session,
                owner=self.name,
                now=utcnow(),
                lease=self._lease,
                busy=set(self._readers),
            )
        )
        for box in boxes:
            self._readers[box.id] = asyncio.create_task(self.read(box, stop))
        return len(boxes)

    async def read(self, box: Reading, stop: asyncio.Event) -> None:
        """One connection to one mailbox, kept while the lease lasts and nothing fails."""
        connection = ImapConnection(
            box, step_seconds=self._step_seconds, max_bytes=self._max_bytes, ca_file=self._ca_file
        )
        try:
            uidvalidity = await connection.open()
            idle = b"IDLE" in connection.capabilities
            log.info("mailbox %s: reading %s on %s", box.name, box.folder, box.host)
            if box.uidvalidity is not None and box.uidvalidity != uidvalidity:
                # The folder was recreated: its UIDs start again (what was stored before is
                # found by Message-ID, so nothing is stored twice).
                log.warning("mailbox %s: UIDVALIDITY changed; reading it again", box.name)
                box.last_uid = 0
            box.uidvalidity = uidvalidity
            while not stop.is_set():
                await self._store_new(connection, box)
                await self._wait(connection, box, stop, idle=idle)
        except Stop:
            log.info("mailbox %s: reader stops (changed, disabled or lease lost)", box.name)
        except Reconnect as exc:
            log.info("mailbox %s: %s; connecting again", box.name, exc)
        except IMAP_ERRORS as exc:
            error = connection.describe(exc)
            log.warning("mailbox %s: %s", box.name, error)
            await self._failed(box, error)
        except DATABASE_AWAY as exc:  # the poller's own loop tells of the outage
            log.warning(
                "mailbox %s: reader stops: database away (%s)", box.name, type(exc).__name__
            )
        except Exception as exc:  # a bug: shown on the mailbox, and the reader starts again
            error = connection.describe(exc)
            # The traceback's frames, not its message: that may quote the server.
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("mailbox %s: reading failed: %s\n%s", box.name, error, frames)
            await self._failed(box, error)
        finally:
            await connection.close()
            with suppress(Exception):
                await self._unit(
                    lambda session: records.release(box.id, session=session, owner=self.name)
                )

    async def _failed(self, box: Reading, error: str) -> None:
        with suppress(Exception):
            await self._unit(
                lambda session: records.record_failure(
                    box.id,
                    error,
                    session=session,
                    owner=self.name,
                    now=utcnow(),
                    mail=self._knobs.mail,
                )
            )

    async def _renew(self, box: Reading) -> None:
        revision = await self._unit(
            lambda session: records.renew(
                box.id, session=session, owner=self.name, now=utcnow(), lease=self._lease
            )
        )
        if revision != box.revision:
            raise Stop

    async def _store_new(self, connection: ImapConnection, box: Reading) -> None:
        """Take every message above the last UID done with, a chunk at a time."""
        await self._renew(box)
        found = await connection.call("search", ["UID", f"{box.last_uid + 1}:*"])
        uids = sorted(uid for uid in found if uid > box.last_uid)  # `n:*` always names one
        # With nothing new, one empty round still records that the mailbox was read.
        chunks = [uids[i : i + FETCH_CHUNK] for i in range(0, len(uids), FETCH_CHUNK)] or [[]]
        for chunk in chunks:
            taken = await self._take_chunk(connection, box, chunk)
            box.last_uid = max([box.last_uid, *chunk])
            await self._progress(box, taken)
            await self._renew(box)

    async def _progress(self, box: Reading, taken: list[Taken]) -> None:
        assert box.uidvalidity is not None
        uidvalidity, last_uid = box.uidvalidity, box.last_uid

        await self._unit(
            lambda session: records.record_progress(
                box.id,
                session=session,
                owner=self.name,
                revision=box.revision,
                now=utcnow(),
                uidvalidity=uidvalidity,
                last_uid=last_uid,
                stored=taken.count(Taken.STORED),
                left=taken.count(Taken.LEFT),
            )
        )

    async def _take_chunk(
        self, connection: ImapConnection, box: Reading, chunk: list[int]
    ) -> list[Taken]:
        """Take each message of a chunk in turn: what became of each."""
        if not chunk:
            return []
        sizes = await connection.call("fetch", chunk, ["RFC822.SIZE"])
        taken: list[Taken] = []
        for uid in chunk:
            if uid not in sizes:
                continue  # expunged meanwhile
            try:
                taken.append(await self._take(connection, box, uid, sizes[uid][b"RFC822.SIZE"]))
            except Reconnect:
                # Those before it are flagged and this one reported: go on after it.
                box.last_uid = uid
                await self._progress(box, [*taken, Taken.LEFT])
                raise
        return taken

    async def _take(
        self, connection: ImapConnection, box: Reading, uid: int, announced: int
    ) -> Taken:
        """Store one message, then flag or move it; or leave it in place and tell staff."""
        limit = self._max_bytes
        try:
            if announced > limit:
                # Of a message too large to store, only its header is read (to tell staff).
                head = await self._fetch(connection, uid, "BODY.PEEK[HEADER]")
                await self._leave(
                    box, uid, f"{announced} bytes, over the limit of {limit} bytes", head
                )
                return Taken.LEFT
            # At most one byte over the limit is asked for, and the connection refuses more
            # whatever the server announced.
            raw = await self._fetch(connection, uid, f"BODY.PEEK[]<0.{limit + 1}>")
        except ResponseTooLarge as exc:
            await self._leave(box, uid, _larger_than_announced(exc.size, announced, limit), None)
            raise Reconnect(f"UID {uid} was larger than announced") from exc
        if raw is None:
            return Taken.GONE
        if len(raw) > limit:
            await self._leave(box, uid, _larger_than_announced(len(raw), announced, limit), raw)
            return Taken.LEFT
        received = await self._store_one(box, uid, raw)
        await self._settle(connection, box, [uid])
        if received.quarantine_id is not None:
            return Taken.QUARANTINED
        return Taken.DUPLICATE if received.duplicate else Taken.STORED

    @staticmethod
    async def _fetch(connection: ImapConnection, uid: int, item: str) -> bytes | None:
        """One message's bytes for `item` (whole, partial or its header), or None if gone."""
        fetched = (await connection.call("fetch", [uid], [item])).get(uid, {})
        # The server names what it sends: BODY[]<0> for a partial fetch, BODY[HEADER]...
        return next((value for key, value in fetched.items() if key.startswith(b"BODY[")), None)

    async def _store_one(self, box: Reading, uid: int, raw: bytes) -> receiving.Received:
        """One message stored as a ticket, or quarantined raw when it cannot be one (P1): then
        it is flagged or moved like a stored one, so it never blocks the mailbox. An outage
        raises: the message stays unread and is fetched again."""
        read: InboundEmail | Exception
        try:
            # On a worker thread: a large message takes the parser a while, and this loop
            # answers the API's requests too.
            read = await anyio.to_thread.run_sync(partial(from_mime, raw, provider="imap"))
        except Exception as exc:  # P1: whatever the reader says, the message is kept
            if not isinstance(exc, MalformedEmail):
                log.exception("mailbox %s: reading UID %d failed", box.name, uid)
            read = exc
        delivery = receiving.Delivery(f"mailbox:{box.id}", raw, "message/rfc822")
        received = await self._unit(
            lambda session: receiving.receive(
                delivery,
                read,
                session=session,
                knobs=self._knobs,
                now=utcnow(),
                max_file_bytes=self._max_file_bytes,
            )
        )
        if received.reason is not None:
            metrics.count_delivery("imap", "quarantined")
            log.warning("mailbox %s: UID %d quarantined (%s)", box.name, uid, received.reason)
            return received
        metrics.count_delivery("imap", "duplicate" if received.duplicate else "stored")
        where = (
            f"ticket {received.ticket_number}"
            if received.ticket_number
            else f"quarantine item {received.quarantine_id}"
        )
        already = "was already" if received.duplicate else "stored"
        log.info("mailbox %s: UID %d %s on %s", box.name, uid, already, where)
        return received

    async def _settle(self, connection: ImapConnection, box: Reading, uids: list[int]) -> None:
        """Flag or move what is stored (only now: a crash before this fetches them again)."""
        if box.after_store == AfterStore.MOVE and box.move_to:
            if b"MOVE" in connection.capabilities:
                await connection.call("move", uids, box.move_to)
                return
            await connection.call("copy", uids, box.move_to)
            await connection.call("delete_messages", uids)
            await connection.call("uid_expunge", uids)
            return
        await connection.call("add_flags", uids, [SEEN])

    async def _leave(self, box: Reading, uid: int, reason: str, raw: bytes | None) -> None:
        """Leave a message in the mailbox and tell staff, once per message (P1: what cannot
        be stored is never dropped: it stays unread where it is)."""
        sender = subject = None
        if raw is not None:
            with suppress(MalformedEmail):
                parsed = from_mime(raw, provider="imap")
                sender, subject = parsed.from_email, parsed.subject[:200]
        log.warning("mailbox %s: UID %d left in the mailbox: %s", box.name, uid, reason)
        assert box.uidvalidity is not None
        uidvalidity = box.uidvalidity
        await self._unit(
            lambda session: records.report_left(
                box.id,
                session=session,
                mail=self._knobs.mail,
                now=utcnow(),
                uidvalidity=uidvalidity,
                uid=uid,
                reason=reason,
                sender=sender,
                subject=subject,
            )
        )

    async def _wait(
        self, connection: ImapConnection, box: Reading, stop: asyncio.Event, *, idle: bool
    ) -> None:
        """Until new mail arrives (IDLE) or the poll interval passes, renewing the lease."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + box.poll_seconds
        renew_every = self._lease.total_seconds() / 3
        renewed = loop.time()
        if idle:
            await connection.call("idle")
        try:
            while not stop.is_set() and loop.time() < deadline:
                if idle:
                    responses = await connection.call("idle_check", IDLE_SLICE)
                    if any(b"EXISTS" in response for response in responses):
                        return
                else:
                    with suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=IDLE_SLICE)
                if loop.time() - renewed >= renew_every:
                    await self._renew(box)
                    renewed = loop.time()
        finally:
            if idle and not connection.cut:
                await connection.call("idle_done")

    async def _unit(self, work: Callable[[Session], T]) -> T:
        return await committed(self._engine, work, turn=self._turn)


def _larger_than_announced(size: int, announced: int, limit: int) -> str:
    return (
        f"{size} bytes or more though the server announced {announced}, "
        f"over the limit of {limit} bytes"
    )
