"""The outbox worker against a real SMTP server on loopback (aiosmtpd), on both databases.

Time is passed in: tickets are opened and moved at given instants, and the worker's rounds
are told what `now` is.
"""

import signal
import subprocess
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from sqlmodel import Session, col, select
from standardwebhooks import Webhook, WebhookVerificationError

from app.db import get_engine, unit_of_work
from app.enums import Category, Channel, DeliveryMode, OutboxState, Status
from app.models.audit import TicketEvent
from app.models.calendar import Calendar
from app.models.contract import Contract
from app.models.customer import Customer, CustomerDomain
from app.models.message import Message
from app.models.outbox import Outbox, OutboxAttempt, OutboxFacts
from app.models.ticket import ResolveIn, StatusIn, TakeChargeIn, TicketCreate, TicketUpdate
from app.runners.outbox_worker import Worker
from app.services.intake import opening
from app.services.knobs import knobs_from
from app.services.notifications.render import payload_of
from app.services.tickets import lifecycle
from tests.conftest import RUNS_UNTIL, SECRET_KEY, make_settings
from tests.processes import SPORTELLO, environment
from tests.smtp import SmtpServer

STAFF = "reperibile@agency.example"
SUPPORT = "assistenza@agency.example"


def rome(text: str) -> datetime:
    """An instant written as Rome wall-clock time with its offset."""
    return datetime.fromisoformat(text).astimezone(UTC)


def settings_for(db: str, smtp: SmtpServer, **overrides: Any):
    # These tests count the worker's rows; the renewal watch's digests (a contract ending
    # within 60 days) are tested in test_renewals.py, which sets the steps.
    overrides.setdefault("renewal_steps_days", [])
    return make_settings(
        db,
        smtp_url=smtp.url,
        support_address=SUPPORT,
        company_name="Agenzia Web",
        staff_email=STAFF,
        **overrides,
    )


def worker_for(db: str, smtp: SmtpServer, **overrides: Any) -> Worker:
    return Worker.for_settings(get_engine(db), settings_for(db, smtp, **overrides))


def customer(session: Session, *, language: str = "it", on_call: bool = False) -> None:
    row = Customer(name="Rossi", language=language)
    session.add(row)
    session.flush()
    assert row.id is not None
    session.add(CustomerDomain(customer_id=row.id, domain="rossi.it"))
    default = session.exec(select(Calendar).where(Calendar.name == "default")).one()
    session.add(
        Contract(
            customer_id=row.id,
            code=f"R-{language}",
            starts_on=date(2026, 1, 1),
            ends_on=date.fromisoformat(RUNS_UNTIL),
            annual_fee=Decimal("1200.00"),
            coverage=[Category.WEBSITE, Category.HOSTING, Category.BACKUP],
            calendar_id=default.id,
            take_charge_hours=Decimal(4),
        )
    )


def open_email(
    db: str,
    smtp: SmtpServer,
    *,
    at: datetime,
    per_hour: int = 20,
    message_id: str | None = None,
    **request: Any,
) -> int:
    """A customer's email, received at `at`, with its Message-ID."""
    knobs = knobs_from(settings_for(db, smtp, max_emails_per_recipient_per_hour=per_hour))
    values = {
        "channel": Channel.EMAIL,
        "from_email": "mario@rossi.it",
        "from_name": "Mario Rossi",
        "subject": "Sito lento",
        "body": "Il sito è lento.",
        "received_at": at,
        **request,
    }
    with unit_of_work(get_engine(db)) as session:
        request = opening.TicketRequest.typed(
            TicketCreate(**values),
            now=at,
            message_id=message_id or f"{uuid.uuid4().hex}@rossi.it",
        )
        opened = opening.open_ticket(request, session=session, knobs=knobs, actor="test", now=at)
    return opened.id


def take_charge(db: str, smtp: SmtpServer, ticket_id: int, *, at: datetime, estimate=None) -> None:
    knobs = knobs_from(settings_for(db, smtp))
    with unit_of_work(get_engine(db)) as session:
        lifecycle.take_charge(
            ticket_id,
            TakeChargeIn(estimated_resolution_at=estimate),
            session=session,
            knobs=knobs,
            actor="agent",
            now=at,
        )


