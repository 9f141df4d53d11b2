"""P2: exactly the intended recipients and headers, whatever the customer typed.

Every customer email kind (R11: receipt, taken in charge, estimate changed, waiting on a
provider, resolved) and every staff alert (R15 on-call, R17 at-risk and breach, a failed
delivery, the mailbox alerts, the quarantine digest) is caused with hostile subjects, names,
Message-IDs and References, delivered by the worker to a real SMTP server on loopback, and the
RAW BYTES it received are read as a strict reader does: RCPT TO and To are the intended
recipient only, the header names are exactly those we write, the subject is the customer's text
on one line, a name is never a paragraph.
"""

import email
import email.policy
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from markupsafe import escape
from pydantic import SecretStr
from sqlmodel import Session, select

from app.db import get_engine, unit_of_work
from app.enums import Category, Channel, QuarantineReason, Status
from app.models.calendar import Calendar
from app.models.common import one_line
from app.models.contract import Contract
from app.models.customer import Customer, CustomerDomain
from app.models.mailbox import MailboxCreate
from app.models.message import Message
from app.models.outbox import Outbox, OutboxFacts
from app.models.ticket import StatusIn, Ticket, TicketCreate, TicketUpdate
from app.services.intake import opening, quarantine
from app.services.knobs import knobs_from
from app.services.mailboxes import records
from app.services.notifications.render import payload_of
from app.services.notifications.transports import FileTransport, SmtpTransport, build_email
from app.services.tickets import lifecycle
from tests.conftest import INBOUND_PASSWORD, INBOUND_USER, Api
from tests.routers.test_inbound import mailgun_fields, signed
from tests.runners.test_worker import (
    STAFF,
    SUPPORT,
    resolve,
    rome,
    settings_for,
    take_charge,
    worker_for,
)
from tests.smtp import Received, SmtpServer, decode_text, header_fields

ISSUE_SUBJECT = (
    "Aiuto =?utf-8?q?=0D=0ABcc:_x@evil.example=0D=0AReply-To:_phish@evil.example=0D=0A=0D=0APAGHI?="
)
ISSUE_NAME = "Rossi\n\nATTENZIONE: paghi subito su http://evil.example"
ISSUE_MESSAGE_ID = "=?utf-8?q?=0D=0ABcc:_evil@evil.example?=@x.example"
BAD_REFERENCES = ["a@x.example>\r\nBcc: evil@evil.example", "a b@x.example", ISSUE_MESSAGE_ID]
# What must never start a line of a header block or a paragraph of ours.
INJECTED = ("Bcc", "Cc", "Reply-To", "X-Injected", "ATTENZIONE", "PAGHI")
CUSTOMER_HEADERS = {
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
}
THREAD_HEADERS = {"In-Reply-To", "References"}
STAFF_HEADERS = CUSTOMER_HEADERS - {"Reply-To"}


@dataclass(frozen=True)
class Hostile:
    subject: str
    name: str
    message_id: str  # the customer's Message-ID, as stored
    threads: bool  # whether it is a valid msg-id (then our emails answer it)


HOSTILE = {
    "the issue's": Hostile(ISSUE_SUBJECT, ISSUE_NAME, ISSUE_MESSAGE_ID, False),
    "encoded twice": Hostile(
        "=?utf-8?q?=3D=3Futf-8=3Fq=3F=3D0D=3D0ABcc=3A=5Fx=40evil.example=3F=3D?=",
        "=?utf-8?q?Mario=0D=0ABcc:_x@evil.example?=",
        "=?utf-8?q?=0D=0A?=@x.example",  # a valid msg-id that looks like an encoded word
        True,
    ),
    "base64 word": Hostile(
        "=?utf-8?b?DQpCY2M6IHhAZXZpbC5leGFtcGxlDQoNClBBR0hJ?=",
        "=?utf-8?b?DQpCY2M6IHhAZXZpbC5leGFtcGxl?= Rossi",
        "b64@x.example",
        True,
    ),
    "bare CR": Hostile("Ciao\rBcc: x@evil.example", "Mario\rBcc: x@evil.example", "cr", False),
    "bare LF": Hostile(
        "Ciao\nBcc: x@evil.example\n\nPAGHI", "Mario\nBcc: x@evil.example", "lf@x", True
    ),
    "controls": Hostile(
        "Ciao\x01\x0b\x0c\x1b\x7f\x85Bcc: x@evil.example", "Mario\x85Rossi\x1b", "c@x", True
    ),
    "U+2028": Hostile(
        "Ciao\u2028Bcc: x@evil.example\u2029X-Injected: yes",
        "Mario\u2028ATTENZIONE: paghi",
        "<nested@x.example>",
        False,
    ),
    "folded": Hostile(
        "Ciao\r\n Bcc: x@evil.example\r\n\tX-Injected: yes",
        "Mario\r\n Rossi",
        "folded@x.example",
        True,
    ),
    "very long": Hostile(
        "è" * 850 + " =?utf-8?q?=0D=0ABcc:_x@evil.example?=" + "L" * 50,
        "N" * 190 + "\nPAGHI",
        "l" * 300 + "@" + "x" * 300 + ".example",
        True,
    ),
}


