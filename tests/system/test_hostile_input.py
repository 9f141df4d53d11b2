"""Hostile input on every public route of a running `sportello serve`: SQL metacharacters, a
1 MB subject, deeply nested JSON, invalid UTF-8, NUL bytes, path traversal in attachment
filenames, HTML and script in bodies, CR/LF in names and subjects, dates out of range. Each is
refused with a 4xx problem, or stored harmlessly; never a 5xx, never an injected header in an
email we send, never live markup in a page we serve."""

import json
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage

import httpx
import pytest
from sqlmodel import Session, select

from app.db import get_engine
from app.models.message import Attachment, Message
from app.models.ticket import Ticket
from tests.conftest import (
    ADMIN_TOKEN,
    INBOUND_PASSWORD,
    INBOUND_USER,
    MAILGUN_KEY,
    _empty_tables,
)
from tests.processes import Process, environment, serve
from tests.routers.test_inbound import mailgun_fields, signed
from tests.smtp import SmtpServer

RELAY = (INBOUND_USER, INBOUND_PASSWORD)
SCRIPT = "<script>alert('x')</script>"
SQL = "'; DROP TABLE ticket; --"
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture(scope="module")
def smtp(database_url: str) -> Iterator[SmtpServer]:  # one per backend
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def desk(database_url: str, smtp: SmtpServer, tmp_path_factory) -> Iterator[Process]:
    env = environment(
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        mailgun_signing_key=MAILGUN_KEY,
        inbound_username=INBOUND_USER,
        inbound_password=INBOUND_PASSWORD,
        smtp_url=smtp.url,
        support_address="assistenza@agency.example",
        worker_poll_seconds="0.1",
        contact_rate_limit="100000",
    )
    server = serve(tmp_path_factory.mktemp("hostile"), env, "--no-migrate")
    yield server
    server.stop()
    _empty_tables(database_url)  # what these tests stored is not the next test's business


def _problem(response: httpx.Response, *statuses: int) -> dict:
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


def _contact(desk: Process, **fields: str) -> httpx.Response:
    body = {
        "name": "Mario Rossi",
        "email": "mario@rossi.it",
        "subject": "Sito lento",
        "message": "Il sito è lento.",
        **fields,
    }
    return httpx.post(desk.base_url + "/api/v1/contact", json=body, timeout=30)


def _mime(desk: Process, raw: bytes) -> httpx.Response:
    return httpx.post(
        desk.base_url + "/api/v1/inbound/email/mime",
        content=raw,
        auth=RELAY,
        headers={"Content-Type": "message/rfc822"},
        timeout=30,
    )