def resolve(db: str, smtp: SmtpServer, ticket_id: int, *, at: datetime) -> None:
    knobs = knobs_from(settings_for(db, smtp))
    with unit_of_work(get_engine(db)) as session:
        lifecycle.resolve(
            ticket_id,
            ResolveIn(resolution="Riavviato PHP-FPM.", delivery_mode=DeliveryMode.REMOTE),
            session=session,
            knobs=knobs,
            actor="agent",
            now=at,
        )


def written(row: Outbox) -> dict[str, Any]:
    """The row's email as the worker writes it from its facts (or as it was kept)."""
    if row.payload is not None:
        return row.payload
    facts = OutboxFacts.model_validate(row.facts)
    return payload_of(facts, channel=row.channel, message_id=row.message_id)


def rows(db: str) -> list[Outbox]:
    with Session(get_engine(db)) as session:
        return list(session.exec(select(Outbox).order_by(Outbox.id)))


def customer_rows(db: str) -> list[Outbox]:
    """The customers' emails: a worker on the real clock may also queue staff alerts about the
    tests' requests of November (R17, in business hours only), which these tests do not judge."""
    return [r for r in rows(db) if r.kind.startswith("customer.")]


# --- what the customer reads --------------------------------------------------------------


async def test_receipt_taken_in_charge_and_resolved_in_italian_rome_time_across_dst(
    db, session, smtp
):
    """R9, R11, R14: Fri 23 Oct 2026 17:00 (CEST) + 4 business hours = Mon 26 Oct 18:00 (CET)."""
    customer(session)
    session.commit()
    ticket_id = open_email(
        db, smtp, at=rome("2026-10-23T17:00:00+02:00"), message_id="question-1@rossi.it"
    )
    take_charge(
        db,
        smtp,
        ticket_id,
        at=rome("2026-10-26T15:30:00+01:00"),
        estimate=rome("2026-10-27T17:00:00+01:00"),
    )
    resolve(db, smtp, ticket_id, at=rome("2026-10-27T16:00:00+01:00"))

    assert await worker_for(db, smtp).drain_once() == 3
    receipt, taken, resolved = smtp.sink.to("mario@rossi.it")

    assert receipt.message["Subject"] == f"[#2026-{ticket_id:06d}] Richiesta ricevuta: Sito lento"
    assert "entro lunedì 26 ottobre 2026, 18:00" in receipt.text
    assert "dal lunedì al venerdì, 15:00-18:00" in receipt.text
    assert (
        "Come lo contiamo: ricevuta ven 23/10 17:00; 1 h ven 23; sab-dom chiuso; 3 h lun 26 "
        "-> lun 26/10 18:00." in receipt.text
    )
    assert taken.message["Subject"].startswith(f"[#2026-{ticket_id:06d}] Presa in carico")
    assert "presa in carico lunedì 26 ottobre 2026, 15:30" in taken.text
    assert "Prevediamo di risolverla entro martedì 27 ottobre 2026, 17:00." in taken.text
    assert "risolta martedì 27 ottobre 2026, 16:00, in teleassistenza" in resolved.text
    assert "Riavviato PHP-FPM." in resolved.text and "Riavviato PHP-FPM." in resolved.html
    for email in (receipt, taken, resolved):
        headers = email.message
        assert headers["From"] == f"Agenzia Web <{SUPPORT}>"
        assert headers["Reply-To"] == SUPPORT
        assert headers["Auto-Submitted"] == "auto-replied"
        assert headers["In-Reply-To"] == "<question-1@rossi.it>"
        assert "<question-1@rossi.it>" in headers["References"]
        assert email.recipients == ["mario@rossi.it"]
    # The stored outbound messages hold what was sent, and say it was sent.
    with Session(get_engine(db)) as check:
        stored = check.exec(
            select(Message)
            .where(Message.ticket_id == ticket_id, Message.direction == "outbound")
            .order_by(col(Message.id))  # stored in the order they were written
        ).all()
    assert [f"<{m.message_id}>" for m in stored] == [
        e.message["Message-ID"] for e in (receipt, taken, resolved)
    ]
    assert [m.text for m in stored] == [
        e.text.replace("\r\n", "\n") for e in (receipt, taken, resolved)
    ]
    assert all(m.from_email == SUPPORT for m in stored)
    assert [r.state for r in rows(db)] == [OutboxState.SENT] * 3