def expected_subject(template: str, typed: str) -> str:
    """What our email's subject says: the template's words and the customer's, on one line."""
    subject = one_line(template.format(one_line(typed))).strip()
    return subject if len(subject) <= 998 else subject[:997] + "…"


def read(received: Received) -> dict[str, Any]:
    """The raw bytes as a strict reader sees them; checks what every email of ours must hold."""
    fields = header_fields(received.raw)
    names = [name for name, _ in fields]
    assert len(names) == len(set(names)), names  # no header twice
    values = dict(fields)
    assert values["To"] == received.recipients[0] and len(received.recipients) == 1
    parsed = email.message_from_bytes(received.raw, policy=email.policy.default)
    subject = decode_text(values["Subject"])
    assert str(parsed["Subject"]) == subject  # Python's reader agrees with the strict one
    for part in parsed.walk():
        if part is not parsed:
            assert set(part.keys()) <= {"Content-Type", "Content-Transfer-Encoding", "MIME-Version"}
    text, html = received.text, received.html
    for line in text.splitlines():
        assert not line.startswith(INJECTED), line
    for start in ("<p>", "<br>\n"):
        assert all(f"{start}{word}" not in html for word in INJECTED)
    return {"names": set(names), "subject": subject, "text": text, "html": html, **values}


@pytest.fixture
def scenario(db: str, smtp: SmtpServer) -> "Scenario":
    return Scenario(db, smtp)


