"""The renewal watch through the outbox worker, against a real SMTP server, on both databases
(R1, R2, R8; P4). Time is passed in: each scan is told what `now` is."""

import asyncio
import json
import threading
from datetime import date, datetime
from decimal import Decimal
from http.server import ThreadingHTTPServer
from typing import Any

from sqlmodel import Session, select

from app.db import get_engine, unit_of_work
from app.enums import EventType, OutboxChannel
from app.models.base import utcnow
from app.models.calendar import Calendar
from app.models.contract import Contract
from app.models.customer import Customer, CustomerDomain
from app.models.outbox import Outbox
from app.models.renewal import ContractReminder
from app.models.ticket import Ticket
from app.models.webhook import WebhookCreate
from app.runners.outbox_worker import Worker
from app.services.webhooks import subscriptions
from tests.runners.test_worker import STAFF, _Hook, open_email, rome
from tests.runners.test_worker import worker_for as worker
from tests.smtp import SmtpServer

ENDS = date(2027, 3, 9)  # a Tuesday: 60 days before is Fri 8 Jan, 15 days Mon 22 Feb


def contract(
    session: Session,
    name: str,
    *,
    starts_on: date = date(2026, 3, 10),
    ends_on: date = ENDS,
    language: str = "it",
    domain: str | None = None,
) -> Contract:
    """A customer of this name (its domain `<name>.it`) with one contract."""
    customer = Customer(name=name.title(), language=language)
    session.add(customer)
    session.flush()
    assert customer.id is not None
    session.add(CustomerDomain(customer_id=customer.id, domain=domain or f"{name}.it"))
    return another(session, customer.id, f"ASS-{name}", starts_on=starts_on, ends_on=ends_on)


def another(
    session: Session, customer_id: int, code: str, *, starts_on: date, ends_on: date
) -> Contract:
    default = session.exec(select(Calendar).where(Calendar.name == "default")).one()
    row = Contract(
        customer_id=customer_id,
        code=code,
        starts_on=starts_on,
        ends_on=ends_on,
        annual_fee=Decimal("1200.00"),
        calendar_id=default.id,
    )
    session.add(row)
    session.flush()
    return row


def staff_emails(db: str) -> list[Outbox]:
    with Session(get_engine(db)) as session:
        query = select(Outbox).where(
            Outbox.kind == "staff.contract_renewal", Outbox.channel == OutboxChannel.EMAIL
        )
        return list(session.exec(query.order_by(Outbox.id)))


def worker_for(db: str, smtp: SmtpServer) -> Worker:
    """A worker telling staff 60 and 15 days before a contract's last day (the default)."""
    return worker(db, smtp, renewal_steps_days=[60, 15])


async def deliver(db: str, smtp: SmtpServer, at: datetime) -> None:
    await worker_for(db, smtp).drain_once(now=lambda: at)


async def test_each_step_is_told_once_in_business_hours_as_one_digest(db, session, smtp):
    """R1, R8: 60 and 15 days before the last day, then the day after it; one digest for
    the contracts reaching a step the same day; none for a renewed one; never twice."""
    contract(session, "rossi")
    contract(session, "bianchi")
    renewed = contract(session, "verdi")
    another(
        session,
        renewed.customer_id,
        "ASS-verdi-2027",
        starts_on=date(2027, 3, 10),
        ends_on=date(2028, 3, 9),
    )
    contract(session, "neri", ends_on=date(2027, 6, 30))  # no step yet
    session.commit()
    worker = worker_for(db, smtp)

    # Friday 8 January 2027, 60 days before: closed in the morning (R8), told at 15:30.
    assert await worker.scan_once(now=rome("2027-01-08T10:00:00+01:00")) == 0
    assert await worker.scan_once(now=rome("2027-01-08T15:30:00+01:00")) == 2
    assert await worker.scan_once(now=rome("2027-01-08T17:00:00+01:00")) == 0
    assert await worker.scan_once(now=rome("2027-01-11T15:30:00+01:00")) == 0
    await deliver(db, smtp, rome("2027-01-11T15:31:00+01:00"))
    (digest,) = smtp.sink.to(STAFF)
    assert digest.message["Subject"] == "Contratti in scadenza o scaduti: 2"
    assert "ASS-rossi (Rossi), canone 1200.00 EUR: scade il 9 marzo 2027, tra 60 giorni" in (
        digest.text
    )
    assert "ASS-bianchi (Bianchi)" in digest.text and "verdi" not in digest.text

    # Monday 22 February, 15 days before; a restarted worker finds nothing left to tell.
    fifteen = rome("2027-02-22T15:05:00+01:00")
    assert await worker.scan_once(now=fifteen) == 2
    assert await worker_for(db, smtp).scan_once(now=fifteen) == 0
    # Wednesday 10 March: lapsed, not renewed.
    assert await worker.scan_once(now=rome("2027-03-10T15:05:00+01:00")) == 2
    assert await worker.scan_once(now=rome("2027-03-11T15:05:00+01:00")) == 0
    await deliver(db, smtp, rome("2027-03-11T15:06:00+01:00"))

    _, fifteen_days, lapsed = smtp.sink.to(STAFF)
    assert "scade il 9 marzo 2027, tra 15 giorni" in fifteen_days.text
    assert "scaduto il 9 marzo 2027; le nuove richieste del cliente sono gestite alle tariffe" in (
        lapsed.text
    )
    assert lapsed.message["Auto-Submitted"] == "auto-generated"
    with Session(get_engine(db)) as check:
        told = check.exec(select(ContractReminder.step)).all()
    assert sorted(told) == ["15d", "15d", "60d", "60d", "lapsed", "lapsed"]