async def test_an_english_customer_reads_english_and_no_estimate_is_said_plainly(db, session, smtp):
    customer(session, language="en")
    session.commit()
    ticket_id = open_email(db, smtp, at=rome("2026-11-23T16:00:00+01:00"))
    take_charge(db, smtp, ticket_id, at=rome("2026-11-23T16:30:00+01:00"))

    await worker_for(db, smtp).drain_once()
    receipt, taken = smtp.sink.to("mario@rossi.it")

    assert "by Tuesday 24 November 2026, 17:00" in receipt.text
    assert "Monday to Friday, 15:00-18:00" in receipt.text
    assert "How we count it: received Mon 23/11 16:00; 2 h Mon 23; 2 h Tue 24" in receipt.text
    assert "on Monday 23 November 2026, 16:30" in taken.text
    assert "We cannot yet predict when it will be resolved" in taken.text


async def test_without_a_contract_an_urgent_email_out_of_hours_is_best_effort_and_staff_hear(
    db, smtp
):
    """R2: no contractual deadline; R15, R16: on-call alert, best effort without an agreement."""
    ticket_id = open_email(
        db,
        smtp,
        at=rome("2026-11-28T10:00:00+01:00"),  # a Saturday
        from_email="someone@elsewhere.example",
        subject="URGENTE sito giù",
    )

    await worker_for(db, smtp).drain_once()
    (receipt,) = smtp.sink.to("someone@elsewhere.example")
    (alert,) = smtp.sink.to(STAFF)

    assert "tariffe del servizio di assistenza clienti" in receipt.text
    assert "senza un termine contrattuale di presa in carico" in receipt.text
    assert "fuori orario interveniamo per quanto possibile" in receipt.text
    assert (
        alert.message["Subject"]
        == f"[#2026-{ticket_id:06d}] URGENTE fuori orario: URGENTE sito giù"
    )
    assert "Ricevuta: sabato 28 novembre 2026, 10:00" in alert.text
    assert alert.message["Auto-Submitted"] == "auto-generated"


# --- exactly once -------------------------------------------------------------------------


async def test_smtp_down_then_up_every_email_arrives_exactly_once(db, session, smtp):
    customer(session)
    session.commit()
    start = rome("2026-11-23T16:00:00+01:00")
    tickets = [open_email(db, smtp, at=start + timedelta(minutes=n)) for n in range(3)]
    smtp.stop()  # the SMTP server is down while they are taken in charge and resolved
    for n, ticket_id in enumerate(tickets):
        take_charge(db, smtp, ticket_id, at=start + timedelta(minutes=10 + n))
        resolve(db, smtp, ticket_id, at=start + timedelta(minutes=20 + n))
    worker = worker_for(db, smtp)

    later = start + timedelta(minutes=30)
    assert await worker.drain_once(now=lambda: later) == 9
    assert {r.state for r in rows(db)} == {OutboxState.PENDING}
    assert all(r.attempts == 1 and "Error" in (r.last_error or "") for r in rows(db))
    assert await worker.drain_once(now=lambda: later) == 0  # backing off

    smtp.start()
    much_later = later + timedelta(minutes=5)
    assert await worker.drain_once(now=lambda: much_later) == 9
    assert await worker.drain_once(now=lambda: much_later + timedelta(hours=1)) == 0

    ids = [e.message["Message-ID"] for e in smtp.sink.received]
    assert len(ids) == 9 and len(set(ids)) == 9
    assert {r.state for r in rows(db)} == {OutboxState.SENT}
    with Session(get_engine(db)) as check:
        attempts = check.exec(select(OutboxAttempt)).all()
    assert sorted(a.ok for a in attempts) == [False] * 9 + [True] * 9


async def test_a_temporary_failure_past_the_horizon_fails_the_row(db, session, smtp):
    customer(session)
    session.commit()
    smtp.sink.refuse["mario@rossi.it"] = "451 4.3.0 try again later"
    at = rome("2026-11-23T16:00:00+01:00")
    open_email(db, smtp, at=at)
    worker = worker_for(db, smtp, delivery_horizon_hours=1)

    await worker.drain_once(now=lambda: at + timedelta(minutes=1))
    assert rows(db)[0].state == OutboxState.PENDING
    await worker.drain_once(now=lambda: at + timedelta(hours=2))

    receipt = rows(db)[0]
    assert receipt.state == OutboxState.FAILED and "451" in (receipt.last_error or "")
    assert [r.kind for r in rows(db)] == ["customer.receipt", "staff.delivery_failed"]