class Scenario:
    """Tickets from a hostile customer moved through their life, and the worker's rounds."""

    def __init__(self, db: str, smtp: SmtpServer) -> None:
        self.db, self.smtp = db, smtp
        self.knobs = knobs_from(settings_for(db, smtp))

    def customer(self, name: str) -> None:
        with unit_of_work(get_engine(self.db)) as session:
            row = Customer(name=name, language="it")
            session.add(row)
            session.flush()
            assert row.id is not None
            session.add(CustomerDomain(customer_id=row.id, domain="rossi.it"))
            default = session.exec(select(Calendar).where(Calendar.name == "default")).one()
            session.add(
                Contract(
                    customer_id=row.id,
                    code="R-1",
                    starts_on=datetime(2026, 1, 1).date(),
                    ends_on=datetime(2026, 12, 31).date(),
                    annual_fee=Decimal("1200.00"),
                    coverage=[Category.WEBSITE, Category.HOSTING, Category.BACKUP],
                    calendar_id=default.id,
                    take_charge_hours=Decimal(4),
                )
            )

    def open(
        self, at: datetime, *, sender: str, hostile: Hostile, message_id: str | None = None
    ) -> tuple[int, str]:
        request = TicketCreate(
            channel=Channel.EMAIL,
            from_email=sender,
            from_name=hostile.name,
            subject=hostile.subject,
            body="Il sito è giù.",
            received_at=at,
        )
        typed = opening.TicketRequest.typed(
            request,
            now=at,
            message_id=message_id or f"{uuid.uuid4().hex}@rossi.it",
            references=(*BAD_REFERENCES, "first@x.example"),
        )
        with unit_of_work(get_engine(self.db)) as session:
            opened = opening.open_ticket(
                typed, session=session, knobs=self.knobs, actor="test", now=at
            )
        return opened.id, opened.number

    def move(self, ticket_id: int, at: datetime) -> None:
        """Taken in charge, a new estimate, a wait on a provider, resolved (R10, R11)."""
        take_charge(self.db, self.smtp, ticket_id, at=at, estimate=at + timedelta(days=2))
        with unit_of_work(get_engine(self.db)) as session:
            lifecycle.update_ticket(
                ticket_id,
                TicketUpdate(estimated_resolution_at=at + timedelta(days=3)),
                session=session,
                knobs=self.knobs,
                actor="agent",
                now=at + timedelta(minutes=10),
            )
            for status in (Status.IN_PROGRESS, Status.WAITING_THIRD_PARTY):
                lifecycle.change_status(
                    ticket_id,
                    StatusIn(status=status),
                    session=session,
                    knobs=self.knobs,
                    actor="agent",
                    now=at + timedelta(minutes=20),
                )
        resolve(self.db, self.smtp, ticket_id, at=at + timedelta(minutes=30))

    def mailbox_alerts(self, hostile: Hostile, at: datetime) -> str:
        """A message left in a mailbox, then the mailbox failing, with hostile words."""
        with unit_of_work(get_engine(self.db)) as session:
            box = records.create_mailbox(
                MailboxCreate(
                    name="assistenza",
                    host="imap.example.com",
                    security="implicit_tls",
                    username="assistenza@agency.example",
                    password=SecretStr("x"),
                ),
                session=session,
            )
            assert box.id is not None
            records.report_left(
                box.id,
                session=session,
                mail=self.knobs.mail,
                now=at,
                uidvalidity=1,
                uid=7,
                reason="oltre il limite di dimensione",
                sender=f"{hostile.name} <x@evil.example>",
                subject=hostile.subject,
            )
            records.record_failure(
                box.id,
                session=session,
                owner="test",
                now=at,
                error=hostile.subject,
                mail=self.knobs.mail,
            )
        return "assistenza"

    def quarantined(self, hostile: Hostile, at: datetime) -> None:
        """A delivery with no sender and a hostile subject, kept in the quarantine (P1)."""
        raw = (
            f"Subject: {hostile.subject}\r\nMessage-ID: <{uuid.uuid4().hex}@x.example>\r\n\r\n"
            "Nessun mittente.\r\n"
        ).encode("utf-8", "surrogateescape")
        with unit_of_work(get_engine(self.db)) as session:
            quarantine.hold(
                raw,
                session=session,
                source="mime",
                reason=QuarantineReason.NO_SENDER,
                detail="NoSender: no sender",
                content_type="message/rfc822",
                now=at,
            )

    async def drain(self, at: datetime) -> None:
        worker = worker_for(self.db, self.smtp)
        await worker.scan_once(now=at)
        await worker.drain_once(now=lambda: at)
        await worker.drain_once(now=lambda: at + timedelta(seconds=1))  # failure alerts


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
async def test_every_email_we_send_holds_exactly_our_headers_and_recipients(
    scenario: Scenario, smtp: SmtpServer, hostile: Hostile
):
    """P2, R11, R15, R17 on both databases: the raw bytes received by the SMTP server."""
    scenario.customer(hostile.name)
    smtp.sink.refuse["refused@rossi.it"] = "550 5.1.1 =?utf-8?q?=0D=0ABcc:_x@evil.example?="
    saturday = rome("2026-11-28T10:00:00+01:00")  # closed: an urgent email rings on call
    urgent = Hostile("URGENTE " + hostile.subject, hostile.name, hostile.message_id, False)
    a, number_a = scenario.open(
        saturday, sender="mario@rossi.it", hostile=urgent, message_id=hostile.message_id
    )
    monday = rome("2026-11-30T15:00:00+01:00")
    b, number_b = scenario.open(monday, sender="b@rossi.it", hostile=hostile)
    c, number_c = scenario.open(
        monday + timedelta(minutes=30), sender="c@rossi.it", hostile=hostile
    )
    scenario.move(a, monday + timedelta(minutes=10))
    await scenario.drain(monday + timedelta(hours=1))
    await scenario.drain(rome("2026-12-01T15:05:00+01:00"))  # b: 1 business hour left
    tuesday = rome("2026-12-01T16:40:00+01:00")
    d, number_d = scenario.open(tuesday, sender="refused@rossi.it", hostile=hostile)
    mailbox = scenario.mailbox_alerts(hostile, tuesday)
    scenario.quarantined(hostile, tuesday)
    await scenario.drain(tuesday + timedelta(minutes=5))  # c at risk; b and c breached

    # The customer's five emails (R11), each answering the customer's message when it can.
    labels = [
        "[#{number}] Richiesta ricevuta: {{}}",
        "[#{number}] Presa in carico: {{}}",
        "[#{number}] Nuova previsione di risoluzione: {{}}",
        "[#{number}] In attesa di un fornitore: {{}}",
        "[#{number}] Risolta: {{}}",
    ]
    received = smtp.sink.to("mario@rossi.it")
    assert len(received) == len(labels)
    for label, arrived in zip(labels, received, strict=True):
        mail = read(arrived)
        threads = hostile.threads and hostile.message_id != ISSUE_MESSAGE_ID
        assert mail["names"] == CUSTOMER_HEADERS | (THREAD_HEADERS if threads else set())
        assert mail["subject"] == expected_subject(label.format(number=number_a), urgent.subject)
        assert mail["From"] == f"Agenzia Web <{SUPPORT}>" and mail["Reply-To"] == SUPPORT
        if threads:
            assert mail["In-Reply-To"] == f"<{hostile.message_id}>"
            assert mail["References"] == f"<first@x.example> <{hostile.message_id}>"
        greeting = f"Gentile {one_line(hostile.name)},"
        assert greeting in mail["text"].splitlines()
        assert f"<p>{escape(greeting)}</p>" in mail["html"]
    for address, number in (("b@rossi.it", number_b), ("c@rossi.it", number_c)):
        (receipt,) = smtp.sink.to(address)
        mail = read(receipt)
        assert mail["names"] == CUSTOMER_HEADERS | THREAD_HEADERS
        label = f"[#{number}] Richiesta ricevuta: {{}}"
        assert mail["subject"] == expected_subject(label, hostile.subject)

    # The staff alerts: on call (R15), at risk and breached (R17), failed delivery, mailboxes.
    staff = [read(arrived) for arrived in smtp.sink.to(STAFF)]
    assert all(mail["names"] == STAFF_HEADERS for mail in staff)
    assert all(mail["From"] == f"Sportello Agenzia Web <{SUPPORT}>" for mail in staff)
    assert sorted(mail["subject"] for mail in staff) == sorted(
        [
            expected_subject(f"[#{number_a}] URGENTE fuori orario: {{}}", urgent.subject),
            expected_subject(f"[#{number_b}] Presa in carico a rischio: {{}}", hostile.subject),
            expected_subject(f"[#{number_c}] Presa in carico a rischio: {{}}", hostile.subject),
            "Presa in carico scaduta: 2 richieste",
            f"Email non consegnata [#{number_d}]: refused@rossi.it",
            f"Messaggio lasciato nella casella {mailbox}: oltre il limite di dimensione",
            expected_subject(f"Casella {mailbox} non leggibile: {{}}", hostile.subject),
            "un messaggio in quarantena",
        ]
    )
    on_call = next(mail for mail in staff if "URGENTE fuori orario" in mail["subject"])
    assert f"Da: mario@rossi.it ({one_line(hostile.name)})" in on_call["text"].splitlines()
    digest = next(mail for mail in staff if "2 richieste" in mail["subject"])
    for number in (number_b, number_c):
        line = f"- [#{number}] {one_line(hostile.subject)} (da "
        assert any(row.startswith(line) for row in digest["text"].splitlines())
    quarantined = next(mail for mail in staff if "quarantena" in mail["subject"])
    assert sum("oggetto: " in row for row in quarantined["text"].splitlines()) == 1
    # Nobody else got anything: 5 + 2 receipts, 8 alerts (the refused receipt never arrived).
    envelopes = [tuple(arrived.recipients) for arrived in smtp.sink.received]
    assert sorted(envelopes) == sorted(
        [("mario@rossi.it",)] * 5 + [("b@rossi.it",), ("c@rossi.it",)] + [(STAFF,)] * 8
    )
    with Session(get_engine(scenario.db)) as session:
        subjects = session.exec(select(Ticket.subject).where(Ticket.id.in_([a, b, c, d]))).all()
    assert all(subject == one_line(subject) for subject in subjects)