async def test_at_most_one_digest_a_day_the_rest_waits_for_the_next(db, session, smtp):
    contract(session, "rossi")
    session.commit()
    worker = worker_for(db, smtp)
    assert await worker.scan_once(now=rome("2027-01-08T15:30:00+01:00")) == 1
    # Recorded later that day, already 12 days from its end: told on the next business day.
    contract(session, "bianchi", ends_on=date(2027, 1, 20))
    session.commit()
    assert await worker.scan_once(now=rome("2027-01-08T16:30:00+01:00")) == 0
    assert await worker.scan_once(now=rome("2027-01-09T16:30:00+01:00")) == 0  # Saturday
    assert await worker.scan_once(now=rome("2027-01-11T15:00:00+01:00")) == 1
    await deliver(db, smtp, rome("2027-01-11T15:01:00+01:00"))
    first, second = smtp.sink.to(STAFF)
    assert first.message["Subject"] == "Contratto ASS-rossi (Rossi): scade il 9 marzo 2027"
    # Only the nearest step is told: 60 days had passed already when it was recorded.
    assert "scade il 20 gennaio 2027, tra 9 giorni" in second.text
    assert len(staff_emails(db)) == 2


async def test_two_runners_scanning_at_once_tell_once(db, session, smtp):
    """P2: a second runner never sends the digest again."""
    contract(session, "rossi")
    contract(session, "bianchi")
    session.commit()
    at = rome("2027-01-08T15:30:00+01:00")
    told = await asyncio.gather(
        worker_for(db, smtp).scan_once(now=at), worker_for(db, smtp).scan_once(now=at)
    )
    assert sorted(told) == [0, 2]
    assert len(staff_emails(db)) == 1


async def test_a_contract_whose_end_moves_is_watched_again(db, session, smtp):
    row = contract(session, "rossi")
    session.commit()
    worker = worker_for(db, smtp)
    assert await worker.scan_once(now=rome("2027-02-22T15:30:00+01:00")) == 1
    row.ends_on = date(2027, 3, 31)  # extended by hand: its steps come again
    session.add(row)
    session.commit()
    assert await worker.scan_once(now=rome("2027-02-23T15:30:00+01:00")) == 1  # 36 days: 60d
    assert await worker.scan_once(now=rome("2027-03-15T15:30:00+01:00")) == 0
    assert await worker.scan_once(now=rome("2027-03-16T15:30:00+01:00")) == 1  # 15d
    with Session(get_engine(db)) as check:
        told = check.exec(select(ContractReminder.ends_on, ContractReminder.step)).all()
    assert sorted(told) == [
        (date(2027, 3, 9), "15d"),
        (date(2027, 3, 31), "15d"),
        (date(2027, 3, 31), "60d"),
    ]


async def test_events_tell_receivers_of_the_ending_and_the_lapse(db, session, smtp):
    with unit_of_work(get_engine(db)) as unit:
        subscriptions.create(
            WebhookCreate(
                url="https://tools.example.com/hook",
                events=[EventType.CONTRACT_ENDING, EventType.CONTRACT_LAPSED],
            ),
            session=unit,
            now=utcnow(),
        )
    contract(session, "rossi")
    session.commit()
    worker = worker_for(db, smtp)
    await worker.scan_once(now=rome("2027-01-08T15:30:00+01:00"))
    await worker.scan_once(now=rome("2027-03-10T15:30:00+01:00"))
    with Session(get_engine(db)) as check:
        rows = check.exec(
            select(Outbox).where(Outbox.channel == OutboxChannel.EVENT).order_by(Outbox.id)
        ).all()
    assert [row.kind for row in rows] == ["contract.ending", "contract.lapsed"]
    ending: dict[str, Any] = rows[0].facts["data"]
    assert ending["step"] == "60d" and ending["days_left"] == 60
    assert ending["contract"]["code"] == "ASS-rossi"
    assert ending["contract"]["ends_on"] == "2027-03-09"
    assert ending["contract"]["annual_fee"] == "1200.00"
    assert rows[1].facts["data"]["days_left"] == -1