async def test_a_permanent_rejection_fails_at_once_alerts_staff_and_retry_sends_it(
    db, session, smtp, api
):
    customer(session)
    session.commit()
    smtp.sink.refuse["mario@rossi.it"] = "550 5.1.1 mailbox unavailable"
    open_email(db, smtp, at=rome("2026-11-23T16:00:00+01:00"))
    worker = worker_for(db, smtp)

    await worker.drain_once()
    receipt = rows(db)[0]
    assert receipt.state == OutboxState.FAILED
    assert receipt.attempts == 1 and "550" in (receipt.last_error or "")
    await worker.drain_once()  # the staff alert
    # (In business hours the real clock also brings the old request's breach alert, R17.)
    (alert,) = [
        m for m in smtp.sink.to(STAFF) if "Email non consegnata" in str(m.message["Subject"])
    ]
    assert alert.message["Subject"].startswith("Email non consegnata")
    assert "mario@rossi.it" in alert.text and f"/api/v1/outbox/{receipt.id}/retry" in alert.text

    failed = api.agent.get("/api/v1/outbox", params={"state": "failed"}).json()["items"]
    assert [(r["id"], r["attempts"]) for r in failed] == [(receipt.id, 1)]
    assert api.agent.post(f"/api/v1/outbox/{receipt.id}/retry").status_code == 403  # admin only
    del smtp.sink.refuse["mario@rossi.it"]  # the address is fixed
    retried = api.admin.post(f"/api/v1/outbox/{receipt.id}/retry")
    assert retried.status_code == 200 and retried.json()["state"] == "pending"
    again = api.admin.post(f"/api/v1/outbox/{receipt.id}/retry")
    assert again.status_code == 409  # pending rows are not retried

    await worker.drain_once()
    (sent,) = smtp.sink.to("mario@rossi.it")
    assert sent.message["Message-ID"] == f"<{receipt.message_id}>"
    assert rows(db)[0].state == OutboxState.SENT


# --- the loop guard -----------------------------------------------------------------------


async def test_the_loop_guard_holds_back_and_records(db, session, smtp):
    """No automatic email to ourselves, nor beyond the hourly limit per recipient: held, seen."""
    customer(session)
    session.commit()
    at = rome("2026-11-23T16:00:00+01:00")
    for n in range(3):
        open_email(db, smtp, at=at + timedelta(minutes=n), per_hour=2, subject=f"Richiesta {n}")
    open_email(db, smtp, at=at, from_email=SUPPORT, subject="da noi stessi")

    states = [(r.recipient, r.state, r.last_error or "") for r in rows(db)]
    assert [s[1] for s in states] == [
        OutboxState.PENDING,
        OutboxState.PENDING,
        OutboxState.HELD,
        OutboxState.HELD,
    ]
    assert "more than 2 emails to this address within an hour" in states[2][2]
    assert "one of our own addresses" in states[3][2]
    await worker_for(db, smtp).drain_once()
    assert len(smtp.sink.to("mario@rossi.it")) == 2 and smtp.sink.to(SUPPORT) == []


async def test_the_hourly_limit_counts_emails_within_the_hour_and_never_held_ones(
    db, session, smtp
):
    """A loop being held back does not keep the customer's next email in: held ones do not
    count toward the limit, and an hour after the first emails there is room again."""
    customer(session)
    session.commit()
    at = rome("2026-11-23T16:00:00+01:00")
    for n in range(6):  # two go, then four are held
        open_email(db, smtp, at=at + timedelta(minutes=n), per_hour=2, subject=f"Richiesta {n}")
    # 17:02: the two that went are over an hour old; three held ones are within the hour.
    open_email(db, smtp, at=at + timedelta(minutes=62), per_hour=2, subject="Un'ora dopo")

    pending, held = OutboxState.PENDING, OutboxState.HELD
    assert [r.state for r in rows(db)] == [pending, pending, held, held, held, held, pending]


# --- crashes and several workers ----------------------------------------------------------


