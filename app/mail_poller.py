"""The mailbox poller: reads IMAP mailboxes into tickets, each message once (R6).

It runs beside the outbox worker (in `sportello serve`, or in `sportello worker`). Every second
it takes the lease of the enabled mailboxes that are due and that no other process reads, and
keeps one connection per mailbox:

1. log in (implicit TLS or STARTTLS, certificates checked) and select the folder; a new
   UIDVALIDITY means the folder was recreated, so its UIDs start again;
2. fetch every message above the last UID done with, with `BODY.PEEK[]` (no side effect);
3. store each through the same path as a raw-MIME webhook (threading, loop guard, size limits,
   attachments, exactly once by Message-ID), committed;
4. only then flag it `\\Seen` or move it, and remember its UID.

A crash anywhere leaves a message either not stored (it is fetched again) or stored and perhaps
not flagged (it is fetched again, found stored by its Message-ID, and flagged): never lost, never
twice. A message that cannot be stored (over the size limit, unreadable) is left in the mailbox
and reported to staff. Then the poller waits for new mail with IMAP IDLE where the server has it
(polling otherwise), renewing its lease. A failure (wrong password, server down, TLS) ends the
connection, shows on the mailbox's health, and is retried with backoff; staff hear of it once.
A database outage is logged once with its traceback, then a line per failure while the poller
backs off.
"""

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext, suppress
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session

from app import metrics
from app.enums import AfterStore, MailboxSecurity
from app.errors import PayloadTooLarge
from app.group_commit import commit_alone
from app.models.base import utcnow
from app.services import ingest, mailboxes
from app.services.inbound import MalformedEmail, from_mime
from app.services.knobs import Knobs
from app.services.mailboxes import Reading
from app.settings import Settings
from app.worker import process_name

log = logging.getLogger("sportello.mailboxes")
# The library's own lines at DEBUG are the protocol itself (messages, logins): never logged.
logging.getLogger("imapclient").setLevel(logging.WARNING)
T = TypeVar("T")
SEEN = b"\\Seen"
FETCH_CHUNK = 20  # messages fetched per round trip
IDLE_SLICE = 1.0  # seconds per IDLE wait, so that a stop is heard quickly
MAX_CLAIM_WAIT = 30.0  # seconds between two looks for due mailboxes while the database fails
# What a broken connection, a refused login or a bad certificate raise.
IMAP_ERRORS = (IMAPClientError, OSError, ssl.SSLError, EOFError)
# The database is away (down, unreachable, its pool exhausted): not a bug, nothing to trace.
DATABASE_AWAY = (OperationalError, PoolTimeout)


class Stop(Exception):
    """The lease was lost, the mailbox changed or was disabled: end this connection."""


def connect(box: Reading, *, timeout: float, ca_file: str | None = None) -> tuple[IMAPClient, int]:
    """Log in to the mailbox's server and select its folder (blocking); the client and the
    folder's UIDVALIDITY. Certificates are checked against the system's CAs, or `ca_file`."""
    context = ssl.create_default_context(cafile=ca_file)
    client = IMAPClient(
        box.host,
        port=box.port,
        ssl=box.security == MailboxSecurity.IMPLICIT_TLS,
        ssl_context=context,
        timeout=timeout,
    )
    try:
        if box.security == MailboxSecurity.STARTTLS:
            client.starttls(context)
        client.login(box.username, box.password)
        selected = client.select_folder(box.folder)
    except BaseException:
        with suppress(*IMAP_ERRORS):
            client.shutdown()
        raise
    return client, int(selected[b"UIDVALIDITY"])