# --- a request after the lapse ----------------------------------------------------------------


async def test_a_request_after_the_lapse_is_marked_and_its_receipt_says_so_in_italian(
    db, session, smtp
):
    """R2: handled at support rates until renewed, said politely in the customer's language."""
    contract(session, "rossi", starts_on=date(2025, 12, 1), ends_on=date(2026, 11, 30))
    session.commit()
    ticket_id = open_email(db, smtp, at=rome("2026-12-03T16:00:00+01:00"))
    await deliver(db, smtp, rome("2026-12-03T16:01:00+01:00"))
    (receipt,) = smtp.sink.to("mario@rossi.it")
    assert (
        "Il suo contratto di assistenza annuale è scaduto il 30 novembre 2026: finché non sarà "
        "rinnovato, la richiesta sarà gestita con le modalità, i tempi e le tariffe del servizio "
        "di assistenza clienti" in receipt.text
    )
    assert "saremo lieti di inviarle la proposta per il nuovo anno" in receipt.html
    assert "Non risulta un contratto" not in receipt.text
    with Session(get_engine(db)) as check:
        ticket = check.get(Ticket, ticket_id)
    assert ticket is not None and ticket.contract_lapsed_on == date(2026, 11, 30)
    assert ticket.coverage == "no_contract" and ticket.billable


async def test_the_receipt_says_it_in_english_to_an_english_customer(db, session, smtp):
    contract(
        session, "rossi", starts_on=date(2025, 12, 1), ends_on=date(2026, 11, 30), language="en"
    )
    session.commit()
    open_email(db, smtp, at=rome("2026-12-03T16:00:00+01:00"))
    await deliver(db, smtp, rome("2026-12-03T16:01:00+01:00"))
    (receipt,) = smtp.sink.to("mario@rossi.it")
    assert (
        "Your annual support contract expired on 30 November 2026: until it is renewed, the "
        "request will be handled with the terms, times and rates of our customer-support "
        "service" in receipt.text
    )
    assert "We find no active annual support contract" not in receipt.text


async def test_no_mark_long_after_the_lapse_nor_with_a_contract_in_force(db, session, smtp):
    contract(session, "rossi", starts_on=date(2025, 6, 1), ends_on=date(2026, 5, 31))
    contract(session, "bianchi", starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31))
    session.commit()
    # 1 June to 3 December: more than 90 days (SPORTELLO_LAPSED_CONTRACT_DAYS).
    stranger = open_email(db, smtp, at=rome("2026-12-03T16:00:00+01:00"))
    covered = open_email(
        db, smtp, at=rome("2026-12-03T16:05:00+01:00"), from_email="anna@bianchi.it"
    )
    with Session(get_engine(db)) as check:
        tickets = [check.get(Ticket, ticket_id) for ticket_id in (stranger, covered)]
    assert [t.contract_lapsed_on for t in tickets if t] == [None, None]
    await deliver(db, smtp, rome("2026-12-03T16:06:00+01:00"))
    assert "Non risulta un contratto" in smtp.sink.to("mario@rossi.it")[0].text


async def test_the_digest_rings_the_alert_webhook_too_and_outside_text_stays_text(
    db, session, smtp
):
    """Staff hear by email and by the alert webhook; a customer's name with line breaks and
    markup is one line of text in the subject and escaped in the HTML."""
    _Hook.received, _Hook.answers = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/ring"
    row = contract(session, "rossi")
    customer = session.get(Customer, row.customer_id)
    assert customer is not None
    customer.name = "Rossi\r\nBcc: victim@example.com <script>alert(1)</script>"
    session.add(customer)
    session.commit()
    at = rome("2027-01-08T15:30:00+01:00")
    try:
        watcher = worker(
            db, smtp, renewal_steps_days=[60], alert_webhook_url=url, alert_webhook_secret="s"
        )
        assert await watcher.scan_once(now=at) == 1
        await watcher.drain_once(now=lambda: at)
        await watcher.close()
    finally:
        server.shutdown()

    (digest,) = smtp.sink.to(STAFF)
    subject = digest.message["Subject"]
    assert "\n" not in subject and "Bcc" not in digest.message
    assert subject.startswith("Contratto ASS-rossi (Rossi Bcc: victim@example.com <script>")
    assert "<script>" not in digest.html and "&lt;script&gt;" in digest.html
    assert digest.recipients == [STAFF]
    ((_, body),) = _Hook.received
    alert = json.loads(body)
    assert alert["kind"] == "contract_renewal" and "scade il 9 marzo 2027" in alert["message"]