def worker_process(
    db: str, smtp: SmtpServer | None, tmp_path, **env: str
) -> subprocess.Popen[bytes]:
    """`sportello worker` as a process of its own (without `smtp`, emails become .eml files)."""
    variables = environment(
        database_url=db,
        support_address=SUPPORT,
        worker_poll_seconds="0.1",
        secret_keys=SECRET_KEY,  # the mailboxes' passwords were sealed with it
        **({"smtp_url": smtp.url} if smtp else {}),
    )
    return subprocess.Popen(
        [SPORTELLO, "worker"],
        cwd=tmp_path,
        env={**variables, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def queue_receipts(db: str, smtp: SmtpServer, count: int) -> None:
    at = rome("2026-11-23T16:00:00+01:00")
    for n in range(count):
        open_email(
            db, smtp, at=at + timedelta(seconds=n), from_email=f"c{n}@rossi.it", subject=f"R {n}"
        )


def test_a_worker_killed_mid_batch_loses_nothing_and_resends_at_most_the_row_in_flight(
    db, session, smtp, tmp_path
):
    customer(session)
    session.commit()
    queue_receipts(db, smtp, 30)
    smtp.sink.delay = 0.05  # each email takes a while: the kill lands mid-batch

    first = worker_process(
        db, smtp, tmp_path, SPORTELLO_WORKER_LEASE_SECONDS="2", SPORTELLO_SMTP_TIMEOUT_SECONDS="1"
    )
    smtp.sink.wait_for(8, timeout=30)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    sent_before = len(smtp.sink.received)
    assert 8 <= sent_before < 30, "the worker was killed mid-batch"

    second = worker_process(
        db, smtp, tmp_path, SPORTELLO_WORKER_LEASE_SECONDS="2", SPORTELLO_SMTP_TIMEOUT_SECONDS="1"
    )
    try:
        deadline = time.monotonic() + 150  # a send cut off under load is tried again (backoff)
        while time.monotonic() < deadline and {r.state for r in customer_rows(db)} != {
            OutboxState.SENT
        }:
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=10)

    ids = [e.message["Message-ID"] for e in smtp.sink.received]
    assert len(set(ids)) == 30  # nothing lost
    assert len(ids) - len(set(ids)) <= 1  # at most the row in flight, again
    duplicated = {i for i in ids if ids.count(i) > 1}
    assert len(duplicated) <= 1  # and sent again with the same Message-ID
    assert {r.state for r in customer_rows(db)} == {OutboxState.SENT}
    assert second.returncode == 0  # SIGTERM stops it cleanly


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_on_one_postgresql_drain_1000_rows_none_twice(db, session, smtp, tmp_path):
    customer(session)
    session.commit()
    with Session(get_engine(db)) as bulk:
        bulk.add_all(
            Outbox(
                kind="customer.receipt",
                channel="email",
                recipient=f"c{n}@rossi.it",
                message_id=f"bulk.{n}@agency.example",
                dedup_key=f"bulk:{n}",
                payload=_payload(n),
            )
            for n in range(1000)
        )
        bulk.commit()

    workers = [worker_process(db, smtp, tmp_path, SPORTELLO_WORKER_BATCH="20") for _ in range(2)]
    try:
        smtp.sink.wait_for(1000, timeout=120)
        time.sleep(0.5)  # anything sent twice would arrive now
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)

    ids = [e.message["Message-ID"] for e in smtp.sink.received]
    assert len(ids) == 1000 and len(set(ids)) == 1000
    with Session(get_engine(db)) as check:
        attempts = check.exec(select(OutboxAttempt)).all()
    assert len(attempts) == 1000 and len({a.worker for a in attempts}) == 2  # both worked


def _payload(n: int) -> dict[str, Any]:
    return {
        "from": SUPPORT,
        "from_name": "Agenzia Web",
        "to": [f"c{n}@rossi.it"],
        "subject": f"[#2026-{n:06d}] Richiesta ricevuta",
        "text": "Ricevuta.\n",
        "html": "<p>Ricevuta.</p>",
        "date": "Mon, 23 Nov 2026 15:00:00 +0000",
        "message_id": f"bulk.{n}@agency.example",
        "headers": {"Auto-Submitted": "auto-replied"},
    }


