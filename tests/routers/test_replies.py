"""Staff replies from the desk, delivered by the worker to a real SMTP server on loopback and
read back as the raw bytes it received (P2): threading, the author's name, no Auto-Submitted,
exactly the intended recipients; the customer's answer joins the ticket; a note never leaves;
taking in charge with a reply sends one email with the estimate (R11)."""

import asyncio
import base64
import email
import email.policy
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import Session, select

from app.db import get_engine
from app.models.outbox import Outbox
from tests.conftest import ADMIN_TOKEN, INBOUND_PASSWORD, INBOUND_USER
from tests.runners.test_worker import STAFF, SUPPORT, worker_for
from tests.smtp import Received, SmtpServer, decode_text, header_fields
from tests.test_outgoing_headers import INJECTED, ISSUE_SUBJECT

REPLY_HEADERS = {
    "From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To", "References",
    "MIME-Version", "Content-Type",
}  # fmt: skip
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


class Desk:
    """A server with SMTP settings, an agent named Marco Bianchi, and the worker's rounds."""

    def __init__(self, db: str, smtp: SmtpServer, server, *, agent_name: str) -> None:
        self.db, self.smtp = db, smtp
        self.base = server.base_url
        self.admin = httpx.Client(base_url=self.base, headers=auth(ADMIN_TOKEN), timeout=30)
        self.admin.post(
            "/api/v1/customers",
            json={
                "name": "Rossi",
                "email_domains": ["rossi.it"],
                "contacts": [{"email": "boss@gmail.com", "name": "Boss"}],
            },
        ).raise_for_status()
        marco = self.admin.post(
            "/api/v1/staff",
            json={"name": agent_name, "email": "marco@agency.example", "role": "agent"},
        ).json()
        token = self.admin.post("/api/v1/tokens", json={"staff_id": marco["id"]}).json()
        self.agent = httpx.Client(base_url=self.base, headers=auth(token["token"]), timeout=30)
        self.marco = marco

    def receive(self, *, subject="Sito lento", message_id=None, in_reply_to=None) -> dict:
        message = EmailMessage()
        message["From"] = "Mario Rossi <mario@rossi.it>"
        message["To"] = SUPPORT
        message["Subject"] = subject
        message["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@rossi.it>"
        if in_reply_to:
            message["In-Reply-To"] = in_reply_to
            message["References"] = in_reply_to
        message.set_content("Il sito è lento.")
        response = httpx.post(
            self.base + "/api/v1/inbound/email/mime",
            content=message.as_bytes(),
            auth=(INBOUND_USER, INBOUND_PASSWORD),
            headers={"Content-Type": "message/rfc822"},
        )
        assert response.status_code == 200, response.text
        return response.json()

    def deliver(self, **overrides) -> list[Received]:
        before = len(self.smtp.sink.received)
        worker = worker_for(self.db, self.smtp, **overrides)

        async def rounds() -> None:
            try:
                while await worker.drain_once():
                    pass
            finally:
                await worker.close()

        asyncio.run(rounds())
        return self.smtp.sink.received[before:]

    def close(self) -> None:
        self.admin.close()
        self.agent.close()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def desk(db, smtp, serve):
    server = serve(
        smtp_url=smtp.url, support_address=SUPPORT, company_name="Agenzia Web", staff_email=STAFF
    )
    made = Desk(db, smtp, server, agent_name="Marco Bianchi")
    yield made
    made.close()


def strictly(received: Received) -> dict[str, str]:
    """The header fields as a strict reader sees them: each once, only those we write."""
    fields = header_fields(received.raw)
    names = [name for name, _ in fields]
    assert len(names) == len(set(names)), names
    assert set(names) <= REPLY_HEADERS, names
    return dict(fields)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_reply_threads_names_its_author_carries_its_file_and_the_answer_joins(desk):
    first = desk.receive(message_id="<first@rossi.it>")
    ticket = desk.admin.get(f"/api/v1/tickets/{first['ticket_id']}").json()
    desk.deliver()  # the receipt
    response = desk.agent.post(
        f"/api/v1/tickets/{ticket['number']}/replies",
        json={
            "text": "Buongiorno,\nquale pagina mostra l'errore?",
            "cc": ["Boss@gmail.com"],
            "attachments": [
                {"filename": "istruzioni.png", "content_type": "image/png",
                 "content_base64": b64(PNG)},
            ],
        },
    )  # fmt: skip
    assert response.status_code == 201, response.text
    reply = response.json()
    assert reply["kind"] == "reply" and reply["direction"] == "outbound"
    assert reply["author"] == {"id": desk.marco["id"], "name": "Marco Bianchi"}
    assert reply["from_name"] == "Marco Bianchi - Agenzia Web"

    [sent] = desk.deliver()
    assert sorted(sent.recipients) == ["boss@gmail.com", "mario@rossi.it"]
    headers = strictly(sent)
    assert headers["From"] == f"Marco Bianchi - Agenzia Web <{SUPPORT}>"
    assert headers["To"] == "mario@rossi.it" and headers["Cc"] == "boss@gmail.com"
    assert headers["Reply-To"] == SUPPORT
    assert headers["In-Reply-To"] == "<first@rossi.it>"
    assert "Auto-Submitted" not in headers  # a person's reply is not automatic mail
    assert decode_text(headers["Subject"]) == f"Re: [#{ticket['number']}] Sito lento"
    assert "quale pagina mostra l'errore?" in sent.text
    assert "Marco Bianchi" in sent.text and "/status/" in sent.text
    files = [part for part in sent.message.iter_attachments()]
    assert [(f.get_filename(), f.get_content()) for f in files] == [("istruzioni.png", PNG)]

    answer = desk.receive(subject=f"Re: {headers['Subject']}", in_reply_to=headers["Message-ID"])
    assert answer["ticket_id"] == ticket["id"]
    kinds = [
        m["kind"]
        for m in desk.agent.get(f"/api/v1/tickets/{ticket['id']}/messages").json()["items"]
    ]
    assert kinds == ["inbound", "automatic", "reply", "inbound"]

    note = desk.agent.post(f"/api/v1/tickets/{ticket['id']}/notes", json={"text": "Interno."})
    assert note.status_code == 201
    assert desk.deliver() == []  # a note never leaves


MESI = ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto")
MESI += ("settembre", "ottobre", "novembre", "dicembre")


def test_a_reply_taking_in_charge_sends_one_email_with_the_estimate(desk):
    first = desk.receive()  # received now: the estimate is two days on, whenever this runs
    estimate = datetime.now(ZoneInfo("Europe/Rome")) + timedelta(days=2)
    estimate = estimate.replace(hour=17, minute=0, second=0, microsecond=0)
    desk.deliver()  # the receipt
    agreed = {"note": "Confermato al telefono"}  # no contract: billable, agreed (P4)
    desk.agent.post(f"/api/v1/tickets/{first['ticket_id']}/consent", json=agreed)
    response = desk.agent.post(
        f"/api/v1/tickets/{first['ticket_id']}/replies",
        json={
            "text": "Ci stiamo lavorando.",
            "take_charge": True,
            "estimated_resolution_at": estimate.isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    [sent] = desk.deliver()  # one email, not two (R11)
    assert "Ci stiamo lavorando." in sent.text
    said = f"{estimate.day} {MESI[estimate.month - 1]} {estimate.year}, 17:00"
    assert "presa in carico" in sent.text and said in sent.text, said
    ticket = desk.admin.get(f"/api/v1/tickets/{first['ticket_id']}").json()
    assert ticket["status"] == "taken_in_charge"
    resolved = desk.agent.post(
        f"/api/v1/tickets/{first['ticket_id']}/replies",
        json={
            "text": "Fatto.",
            "resolve": True,
            "resolution": "Riavviato PHP-FPM.",
            "delivery_mode": "remote",
        },
    )
    assert resolved.status_code == 201, resolved.text
    [sent] = desk.deliver()
    assert "Riavviato PHP-FPM." in sent.text and "teleassistenza" in sent.text
    assert desk.admin.get(f"/api/v1/tickets/{first['ticket_id']}").json()["status"] == "resolved"


def test_the_hourly_limit_for_automatic_mail_never_holds_a_reply(desk, db):
    first = desk.receive()
    for n in range(3):
        response = desk.agent.post(
            f"/api/v1/tickets/{first['ticket_id']}/replies", json={"text": f"Risposta {n}."}
        )
        assert response.status_code == 201
    sent = desk.deliver(max_emails_per_recipient_per_hour=1)
    assert sum("Risposta" in r.text for r in sent) == 3
    with Session(get_engine(db)) as session:
        states = session.exec(select(Outbox.state).where(Outbox.kind == "customer.reply")).all()
    assert set(states) == {"sent"}


def test_copies_go_only_to_the_customer_s_addresses_unless_allowed_and_logged(desk):
    first = desk.receive()
    path = f"/api/v1/tickets/{first['ticket_id']}/replies"
    other = desk.agent.post(path, json={"text": "x", "cc": ["someone@else.example"]})
    assert other.status_code == 422 and "allow_other_recipients" in other.json()["detail"]
    ours = desk.agent.post(
        path, json={"text": "x", "cc": [SUPPORT], "allow_other_recipients": True}
    )
    assert ours.status_code == 422
    allowed = desk.agent.post(
        path, json={"text": "x", "cc": ["someone@else.example"], "allow_other_recipients": True}
    )
    assert allowed.status_code == 201
    events = desk.admin.get(f"/api/v1/tickets/{first['ticket_id']}/events").json()["items"]
    assert events[-1]["kind"] == "replied"
    assert events[-1]["data"]["other_recipients"] == ["someone@else.example"]
    [sent] = desk.deliver()[-1:]
    assert sorted(sent.recipients) == ["mario@rossi.it", "someone@else.example"]
    viewer_like = desk.agent.post(path, json={"text": "x", "resolve": True})
    assert viewer_like.status_code == 422  # resolve goes with resolution and delivery_mode


@pytest.mark.parametrize(
    "cc",
    [
        "boss@gmail.com, evil@evil.example",
        "boss@gmail.com\r\nBcc: evil@evil.example",
        "=?utf-8?q?boss@gmail.com=0D=0ABcc:_evil@evil.example?=",
        "Boss <evil@evil.example>",
        "boss@gmail.com>\nBcc:evil@evil.example",
    ],
)
def test_a_second_address_smuggled_into_cc_is_refused(desk, cc):
    first = desk.receive()
    response = desk.agent.post(
        f"/api/v1/tickets/{first['ticket_id']}/replies",
        json={"text": "x", "cc": [cc], "allow_other_recipients": True},
    )
    assert response.status_code == 422


@pytest.fixture
def hostile_desk(db, smtp, serve):
    server = serve(
        smtp_url=smtp.url, support_address=SUPPORT, company_name="Agenzia Web", staff_email=STAFF
    )
    made = Desk(
        db,
        smtp,
        server,
        agent_name="Marco =?utf-8?q?=0D=0ABcc:_x@evil.example?=\nBcc: y@evil.example",
    )
    yield made
    made.close()


def test_hostile_subject_and_author_name_reach_exactly_the_intended_recipients(hostile_desk):
    desk = hostile_desk
    first = desk.receive(subject=ISSUE_SUBJECT)
    desk.deliver()
    response = desk.agent.post(
        f"/api/v1/tickets/{first['ticket_id']}/replies",
        json={"text": "Bcc: nessuno\r\nRisposta.", "cc": ["boss@gmail.com"]},
    )
    assert response.status_code == 201, response.text
    [sent] = desk.deliver()
    assert sorted(sent.recipients) == ["boss@gmail.com", "mario@rossi.it"]
    headers = strictly(sent)
    assert "Bcc" not in headers and "Auto-Submitted" not in headers
    parsed = email.message_from_bytes(sent.raw, policy=email.policy.default)
    assert [a.addr_spec for a in parsed["To"].addresses] == ["mario@rossi.it"]
    assert [a.addr_spec for a in parsed["Cc"].addresses] == ["boss@gmail.com"]
    assert [a.addr_spec for a in parsed["From"].addresses] == [SUPPORT]
    # The author's name, as typed, on one line: text, never re-decoded into a header.
    typed = "Marco =?utf-8?q?=0D=0ABcc:_x@evil.example?= Bcc: y@evil.example"
    assert decode_text(headers["From"]) == f"{typed} - Agenzia Web <{SUPPORT}>"
    subject = decode_text(headers["Subject"])
    assert "\n" not in subject and "\r" not in subject
    for line in sent.text.splitlines():
        assert not line.startswith(tuple(w for w in INJECTED if w != "Bcc")), line


def test_the_status_page_shows_the_public_conversation_escaped_and_never_a_note(desk):
    first = desk.receive(subject="<script>alert(1)</script> Sito lento")
    ticket_id = first["ticket_id"]
    desk.agent.post(
        f"/api/v1/tickets/{ticket_id}/notes",
        json={
            "text": "NOTA INTERNA: cliente difficile.",
            "attachments": [{"filename": "interno.txt", "content_base64": b64(b"segreto")}],
        },
    ).raise_for_status()
    desk.agent.post(
        f"/api/v1/tickets/{ticket_id}/replies",
        json={
            "text": "Ecco <b>come</b> fare.\nSeconda riga.",
            "attachments": [{"filename": "guida.png", "content_type": "image/png",
                             "content_base64": b64(PNG)}],
        },
    ).raise_for_status()  # fmt: skip
    [sent] = desk.deliver()[-1:]
    link = next(word for word in sent.text.split() if "/status/" in word)
    token = link.rsplit("/", 1)[1]
    page = httpx.get(f"{desk.base}/status/{token}")
    assert page.status_code == 200
    text = page.text
    assert "Il sito è lento." in text and "Seconda riga." in text
    assert "Ecco &lt;b&gt;come&lt;/b&gt; fare." in text and "<b>come</b>" not in text
    assert "<script>alert" not in text
    assert "NOTA INTERNA" not in text and "interno.txt" not in text
    assert "Marco Bianchi" not in text  # no staff names on the customer's page
    assert text.index("Il sito è lento.") < text.index("Seconda riga.")  # newest last
    files = [
        m for m in desk.agent.get(f"/api/v1/tickets/{ticket_id}/messages").json()["items"]
        if m["attachments"]
    ]  # fmt: skip
    note_file, reply_file = files[0]["attachments"][0], files[1]["attachments"][0]
    served = httpx.get(f"{desk.base}/status/{token}/files/{reply_file['id']}")
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-disposition"].startswith("attachment;")
    assert f'href="{token}/files/{reply_file["id"]}"' in text
    assert httpx.get(f"{desk.base}/status/{token}/files/{note_file['id']}").status_code == 404
    assert httpx.get(f"{desk.base}/status/nope/files/{reply_file['id']}").status_code == 404