async def test_hostile_deliveries_are_stored_on_one_line_and_answered_with_our_headers_only(
    api: Api, db: str, smtp: SmtpServer
):
    """From outside, as an attacker sends it: a Mailgun subject encoded twice (its decoded
    text is itself an encoded word), a U+2028 in an encoded subject, raw MIME with a hostile
    Message-ID and display name, and the website's form with the issue's subject and name."""
    twice = "=?utf-8?q?=3D=3Futf-8=3Fq=3F=3D0D=3D0ABcc=3A=5Fx=40evil.example=3D0D=3D0APAGHI=3F=3D?="
    literal = "=?utf-8?q?=0D=0ABcc:_x@evil.example=0D=0APAGHI?="  # what it reads once decoded
    separator = "=?utf-8?q?Ciao=E2=80=A8Bcc:_x@evil.example?="
    raw = (
        "From: =?utf-8?q?Ma=1Brio=0D=0ABcc=3A_x=40evil.example?= <mime@rossi.it>\r\n"
        "Subject: =?utf-8?q?Ciao=00=0D=0ABcc:_x@evil.example?=\r\n"
        f"Message-Id: <{ISSUE_MESSAGE_ID}>\r\n"
        "References: <ok@x.example> <a b@x.example>\r\n\r\nIl sito è giù.\r\n"
    )
    answers = {
        "twice@rossi.it": api.anonymous.post(
            "/api/v1/inbound/email/mailgun",
            data=signed(mailgun_fields(sender="twice@rossi.it", subject=twice)),
        ),
        "line@rossi.it": api.anonymous.post(
            "/api/v1/inbound/email/mailgun",
            data=signed(mailgun_fields(sender="line@rossi.it", subject=separator)),
        ),
        "mime@rossi.it": api.anonymous.post(
            "/api/v1/inbound/email/mime",
            content=raw.encode(),
            auth=(INBOUND_USER, INBOUND_PASSWORD),
            headers={"Content-Type": "message/rfc822"},
        ),
        "form@rossi.it": api.anonymous.post(
            "/api/v1/contact",
            json={
                "name": ISSUE_NAME,
                "email": "form@rossi.it",
                "subject": ISSUE_SUBJECT,
                "message": "Il sito è giù.",
            },
        ),
    }
    assert [answer.status_code for answer in answers.values()] == [200, 200, 200, 201]

    await worker_for(db, smtp).drain_once()
    expected = {
        "twice@rossi.it": (literal, "Mario Rossi", True),
        "line@rossi.it": ("Ciao Bcc: x@evil.example", "Mario Rossi", True),
        "mime@rossi.it": ("Ciao Bcc: x@evil.example", "Ma rio Bcc: x@evil.example", False),
        "form@rossi.it": (ISSUE_SUBJECT, one_line(ISSUE_NAME), False),
    }
    with Session(get_engine(db)) as session:
        stored = {t.from_email: t for t in session.exec(select(Ticket)).all()}
        kept_id = session.exec(
            select(Message.message_id)
            .where(Message.ticket_id == stored["mime@rossi.it"].id)
            .order_by(Message.id)  # the customer's, stored before our receipt's copy
        ).first()
    assert kept_id == ISSUE_MESSAGE_ID  # kept as data, never threaded
    for address, (subject, name, threads) in expected.items():
        ticket = stored[address]
        assert (ticket.subject, ticket.from_name) == (subject, name)
        (receipt,) = smtp.sink.to(address)
        mail = read(receipt)
        assert mail["names"] == CUSTOMER_HEADERS | (THREAD_HEADERS if threads else set())
        assert mail["subject"] == f"[#{ticket.number}] Richiesta ricevuta: {subject}"
        assert f"Gentile {name}," in mail["text"].splitlines()