# --- mobile on-call: the signed alert webhook ---------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    answers: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        status = type(self).answers.pop(0) if type(self).answers else 204
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


async def test_an_urgent_email_out_of_hours_rings_the_phone_through_the_signed_webhook(
    db, session, smtp
):
    """R15, R17 and the terms' mobile on-call: a JSON POST signed the Standard Webhooks way
    (verified with the specification's library), retried with the same webhook-id."""
    _Hook.received, _Hook.answers = [], [503]  # the bridge is down once, then up
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/ring"
    secret = "bridge-secret"
    try:
        settings = settings_for(db, smtp, alert_webhook_url=url, alert_webhook_secret=secret)
        customer(session)
        session.commit()
        saturday = rome("2026-11-28T10:00:00+01:00")
        with unit_of_work(get_engine(db)) as work:
            opening.open_ticket(
                opening.TicketRequest.typed(
                    TicketCreate(
                        channel=Channel.EMAIL,
                        from_email="mario@rossi.it",
                        subject="URGENTE server giù",
                        body="Non va niente.",
                        received_at=saturday,
                    ),
                    now=saturday,
                ),
                session=work,
                knobs=knobs_from(settings),
                actor="test",
                now=saturday,
            )
        worker = Worker.for_settings(get_engine(db), settings)
        await worker.drain_once(now=lambda: saturday)  # 503: retried later
        await worker.drain_once(now=lambda: saturday + timedelta(minutes=5))
        await worker.close()
    finally:
        server.shutdown()

    assert len(_Hook.received) == 2
    headers, body = _Hook.received[-1]
    # A secret set before (not `whsec_`) is the key's bytes as they are.
    alert = Webhook(secret.encode()).verify(body, headers)
    assert alert["kind"] == "on_call_alert" and alert["title"].endswith("URGENTE server giù")
    with pytest.raises(WebhookVerificationError):
        Webhook(b"another secret").verify(body, headers)
    assert headers["webhook-id"] == _Hook.received[0][0]["webhook-id"]  # the same alert
    webhook_row = next(r for r in rows(db) if r.channel == "webhook")
    assert webhook_row.state == OutboxState.SENT and webhook_row.attempts == 2
    assert len(smtp.sink.to(STAFF)) == 1  # and by email too


# --- alerts counted in business time ------------------------------------------------------


async def test_at_risk_then_breach_alerts_in_business_time_one_digest_each_told_once(
    db, session, smtp
):
    """R17: 1 business hour left, then the breach; several tickets at once make one email."""
    customer(session)
    session.commit()
    monday = rome("2026-11-23T16:00:00+01:00")  # deadlines Tue 24 Nov 17:00 and 17:05
    first = open_email(db, smtp, at=monday, from_email="a@rossi.it", subject="Primo")
    second = open_email(
        db, smtp, at=monday + timedelta(minutes=5), from_email="b@rossi.it", subject="Secondo"
    )
    taken = open_email(db, smtp, at=monday, from_email="c@rossi.it", subject="Preso")
    take_charge(db, smtp, taken, at=monday + timedelta(minutes=30))
    worker = worker_for(db, smtp)

    async def at(text: str) -> list:
        before = len(smtp.sink.to(STAFF))
        moment = rome(text)
        await worker.scan_once(now=moment)
        await worker.drain_once(now=lambda: moment)
        return smtp.sink.to(STAFF)[before:]

    assert await at("2026-11-24T15:59:00+01:00") == []  # 1 h 1 min left on the first
    (risk,) = await at("2026-11-24T16:06:00+01:00")
    assert risk.message["Subject"] == "Presa in carico a rischio: 2 richieste"
    assert "Resta 1 h di orario di servizio" in risk.text
    assert (
        f"[#2026-{first:06d}] Primo" in risk.text and f"[#2026-{second:06d}] Secondo" in risk.text
    )
    assert "Preso" not in risk.text  # taken in charge: no alert
    assert await at("2026-11-24T16:30:00+01:00") == []  # told once
    (breach,) = await at("2026-11-24T17:06:00+01:00")
    assert breach.message["Subject"] == "Presa in carico scaduta: 2 richieste"
    assert await at("2026-11-24T17:30:00+01:00") == []
    with Session(get_engine(db)) as check:
        events = check.exec(select(TicketEvent).where(TicketEvent.kind == "sla_alert")).all()
    assert sorted((e.ticket_id, e.data["step"]) for e in events) == sorted(
        [(first, "60m"), (second, "60m"), (first, "breached"), (second, "breached")]
    )