def describe_error(exc: BaseException) -> str:
    """A failure in words for the mailbox's health (never the password)."""
    if isinstance(exc, LoginError):
        return f"login refused: {exc}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc}"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "the server did not answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused: is the server down, or the port wrong?"
    return f"{type(exc).__name__}: {exc}"[:1000]


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
        self.name = process_name()
        self._lease = timedelta(seconds=settings.mailbox_lease_seconds)
        self._timeout = settings.imap_timeout_seconds
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
            readers = list(self._readers.values())
            await asyncio.gather(*readers, return_exceptions=True)
            log.info("mailbox poller %s stopped", self.name)

    async def claim(self, stop: asyncio.Event) -> int:
        """Start a reader for each mailbox whose lease this poller could take; how many."""
        for mailbox_id, task in list(self._readers.items()):
            if task.done():
                del self._readers[mailbox_id]
        boxes = await self._unit(
            lambda session: mailboxes.claim_due(
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
        client: IMAPClient | None = None
        try:
            connected, uidvalidity = await asyncio.to_thread(
                connect, box, timeout=self._timeout, ca_file=self._ca_file
            )
            client = connected
            idle = b"IDLE" in await asyncio.to_thread(connected.capabilities)
            log.info("mailbox %s: reading %s on %s", box.name, box.folder, box.host)
            if box.uidvalidity is not None and box.uidvalidity != uidvalidity:
                # The folder was recreated: its UIDs start again (what was stored before is
                # found by Message-ID, so nothing is stored twice).
                log.warning("mailbox %s: UIDVALIDITY changed; reading it again", box.name)
                box.last_uid = 0
            box.uidvalidity = uidvalidity
            while not stop.is_set():
                await self._store_new(connected, box)
                await self._wait(connected, box, stop, idle=idle)
        except Stop:
            log.info("mailbox %s: reader stops (changed, disabled or lease lost)", box.name)
        except IMAP_ERRORS as exc:
            error = describe_error(exc)
            log.warning("mailbox %s: %s", box.name, error)
            await self._failed(box, error)
        except DATABASE_AWAY as exc:  # the poller's own loop tells of the outage
            log.warning(
                "mailbox %s: reader stops: database away (%s)", box.name, type(exc).__name__
            )
        except Exception as exc:  # a bug: shown on the mailbox, and the reader starts again
            log.exception("mailbox %s: reading failed", box.name)
            await self._failed(box, f"{type(exc).__name__}: {exc}"[:1000])
        finally:
            if client is not None:
                with suppress(*IMAP_ERRORS):
                    await asyncio.to_thread(client.logout)
            with suppress(Exception):
                await self._unit(
                    lambda session: mailboxes.release(box.id, session=session, owner=self.name)
                )

    async def _failed(self, box: Reading, error: str) -> None:
        with suppress(Exception):
            await self._unit(
                lambda session: mailboxes.record_failure(
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
            lambda session: mailboxes.renew(
                box.id, session=session, owner=self.name, now=utcnow(), lease=self._lease
            )
        )
        if revision != box.revision:
            raise Stop

    async def _store_new(self, client: IMAPClient, box: Reading) -> None:
        """Store every message above the last UID done with, then flag or move it."""
        await self._renew(box)
        assert box.uidvalidity is not None
        uidvalidity = box.uidvalidity
        found = await asyncio.to_thread(client.search, ["UID", f"{box.last_uid + 1}:*"])
        uids = sorted(uid for uid in found if uid > box.last_uid)  # `n:*` always names one
        # With nothing new, one empty round still records that the mailbox was read.
        chunks = [uids[i : i + FETCH_CHUNK] for i in range(0, len(uids), FETCH_CHUNK)] or [[]]
        for chunk in chunks:
            stored, left = await self._store_chunk(client, box, chunk, uidvalidity)
            box.last_uid = max([box.last_uid, *chunk])
            await self._progress(box, stored=stored, left=left)
            await self._renew(box)

    async def _progress(self, box: Reading, *, stored: int, left: int) -> None:
        assert box.uidvalidity is not None
        uidvalidity, last_uid = box.uidvalidity, box.last_uid

        def work(session: Session) -> None:
            mailboxes.record_progress(
                box.id,
                session=session,
                owner=self.name,
                revision=box.revision,
                now=utcnow(),
                uidvalidity=uidvalidity,
                last_uid=last_uid,
                stored=stored,
                left=left,
            )

        await self._unit(work)

    async def _store_chunk(
        self, client: IMAPClient, box: Reading, chunk: list[int], uidvalidity: int
    ) -> tuple[int, int]:
        """Store a chunk of messages; (stored, left in the mailbox)."""
        if not chunk:
            return 0, 0
        sizes = await asyncio.to_thread(client.fetch, chunk, ["RFC822.SIZE"])
        small = [uid for uid in sizes if int(sizes[uid][b"RFC822.SIZE"]) <= self._max_bytes]
        bodies = await asyncio.to_thread(client.fetch, small, ["BODY.PEEK[]"]) if small else {}
        large = [uid for uid in sizes if uid not in small]
        # Of a message too large to store, only its header is read (to tell staff what it is).
        heads = await asyncio.to_thread(client.fetch, large, ["BODY.PEEK[HEADER]"]) if large else {}
        done: list[int] = []
        stored = left = 0
        for uid in chunk:
            if uid not in sizes:
                continue  # expunged meanwhile
            raw = bodies.get(uid, {}).get(b"BODY[]")
            reason = None
            if uid not in small:
                size = int(sizes[uid][b"RFC822.SIZE"])
                reason = f"{size} bytes, over the limit of {self._max_bytes} bytes"
                raw = heads.get(uid, {}).get(b"BODY[HEADER]")
            elif raw is None:
                continue  # expunged between the two fetches
            else:
                reason, new = await self._store_one(box, uid, raw, uidvalidity)
                if reason is None:
                    done.append(uid)
                    stored += int(new)
                    continue
            left += 1
            await self._report_left(box, uid, uidvalidity, reason, raw)
        if done:
            await self._settle(client, box, done)
        return stored, left

    async def _store_one(
        self, box: Reading, uid: int, raw: bytes, uidvalidity: int
    ) -> tuple[str | None, bool]:
        """(why it was left, or None; whether it was new) for one message."""
        try:
            email = from_mime(raw, provider="imap")
        except MalformedEmail as exc:
            return f"not an email that can be read: {exc}", False
        if email.message_id is None:
            # Without a Message-ID, its place in the folder identifies it.
            email = replace(email, provider_id=f"{box.id}:{uidvalidity}:{uid}")
        try:
            result = await self._unit(
                ingest.storing(
                    email,
                    knobs=self._knobs,
                    now=utcnow(),
                    max_file_bytes=self._max_file_bytes,
                )
            )
        except PayloadTooLarge as exc:
            metrics.count_delivery("imap", "rejected")
            return exc.detail, False
        metrics.count_delivery("imap", "duplicate" if result.duplicate else "stored")
        log.info(
            "mailbox %s: UID %d %s ticket %s",
            box.name,
            uid,
            "was already on" if result.duplicate else "stored on",
            result.ticket_number,
        )
        return None, not result.duplicate

    async def _settle(self, client: IMAPClient, box: Reading, uids: list[int]) -> None:
        """Flag or move what is stored (only now: a crash before this fetches them again)."""
        if box.after_store == AfterStore.MOVE and box.move_to:
            capabilities = await asyncio.to_thread(client.capabilities)
            if b"MOVE" in capabilities:
                await asyncio.to_thread(client.move, uids, box.move_to)
                return
            await asyncio.to_thread(client.copy, uids, box.move_to)
            await asyncio.to_thread(client.delete_messages, uids)
            await asyncio.to_thread(client.uid_expunge, uids)
            return
        await asyncio.to_thread(client.add_flags, uids, [SEEN])

    async def _report_left(
        self, box: Reading, uid: int, uidvalidity: int, reason: str, raw: bytes | None
    ) -> None:
        sender = subject = None
        if raw is not None:
            with suppress(MalformedEmail):
                parsed = from_mime(raw, provider="imap")
                sender, subject = parsed.from_email, parsed.subject[:200]
        log.warning("mailbox %s: UID %d left in the mailbox: %s", box.name, uid, reason)
        await self._unit(
            lambda session: mailboxes.report_left(
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
        self, client: IMAPClient, box: Reading, stop: asyncio.Event, *, idle: bool
    ) -> None:
        """Until new mail arrives (IDLE) or the poll interval passes, renewing the lease."""
        deadline = asyncio.get_running_loop().time() + box.poll_seconds
        renew_every = self._lease.total_seconds() / 3
        renewed = asyncio.get_running_loop().time()
        if idle:
            await asyncio.to_thread(client.idle)
        try:
            while not stop.is_set() and asyncio.get_running_loop().time() < deadline:
                if idle:
                    responses = await asyncio.to_thread(client.idle_check, IDLE_SLICE)
                    if any(b"EXISTS" in response for response in responses):
                        return
                else:
                    with suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=IDLE_SLICE)
                if asyncio.get_running_loop().time() - renewed >= renew_every:
                    await self._renew(box)
                    renewed = asyncio.get_running_loop().time()
        finally:
            if idle:
                await asyncio.to_thread(client.idle_done)

    async def _unit(self, work: Callable[[Session], T]) -> T:
        return await commit_alone(self._engine, work, turn=self._turn)