def _email_about(smtp: SmtpServer, number: str, timeout: float = 30):
    """The email whose subject names ticket `number` (`[#number]`), once it arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for email in list(smtp.sink.received):
            if f"[#{number}]" in str(email.message["Subject"]):
                return email
        time.sleep(0.1)
    raise AssertionError(f"no email about {number}")


def test_sql_metacharacters_are_stored_as_text(desk, database_url):
    answer = _contact(desk, subject=SQL, message=SQL, name=SQL[:200])
    assert answer.status_code == 201
    number = answer.json()["ticket_number"]
    with Session(get_engine(database_url)) as session:
        ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
        assert ticket.subject == SQL
        assert session.exec(select(Ticket)).first() is not None  # the table is still there


def test_a_one_megabyte_subject(desk, database_url):
    huge = "S" * 1_000_000
    _problem(_contact(desk, subject=huge), 422)  # the form's limit is 998 characters
    longest = _contact(desk, subject="L" * 998)  # its receipt's subject is longer still
    assert longest.status_code == 201
    raw = f"From: mario@rossi.it\r\nSubject: {huge}\r\nMessage-ID: <{uuid.uuid4()}@r.it>\r\n\r\nx"
    stored = _mime(desk, raw.encode())
    assert stored.status_code == 200  # an email is never lost: its subject is cut to 998
    with Session(get_engine(database_url)) as session:
        ticket = session.get(Ticket, stored.json()["ticket_id"])
        assert ticket is not None and len(ticket.subject) <= 998


def test_deeply_nested_json_is_a_400_or_kept_in_the_quarantine(desk):
    """Bad input for the contact form; from Postmark (basic auth passed) a delivery all the
    same, kept raw in the quarantine (P1)."""
    answers = {
        path: httpx.post(
            desk.base_url + path,
            content=DEEP,
            auth=RELAY,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        for path in ("/api/v1/contact", "/api/v1/inbound/email/postmark")
    }
    _problem(answers["/api/v1/contact"], 400)
    postmark = answers["/api/v1/inbound/email/postmark"]
    assert postmark.status_code == 200 and postmark.json()["quarantined"] is True


def test_invalid_utf8_is_refused_in_json_and_kept_readable_in_email(desk, database_url):
    bad = b'{"name": "Mario \xff\xfe", "email": "mario@rossi.it", "subject": "x", "message": "y"}'
    response = httpx.post(
        desk.base_url + "/api/v1/contact",
        content=bad,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    _problem(response, 400, 422)
    raw = (
        b"From: mario@rossi.it\r\nSubject: caf\xe9 \xff\r\nMessage-ID: <utf8-"
        + uuid.uuid4().hex.encode()
        + b"@r.it>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nperch\xe9 \xff\xfe\r\n"
    )
    stored = _mime(desk, raw)
    assert stored.status_code == 200
    with Session(get_engine(database_url)) as session:
        ticket = session.get(Ticket, stored.json()["ticket_id"])
        assert ticket is not None and ticket.subject.startswith("caf")


def test_nul_bytes_are_refused_in_forms_and_stripped_from_email(desk, database_url):
    problem = _problem(_contact(desk, subject="a\x00b"), 422)
    assert problem["errors"][0]["field"] == "subject"
    message_id = f"<nul-{uuid.uuid4()}@r.it>"
    raw = f"From: mario@rossi.it\r\nSubject: a\x00b\r\nMessage-ID: {message_id}\r\n\r\nc\x00d"
    stored = _mime(desk, raw.encode())
    assert stored.status_code == 200
    with Session(get_engine(database_url)) as session:
        ticket = session.get(Ticket, stored.json()["ticket_id"])
        assert ticket is not None and "\x00" not in ticket.subject + ticket.body


def test_attachment_names_cannot_climb_out_of_their_place(desk, database_url):
    message = EmailMessage()
    message["From"] = "mario@rossi.it"
    message["Subject"] = "Allegati"
    message["Message-ID"] = f"<files-{uuid.uuid4()}@r.it>"
    message.set_content("In allegato.")
    for name in ("../../etc/passwd", "..\\..\\windows\\win.ini", "/abs/path.txt"):
        message.add_attachment(b"data", maintype="text", subtype="plain", filename=name)
    stored = _mime(desk, message.as_bytes())
    assert stored.status_code == 200
    form = httpx.post(
        desk.base_url + "/api/v1/contact",
        data={"name": "Mario", "email": "mario@rossi.it", "subject": "File", "message": "x"},
        files={"attachments": ("../../../../tmp/evil.sh", b"#!/bin/sh", "text/plain")},
        timeout=30,
    )
    assert form.status_code in (201, 303)
    with Session(get_engine(database_url)) as session:
        names = session.exec(select(Attachment.filename)).all()
    assert names
    for name in names:
        assert "/" not in name and "\\" not in name and ".." not in name
        assert "\r" not in name and "\n" not in name


def test_markup_is_stored_sanitised_and_inert_in_pages_and_emails(desk, database_url, smtp):
    html_mail = EmailMessage()
    html_mail["From"] = "Mario <mario@rossi.it>"
    html_mail["Subject"] = f"Pagina {SCRIPT}"
    html_mail["Message-ID"] = f"<html-{uuid.uuid4()}@r.it>"
    html_mail.set_content("testo")
    html_mail.add_alternative(
        f"<p onclick='x()'>Ciao</p>{SCRIPT}<img src=x onerror=alert(1)>", subtype="html"
    )
    stored = _mime(desk, html_mail.as_bytes())
    assert stored.status_code == 200
    with Session(get_engine(database_url)) as session:
        kept = session.exec(
            select(Message)
            .where(Message.ticket_id == stored.json()["ticket_id"])
            .order_by(Message.id)  # the customer's, stored before our receipt's copy
        ).first()
        assert kept is not None and kept.html is not None
        assert "<script" not in kept.html and "onerror" not in kept.html
        assert "onclick" not in kept.html
    receipt = _email_about(smtp, stored.json()["ticket_number"])
    assert "<script" not in receipt.html  # the subject is text in our HTML, not markup
    assert "&lt;script&gt;" in receipt.html
    link = next(word for word in receipt.text.split() if "/status/" in word)
    page = httpx.get(desk.base_url + link[link.index("/status/") :], timeout=30)
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text


def test_cr_lf_in_names_and_subjects_never_reach_email_headers(desk, smtp):
    marker = uuid.uuid4().hex[:8]
    answer = _contact(
        desk,
        name="Mario\r\nBcc: victim@evil.example",
        subject=f"Ciao {marker}\r\nBcc: victim@evil.example\r\nX-Injected: yes",
    )
    assert answer.status_code == 201
    fields = mailgun_fields(sender="mario@rossi.it", subject=f"Mail {marker}")
    fields["subject"] = f"Mail {marker}\r\nBcc: victim@evil.example"
    fields["from"] = "Mario\r\nBcc: victim@evil.example <mario@rossi.it>"
    delivered = httpx.post(
        desk.base_url + "/api/v1/inbound/email/mailgun", data=signed(fields), timeout=30
    )
    assert delivered.status_code == 200
    for number in (answer.json()["ticket_number"], delivered.json()["ticket_number"]):
        email = _email_about(smtp, number)  # the receipt, which repeats name and subject
        assert email.message["Bcc"] is None and email.message["X-Injected"] is None
        assert email.recipients == ["mario@rossi.it"]
        assert marker in email.message["Subject"]  # what was injected is text in the subject


def test_dates_out_of_range_are_a_422_naming_the_field(desk):
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for start in ("9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-12:00"):
        response = httpx.get(
            desk.base_url + "/api/v1/calendars/1/deadline",
            params={"start": start, "hours": "4"},
            headers=headers,
            timeout=30,
        )
        problem = _problem(response, 422)
        assert "start" in json.dumps(problem)
    raw = (
        "From: mario@rossi.it\r\nSubject: Data strana\r\nDate: Fri, 31 Dec 9999 23:59:59 +1400\r\n"
        f"Message-ID: <date-{uuid.uuid4()}@r.it>\r\n\r\nx"
    )
    assert _mime(desk, raw.encode()).status_code == 200  # kept, with the time we received it
