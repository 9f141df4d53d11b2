"""A day at the desk in a real headless Chromium, on the real services, with a real SMTP server
on loopback and the customer's mail arriving through the same intake as any email; only the
clock is fake.

Marco signs in; an urgent request arrives by email and is on top of the queue; he opens it and
asks the customer a question (a reply); the customer's answer, an email in the same thread,
appears in the conversation; he takes the request in charge with an estimate picked in Rome
time (R9, R11), records his time, and resolves it with a reply (R14). The SMTP server receives
exactly the emails the customer should get, no more.
"""

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from app.deps import get_now
from tests.browser.chromium import Page
from tests.browser.test_console import screenshot, sign_in
from tests.conftest import INBOUND_PASSWORD, INBOUND_USER, Api, LiveServer
from tests.console.test_console import add_member
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401
from tests.runners.test_worker import STAFF, SUPPORT, worker_for
from tests.smtp import Received, SmtpServer, decode_text

pytestmark = pytest.mark.browser
MONDAY = datetime(2026, 11, 23, 15, 5, tzinfo=UTC)  # 16:05 in Rome: the desk is open (R8)
CUSTOMER = "mario@rossi.it"


class Day:
    """The desk's server with its SMTP settings, the fake clock, the customer's mail, and the
    worker's rounds on the same clock."""

    def __init__(self, db: str, smtp: SmtpServer, server: LiveServer) -> None:
        self.db, self.smtp, self.server = db, smtp, server
        self.clock = [MONDAY]
        server.app.dependency_overrides[get_now] = lambda: self.clock[0]

    def later(self, minutes: int) -> None:
        self.clock[0] += timedelta(minutes=minutes)

    def email_from_the_customer(
        self, subject: str, text: str, *, in_reply_to: str | None = None
    ) -> dict:
        message = EmailMessage()
        message["From"] = f"Mario Rossi <{CUSTOMER}>"
        message["To"] = SUPPORT
        message["Subject"] = subject
        message["Message-ID"] = f"<{uuid.uuid4().hex}@rossi.it>"
        if in_reply_to:
            message["In-Reply-To"] = in_reply_to
            message["References"] = in_reply_to
        message.set_content(text)
        answer = httpx.post(
            self.server.base_url + "/api/v1/inbound/email/mime",
            content=message.as_bytes(),
            auth=(INBOUND_USER, INBOUND_PASSWORD),
            headers={"Content-Type": "message/rfc822"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        stored: dict = answer.json()
        return stored

    def deliver(self) -> list[Received]:
        """The worker's rounds at the clock's time, until nothing is due; what arrived."""
        before = len(self.smtp.sink.received)
        worker = worker_for(self.db, self.smtp)
        at = self.clock[0]

        async def rounds() -> None:
            try:
                while await worker.drain_once(now=lambda: at):
                    pass
            finally:
                await worker.close()

        asyncio.run(rounds())
        return self.smtp.sink.received[before:]


def seen(received: list[Received], number: str) -> list[tuple[list[str], str, str]]:
    """Each email as (recipients, kind, subject); the kind is what its Message-ID says it is
    (receipt, reply, taken_in_charge, ...)."""
    found = []
    for email in received:
        kind = re.fullmatch(rf"<{number}\.(\w+)\.\d+@agency\.example>", email.message["Message-ID"])
        assert kind, email.message["Message-ID"]
        found.append((email.recipients, kind.group(1), decode_text(str(email.message["Subject"]))))
    return found


def press(page: Page, key: str) -> None:
    """A key pressed and released, as a keyboard does."""
    typed = {"Enter": {"text": "\r"}, "Escape": {}}.get(key, {"text": key})
    page.call("Input.dispatchKeyEvent", type="keyDown", key=key, **typed)
    page.call("Input.dispatchKeyEvent", type="keyUp", key=key)


def text_of(page: Page, selector: str = "main") -> str:
    found: str = page.js(f"document.querySelector({json.dumps(selector)}).innerText")
    return found


def test_a_day_at_the_desk(
    api: Api,
    rossi,  # noqa: F811
    db: str,
    smtp: SmtpServer,
    serve,
    page: Page,
    tmp_path: Path,
) -> None:
    server = serve(
        smtp_url=smtp.url, support_address=SUPPORT, company_name="Agenzia Web", staff_email=STAFF
    )
    day = Day(db, smtp, server)
    calm = new_ticket(api, subject="Sito lento", received_at="2026-11-23T15:30:00+01:00")
    add_member(db, "marco@agency.example")
    page.record_policy_violations()
    sign_in(page, server.base_url, "marco@agency.example")
    assert day.deliver() == []  # a request recorded by staff gets no receipt

    # A new urgent request arrives by email (R12): on top of the queue.
    day.later(10)
    urgent = day.email_from_the_customer(
        "URGENTE: il sito non risponde", "Da stamattina il sito dà errore 500."
    )
    number = urgent["ticket_number"]
    subject = "URGENTE: il sito non risponde"
    receipt = day.deliver()
    assert seen(receipt, number) == [
        ([CUSTOMER], "receipt", f"[#{number}] Richiesta ricevuta: {subject}")
    ]
    page.goto(server.base_url + "/console/")
    page.wait_for("document.querySelectorAll('#queue tbody tr').length === 2")
    first = text_of(page, "#queue tbody tr")
    assert first.startswith(number) and "URGENTE" in first and "il sito non risponde" in first
    assert calm["number"] in text_of(page, "#queue tbody tr:nth-child(2)")
    for key in ("Connesso come Marco", "Coda", "Urgenti", "lavorative", "Tasti:"):
        assert key in text_of(page, "body")
    screenshot(page, tmp_path / "queue.png")

    # j marks the first row, Enter opens it.
    press(page, "j")
    assert page.js("document.querySelector('#queue tbody tr').classList.contains('marked')")
    press(page, "Enter")
    page.wait_for(f"location.pathname === '/console/tickets/{number}'")
    page.wait_for("document.readyState === 'complete' && !!document.querySelector('#reply-text')")

    # A question for the customer: r goes to the reply.
    day.later(5)
    press(page, "r")
    assert page.js("document.activeElement.id") == "reply-text"
    page.type_into("#reply-text", "Buongiorno,\nquale pagina mostra l'errore?")
    page.click("#send-reply")
    page.wait_for("document.querySelector('#conversation').innerText.includes('quale pagina')")
    question = day.deliver()
    assert seen(question, number) == [([CUSTOMER], "reply", f"Re: [#{number}] {subject}")]
    assert question[0].text.startswith("Buongiorno,\r\nquale pagina mostra l'errore?\r\n")
    said = api.viewer.get(f"/api/v1/tickets/{urgent['ticket_id']}/messages").json()["items"]
    # Stored with the line breaks an API client sends, though a browser posts CRLF.
    assert said[-1]["text"].startswith("Buongiorno,\nquale pagina mostra l'errore?\n")
    assert "\r" not in said[-1]["text"]

    # The customer answers by email, in the same thread: it is in the conversation on reload.
    day.later(20)
    answer = day.email_from_the_customer(
        f"Re: [#{number}] {subject}",
        "La pagina dei contatti.",
        in_reply_to=str(question[0].message["Message-ID"]),
    )
    assert (answer["ticket_number"], answer["duplicate"]) == (number, False)
    assert day.deliver() == []  # an answer on an open request is not acknowledged
    page.goto(f"{server.base_url}/console/tickets/{number}")
    page.wait_for("document.querySelector('#conversation') !== null")
    assert "La pagina dei contatti." in text_of(page, "#conversation")

    # Taken in charge with an estimate picked in Rome time (R9, R11): t goes to its day.
    day.later(5)
    press(page, "t")
    assert page.js("document.activeElement.id") == "take-day"
    page.js("document.querySelector('#take-day').value = '2026-11-25'")
    page.js("document.querySelector('#take-time').value = '17:00'")
    page.click("#take-charge")
    page.wait_for("document.querySelector('#estimate') !== null")
    assert text_of(page, "#estimate") == "mercoledì 25 novembre 2026, 17:00"
    taken = day.deliver()
    assert seen(taken, number) == [
        ([CUSTOMER], "taken_in_charge", f"[#{number}] Presa in carico: {subject}")
    ]
    assert "Prevediamo di risolverla entro mercoledì 25 novembre 2026, 17:00." in taken[0].text

    # Time recorded.
    day.later(25)  # within the session's 30 idle minutes
    page.type_into("#minutes", "45")
    page.type_into("#time-note", "Corretto il modulo dei contatti")
    page.click("#record-time")
    page.wait_for("document.querySelector('#time') !== null")
    assert "Tempo registrato: 45 min" in text_of(page, "#time")
    assert day.deliver() == []

    # Resolved with a reply (R14).
    day.later(5)
    page.type_into("#reply-text", "Il modulo dei contatti funziona di nuovo.")
    page.click("#reply-resolve")
    page.type_into("#reply-resolution", "Corretto l'invio del modulo dei contatti.")
    page.js("document.querySelector('#reply-mode').value = 'remote'")
    page.click("#send-reply")
    page.wait_for("document.querySelector('#status').innerText === 'risolta'")
    resolved = day.deliver()
    assert seen(resolved, number) == [([CUSTOMER], "reply", f"Re: [#{number}] {subject}")]
    assert resolved[0].text.startswith("Il modulo dei contatti funziona di nuovo.")
    assert "è stata risolta lunedì 23 novembre 2026, 17:15, in teleassistenza" in resolved[0].text
    assert page.violations() == []
    for key in (
        "Richiesta " + number,
        "URGENTE",
        "Rossi",
        "risolta",
        "quale pagina mostra l'errore?",
        "La pagina dei contatti.",
        "Il modulo dei contatti funziona di nuovo.",
        "Tempo registrato: 45 min",
        "mercoledì 25 novembre 2026, 17:00",
    ):
        assert key in text_of(page, "body"), key
    screenshot(page, tmp_path / "ticket.png")

    # The whole day, as the SMTP server saw it: these four emails to the customer, no more.
    assert seen(smtp.sink.received, number) == [
        ([CUSTOMER], "receipt", f"[#{number}] Richiesta ricevuta: {subject}"),
        ([CUSTOMER], "reply", f"Re: [#{number}] {subject}"),
        ([CUSTOMER], "taken_in_charge", f"[#{number}] Presa in carico: {subject}"),
        ([CUSTOMER], "reply", f"Re: [#{number}] {subject}"),
    ]
    final = api.viewer.get(f"/api/v1/tickets/{urgent['ticket_id']}").json()
    assert (final["status"], final["delivery_mode"], final["sla"]["state"]) == (
        "resolved",
        "remote",
        "met",
    )


def test_the_keys_go_to_their_fields_but_never_while_typing(
    api: Api,
    rossi,  # noqa: F811
    db: str,
    sportello: LiveServer,
    page: Page,
) -> None:
    ticket = new_ticket(api)
    add_member(db, "marco@agency.example")
    sign_in(page, sportello.base_url, "marco@agency.example")
    press(page, "/")
    assert page.js("document.activeElement.id") == "q"
    page.goto(f"{sportello.base_url}/console/tickets/{ticket['number']}")
    page.wait_for("document.querySelector('#note-text') !== null")
    assert "r risposta, n nota, t presa in carico" in text_of(page, "#actions")
    press(page, "n")
    assert page.js("document.activeElement.id") == "note-text"
    for key in ("r", "t", "j"):  # typed into the note, as any letter
        press(page, key)
    assert page.js("document.activeElement.id") == "note-text"
    assert page.js("document.querySelector('#note-text').value") == "rtj"
    press(page, "Escape")  # out of the field: the keys work again
    press(page, "r")
    assert page.js("document.activeElement.id") == "reply-text"
    assert page.js("document.querySelector('#reply-text').value") == ""