async def test_no_sla_alert_while_closed_it_waits_for_the_opening(db, session, smtp):
    customer(session)
    session.commit()
    ticket_id = open_email(db, smtp, at=rome("2026-11-27T17:30:00+01:00"))  # Fri, due Tue 15:30
    worker = worker_for(db, smtp)

    # The worker was down when the step was reached (Mon 17:30); found on Tuesday at 10:00,
    # before the opening, it waits; at 15:00 it goes.
    await worker.scan_once(now=rome("2026-12-01T10:00:00+01:00"))
    await worker.drain_once(now=lambda: rome("2026-12-01T10:00:00+01:00"))
    assert smtp.sink.to(STAFF) == []
    opening = rome("2026-12-01T15:00:00+01:00")
    await worker.scan_once(now=opening)
    await worker.drain_once(now=lambda: opening)
    (alert,) = smtp.sink.to(STAFF)
    assert (
        alert.message["Subject"] == f"[#2026-{ticket_id:06d}] Presa in carico a rischio: Sito lento"
    )


async def test_a_changed_estimate_and_a_wait_on_a_provider_are_told(db, session, smtp):
    """R10, R11: the customer hears of a new estimate and of a wait on a third party."""
    customer(session)
    session.commit()
    monday = rome("2026-11-23T16:00:00+01:00")
    ticket_id = open_email(db, smtp, at=monday)
    take_charge(db, smtp, ticket_id, at=monday + timedelta(minutes=10))
    knobs = knobs_from(settings_for(db, smtp))
    with unit_of_work(get_engine(db)) as work:
        lifecycle.update_ticket(
            ticket_id,
            TicketUpdate(estimated_resolution_at=rome("2026-11-26T17:00:00+01:00")),
            session=work,
            knobs=knobs,
            actor="agent",
            now=monday + timedelta(minutes=20),
        )
    with unit_of_work(get_engine(db)) as work:
        for status in (Status.IN_PROGRESS, Status.WAITING_THIRD_PARTY):
            lifecycle.change_status(
                ticket_id,
                StatusIn(status=status, note="guasto del provider"),
                session=work,
                knobs=knobs,
                actor="agent",
                now=monday + timedelta(minutes=30),
            )

    await worker_for(db, smtp).drain_once(now=lambda: monday + timedelta(minutes=31))
    subjects = [e.message["Subject"] for e in smtp.sink.to("mario@rossi.it")]
    number = f"2026-{ticket_id:06d}"
    assert subjects == [
        f"[#{number}] Richiesta ricevuta: Sito lento",
        f"[#{number}] Presa in carico: Sito lento",
        f"[#{number}] Nuova previsione di risoluzione: Sito lento",
        f"[#{number}] In attesa di un fornitore: Sito lento",
    ]
    changed, waiting = smtp.sink.to("mario@rossi.it")[2:]
    assert "ora prevediamo di risolverla entro giovedì 26 novembre 2026, 17:00" in changed.text
    assert "attendiamo l'intervento di un fornitore terzo" in waiting.text
    assert "la previsione attuale è entro giovedì 26 novembre 2026, 17:00" in waiting.text


async def test_a_row_that_cannot_be_built_fails_alone_and_the_queue_goes_on(db, smtp):
    with Session(get_engine(db)) as bulk:
        broken = _payload(1)
        del broken["text"]
        bulk.add(
            Outbox(
                kind="customer.receipt",
                channel="email",
                recipient="c1@rossi.it",
                message_id="bulk.1@agency.example",
                dedup_key="bulk:1",
                payload=broken,
            )
        )
        bulk.add(
            Outbox(
                kind="customer.receipt",
                channel="email",
                recipient="c2@rossi.it",
                message_id="bulk.2@agency.example",
                dedup_key="bulk:2",
                payload=_payload(2),
            )
        )
        bulk.commit()

    await worker_for(db, smtp).drain_once()

    first, second = rows(db)[:2]
    assert first.state == OutboxState.FAILED and "KeyError" in (first.last_error or "")
    assert second.state == OutboxState.SENT