async def test_a_resent_email_is_the_same_bytes(db: str, smtp: SmtpServer, tmp_path):
    """P2: a row sent again (a worker lost its lease) is byte for byte the email sent before,
    MIME boundary included: one email to the reader, whatever the retries."""
    scenario = Scenario(db, smtp)
    scenario.customer("Rossi")
    scenario.open(
        rome("2026-11-30T15:00:00+01:00"), sender="mario@rossi.it", hostile=HOSTILE["controls"]
    )
    with Session(get_engine(db)) as session:
        row = session.exec(select(Outbox)).one()
    # Written from its facts as the worker writes it (once: kept on the row and sent as kept).
    payload = payload_of(
        OutboxFacts.model_validate(row.facts), channel=row.channel, message_id=row.message_id
    )
    transport = SmtpTransport(smtp.url)
    for _ in range(2):
        await transport.send(payload)
        await transport.close()  # a new connection, as another worker would open
    first, second = smtp.sink.wait_for(2)
    assert b"multipart/alternative" in first.raw
    assert first.raw == second.raw
    files = FileTransport(tmp_path)
    await files.send(payload)
    written = next(tmp_path.glob("*.eml")).read_bytes()
    await files.send(payload)
    assert next(tmp_path.glob("*.eml")).read_bytes() == written == build_email(payload)
    assert written == first.raw
