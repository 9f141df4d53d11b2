"""The outbox worker: sends what the outbox holds, each row once, and records every attempt.

`sportello serve` runs one in-process (SPORTELLO_WORKER=false turns it off); `sportello worker`
runs one alone, so that several API and worker processes can share one PostgreSQL. Each worker
claims one due email at a time under a lease (outbox.claim_due) and, in the same transaction,
writes it from the row's facts if no worker has yet (outbox.write: once, kept on the row), sends
it over its one SMTP connection, and marks it in a transaction of its own right after the server
accepted it. The worker's own unit of work commits each step; services never commit. Event
lanes (SPORTELLO_WORKER_EVENT_LANES) claim up to EVENT_CLAIM events at once, the first pending
one of each ticket, and each lane waits for a post's record before its next post
(runners.sent_records): a worker killed mid-batch posts at most each lane's one in flight
twice (with the same webhook-id); the rest of the batch waits for its lease.

Two live workers never send one row (P2): a row is leased only while its sender works on it,
and a send is cut off after SPORTELLO_SMTP_TIMEOUT_SECONDS, shorter than the lease (the
settings refuse otherwise); a row whose lease has less than that left when its send would
start is not sent, its lease runs out and it is claimed again. What the lease has left after
the send is the time to record it: keep the lease well above the timeout.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext, suppress
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from app import logs
from app.db import committed
from app.enums import EventType, OutboxChannel
from app.models.base import utcnow
from app.models.ticket import Ticket
from app.runners.leases import lease_holder
from app.runners.sent_records import SentRecords
from app.services import retention
from app.services.directory import renewals
from app.services.intake import quarantine
from app.services.knobs import MailKnobs, knobs_from, retention_from
from app.services.notifications import notify, outbox
from app.services.notifications.transports import (
    FileTransport,
    Gone,
    PermanentFailure,
    SignedPoster,
    SmtpTransport,
    TemporaryFailure,
    Transport,
    WebhookTransport,
    body_of,
)
from app.services.tickets import alerts
from app.services.webhooks import events, subscriptions
from app.settings import Settings

log = logging.getLogger("sportello.worker")
T = TypeVar("T")
EVENT_CLAIM = 10  # events an event lane claims at most in one transaction


def email_transport(settings: Settings) -> Transport:
    """SMTP when SPORTELLO_SMTP_URL is set; otherwise `.eml` files under the outbox directory."""
    if settings.smtp_url is not None:
        return SmtpTransport(
            settings.smtp_url.get_secret_value(), timeout=settings.smtp_timeout_seconds
        )
    return FileTransport(Path(settings.outbox_dir).resolve())


def webhook_transport(settings: Settings) -> Transport | None:
    """The staff alert webhook, when configured."""
    if settings.alert_webhook_url is None:
        return None
    secret = settings.alert_webhook_secret
    return WebhookTransport(
        settings.alert_webhook_url,
        secret=secret.get_secret_value() if secret else "",
        timeout=settings.smtp_timeout_seconds,
    )


def describe(transport: Transport) -> str:
    """Where emails go, for the start-up log line (never a password)."""
    if isinstance(transport, FileTransport):
        return (
            f"written as .eml files to {transport.directory} (no SPORTELLO_SMTP_URL: none leaves)"
        )
    return f"sent by {transport!r}"


class Worker:
    """Claims, sends and settles outbox rows; `run` loops until stopped."""

    def __init__(
        self,
        engine: Engine,
        *,
        settings: Settings,
        mail: MailKnobs,
        email: Transport,
        webhook: Transport | None,
        turn: AbstractAsyncContextManager[Any] | None = None,
    ) -> None:
        self._engine = engine
        self._mail = mail
        self._email = email
        self._webhook = webhook
        self._turn = turn or nullcontext()  # SQLite: the app's one-writer turn
        self.name = lease_holder()
        self._batch = settings.worker_batch
        self._lease = timedelta(seconds=settings.worker_lease_seconds)
        self._send_timeout = settings.smtp_timeout_seconds  # shorter than the lease (settings)
        self._horizon = timedelta(hours=settings.delivery_horizon_hours)
        self._event_horizon = timedelta(hours=settings.webhook_horizon_hours)
        self._event_lanes = settings.worker_event_lanes
        # A client per lane: an HTTP client's pool looks at every connection it keeps on every
        # request, so one shared by the lanes costs each post a look at all of them.
        self._posters = [
            SignedPoster(timeout=settings.smtp_timeout_seconds)
            for _ in range(max(1, self._event_lanes))
        ]
        # An event lane claims at once as many events as could be sent one after the other
        # within a lease, less one (each is still settled right after its post).
        lease_sends = int(settings.worker_lease_seconds // settings.smtp_timeout_seconds) - 1
        self._event_claim = max(1, min(EVENT_CLAIM, lease_sends))
        self._first_backoff = timedelta(seconds=settings.delivery_retry_seconds)
        self._poll = settings.worker_poll_seconds
        self._steps = tuple(timedelta(minutes=m) for m in settings.alert_steps_minutes if m > 0)
        self._scan_every = timedelta(seconds=settings.alert_scan_seconds)
        self._renewal_steps = tuple(d for d in settings.renewal_steps_days if d >= 0)
        self._scanned_at: datetime | None = None
        self._retention = retention_from(settings)
        self._retained_on: date | None = None

    @classmethod
    def for_settings(
        cls,
        engine: Engine,
        settings: Settings,
        *,
        turn: AbstractAsyncContextManager[Any] | None = None,
    ) -> "Worker":
        """The worker these settings describe (transports, mail identity); it logs where
        emails go, so that a newcomer without SMTP sees where the .eml files are."""
        email = email_transport(settings)
        log.info("emails are %s", describe(email))
        return cls(
            engine,
            settings=settings,
            mail=knobs_from(settings).mail,
            email=email,
            webhook=webhook_transport(settings),
            turn=turn,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; a failing database only delays delivery."""
        log.info("outbox worker %s started", self.name)
        try:
            failures = 0
            while not stop.is_set():
                try:
                    handled = await self.drain_once()
                    failures = 0
                except Exception as exc:  # the database is down, say: keep the worker alive
                    if failures == 0:
                        log.exception("outbox worker: a round failed; retrying with backoff")
                    else:
                        log.warning("outbox worker: still failing: %s", type(exc).__name__)
                    failures, handled = failures + 1, 0
                if handled == 0:
                    wait = min(30.0, self._poll * 2 ** min(failures, 5))
                    with suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=wait)
        finally:
            await self.close()
            log.info("outbox worker %s stopped", self.name)

    async def drain_once(self, *, now: Callable[[], datetime] = utcnow) -> int:
        """One round: look for SLA alerts when due, then claim and deliver due rows one at a
        time, up to SPORTELLO_WORKER_BATCH of them; how many rows were handled.

        SPORTELLO_WORKER_EVENT_LANES lanes take only events, each one row at a time, next to
        the lane that takes the other rows: receivers are posted to in parallel while emails keep
        the one SMTP connection to themselves.
        """
        if self._scanned_at is None or now() - self._scanned_at >= self._scan_every:
            await self.scan_once(now=now())
        budget = [self._batch]
        # With event lanes, the first lane leaves events to them; without, it takes any row.
        first = False if self._event_lanes else None
        records = SentRecords(partial(self._record_sent, now=now))
        lanes = [
            self._lane(first, budget, now, self._posters[0], records),
            *(
                self._lane(True, budget, now, poster, records)
                for poster in self._posters[: self._event_lanes]
            ),
        ]
        return sum(await asyncio.gather(*lanes))

    async def _lane(
        self,
        events: bool | None,
        budget: list[int],
        now: Callable[[], datetime],
        poster: SignedPoster,
        records: SentRecords,
    ) -> int:
        # The round's budget is spent by what was claimed, never reserved ahead: a lane
        # waiting on its claim does not stop the others (emails above all) from going on.
        handled = 0
        while budget[0] > 0:
            wanted = min(budget[0], self._event_claim if events else 1)
            claimed = await self._unit(partial(self._claim, at=now(), events=events, wanted=wanted))
            if not claimed:
                break
            budget[0] -= len(claimed)
            for row, target in claimed:
                with logs.request_context(row.request_id):  # the request that caused it
                    await self._deliver(row, target, now=now, poster=poster, records=records)
            handled += len(claimed)
        return handled

    async def scan_once(self, *, now: datetime) -> int:
        """Queue the at-risk and breach alerts reached by `now` (services.tickets.alerts), the
        digest of deliveries quarantined since staff were last told (services.intake.quarantine)
        and the contracts reaching a renewal step (services.directory.renewals); how many
        tickets, deliveries and contracts they tell of. Once a day, apply retention too."""
        self._scanned_at = now
        told = await self._unit(
            lambda session: alerts.scan(
                session=session, mail=self._mail, now=now, steps=self._steps
            )
        )
        told += await self._unit(
            lambda session: quarantine.tell_staff(session=session, mail=self._mail, now=now)
        )
        told += await self._unit(
            lambda session: renewals.scan(
                session=session, mail=self._mail, now=now, steps_days=self._renewal_steps
            )
        )
        await self.retain_once(now=now)
        return told

    async def retain_once(self, *, now: datetime) -> dict[str, int] | None:
        """Apply SPORTELLO_RETENTION_* (services.retention) if no runner has today: each step
        in batches, one transaction each, then one log line of counts. None when off or done."""
        if not self._retention.enabled or self._retained_on == now.date():
            return None
        self._retained_on = now.date()
        claimed = await self._unit(
            lambda session: retention.claim_day(session=session, now=now, runner=self.name)
        )
        if not claimed:
            return None
        removed = {name: await self._in_batches(step, now) for name, step in retention.STEPS}
        await self._unit(lambda session: retention.record(removed, session=session, now=now))
        log.info("retention applied: %s", ", ".join(f"{k} {v}" for k, v in removed.items()))
        return removed

    async def _in_batches(self, step: retention.Step, now: datetime) -> int:
        """Apply one retention step a batch at a time until a batch comes back short."""

        def one_batch(session: Session) -> int:
            return step(session=session, now=now, policy=self._retention)

        removed = 0
        while True:
            count = await self._unit(one_batch)
            removed += count
            if count < self._retention.batch:
                return removed

    async def close(self) -> None:
        await self._email.close()
        for poster in self._posters:
            await poster.close()
        if self._webhook is not None:
            await self._webhook.close()

    def _claim(
        self, session: Session, *, at: datetime, events: bool | None, wanted: int
    ) -> list[tuple[outbox.Claimed, subscriptions.Target | None]]:
        """The next due rows (only events, or none, if `events` says so; several only when
        events), leased, with their email written (the same transaction) and the bytes of the
        files it carries; for an event, where its subscription says it goes now and the
        secrets that sign it."""
        rows = outbox.claim_due(
            session=session,
            worker=self.name,
            now=at,
            lease=self._lease,
            events=events,
            limit=wanted,
        )
        subscribed = {row.subscription_id for row in rows if row.subscription_id is not None}
        targets = {
            subscription: subscriptions.target_of(subscription, session=session, now=at)
            for subscription in subscribed
        }
        return [
            (
                outbox.with_files(outbox.write(row, session=session), session=session),
                None if row.subscription_id is None else targets[row.subscription_id],
            )
            for row in rows
        ]

    async def _send(
        self, row: outbox.Claimed, target: subscriptions.Target | None, poster: SignedPoster
    ) -> None:
        assert row.payload is not None
        if row.channel != OutboxChannel.EVENT:
            transport = self._email if row.channel == OutboxChannel.EMAIL else self._webhook
            if transport is None:
                raise PermanentFailure("SPORTELLO_ALERT_WEBHOOK_URL is not set")
            await transport.send(row.payload)
            return
        if target is None:
            raise PermanentFailure("its webhook subscription is disabled or deleted")
        await poster.post(
            target.url,
            webhook_id=row.payload["message_id"],  # the event's id, on every attempt
            body=body_of(row.payload["json"]),
            secrets=target.secrets,
        )

    async def _deliver(
        self,
        row: outbox.Claimed,
        target: subscriptions.Target | None,
        *,
        now: Callable[[], datetime],
        poster: SignedPoster,
        records: SentRecords,
    ) -> None:
        if now() + timedelta(seconds=self._send_timeout) >= row.lease_until:
            # The claim took so long that a send could outlast the lease: another worker may
            # take the row then, so this one leaves it (P2); the lease runs out, it goes again.
            log.warning("outbox %d: too little of its lease left to send it; left", row.id)
            return
        error, permanent, gone = None, False, False
        try:
            if row.payload is None:
                raise PermanentFailure(f"it could not be written: {row.unwritable}")
            async with asyncio.timeout(self._send_timeout):
                await self._send(row, target, poster)
        except TemporaryFailure as exc:
            error = str(exc)
        except TimeoutError:  # the server accepted the connection and then went quiet
            error = f"no answer within {self._send_timeout:g} s (SPORTELLO_SMTP_TIMEOUT_SECONDS)"
        except PermanentFailure as exc:
            error, permanent, gone = str(exc), True, isinstance(exc, Gone)
        except Exception as exc:  # a row that cannot even be built must not jam the queue
            log.exception("outbox %d could not be sent", row.id)
            error, permanent = f"{type(exc).__name__}: {exc}"[:300], True
        if error is None:
            kept = await records.record(row)
            log.info("outbox %d sent: %s to %s", row.id, row.kind, _domain(row.recipient))
            if not kept:
                log.warning("outbox %d: lease lost before it was marked sent", row.id)
            return
        failed = await self._unit(
            lambda session: self._mark_failed(row, error, session, now(), permanent, gone)
        )
        log.warning(
            "outbox %d %s: %s to %s: %s",
            row.id,
            "failed for good" if failed else "will be retried",
            row.kind,
            _domain(row.recipient),
            error,
        )
        if failed and row.kind.startswith("customer."):
            await self._unit(lambda session: self._alert_failure(row, error, session, now()))

    async def _record_sent(
        self, rows: Sequence[outbox.Claimed], *, now: Callable[[], datetime]
    ) -> set[int]:
        return await self._unit(
            lambda session: outbox.mark_sent(rows, session=session, worker=self.name, now=now())
        )

    def _mark_failed(
        self,
        row: outbox.Claimed,
        error: str,
        session: Session,
        at: datetime,
        permanent: bool,
        gone: bool,
    ) -> bool:
        event = row.channel == OutboxChannel.EVENT
        failed = outbox.mark_failed(
            row,
            session=session,
            worker=self.name,
            now=at,
            error=error,
            permanent=permanent,
            horizon=self._event_horizon if event else self._horizon,
            first_backoff=self._first_backoff,
        )
        # The receiver wants no more: the subscription is disabled, staff told once.
        if (
            gone
            and row.subscription_id is not None
            and subscriptions.disable_gone(row.subscription_id, session=session, now=at)
        ):
            notify.alert_staff(
                "webhook_gone",
                session=session,
                mail=self._mail,
                at=at,
                dedup_key=f"webhook:{row.subscription_id}:gone:{row.id}",
                subscription_id=row.subscription_id,
                event_type=row.kind,
            )
        return failed

    def _alert_failure(
        self, row: outbox.Claimed, error: str, session: Session, at: datetime
    ) -> None:
        # A customer was not told: staff must know, and can retry once it is fixed.
        ticket = session.get(Ticket, row.ticket_id) if row.ticket_id else None
        notify.alert_staff(
            "delivery_failed",
            session=session,
            mail=self._mail,
            at=at,
            dedup_key=f"outbox:{row.id}:failed:{row.attempts + 1}",
            ticket_id=row.ticket_id,
            number=ticket.number if ticket else None,
            recipient=row.recipient,
            row_kind=row.kind,
            attempts=row.attempts + 1,
            error=error,
            outbox_id=row.id,
        )
        events.publish(
            EventType.EMAIL_FAILED,
            session=session,
            at=at,
            cause=f"outbox:{row.id}:{row.attempts + 1}",
            ticket_id=row.ticket_id,
            data=lambda: {
                "ticket": events.ticket_block(row.ticket_id, session=session, at=at)
                if row.ticket_id
                else None,
                "kind": row.kind,
                "outbox_id": row.id,
                "error": error,
            },
        )

    async def _unit(self, work: Callable[[Session], T]) -> T:
        return await committed(self._engine, work, turn=self._turn)


def _domain(address: str) -> str:
    # Logs name where mail went, not whom: the domain only.
    return address.rpartition("@")[2] or address
