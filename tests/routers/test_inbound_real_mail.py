"""Real customers' mail through the webhooks (issue 26, items 1-4), on SQLite and PostgreSQL:
a broken header line, several From headers, an unquoted boundary with `=`, lying charsets.
Each shape arrives as raw MIME, through Mailgun (`body-mime`) and through SendGrid (raw mode)."""

import uuid

import pytest

from app.models.message import Attachment
from app.models.ticket import Ticket
from tests.routers.test_inbound import BASIC, count, post_mailgun, post_mime, signed

VIA = ["mime", "mailgun", "sendgrid"]


def deliver(api, via: str, raw: bytes):
    if via == "mime":
        return post_mime(api, raw)
    if via == "mailgun":
        # A form field holding the raw bytes as they are (a field, not a file: no filename).
        files = {"body-mime": (None, raw)}
        return api.anonymous.post("/api/v1/inbound/email/mailgun", data=signed({}), files=files)
    return api.anonymous.post(
        "/api/v1/inbound/email/sendgrid",
        auth=BASIC,
        data={"envelope": '{"to": ["assistenza@agency.example"]}'},
        files={"email": (None, raw)},
    )


def message_id() -> bytes:
    return f"Message-ID: <{uuid.uuid4().hex}@rossi.it>\r\n".encode()


def stored(api, response) -> tuple[dict, dict, list[dict]]:
    assert response.status_code == 200, response.text
    assert response.json()["ticket_id"] is not None, response.text
    ticket_id = response.json()["ticket_id"]
    ticket = api.viewer.get(f"/api/v1/tickets/{ticket_id}").json()
    messages = api.viewer.get(f"/api/v1/tickets/{ticket_id}/messages").json()["items"]
    events = api.viewer.get(f"/api/v1/tickets/{ticket_id}/events").json()["items"]
    return ticket, messages[0], events


def recovered(events: list[dict]) -> list[str]:
    return [e["data"]["source"] for e in events if e["kind"] == "sender_recovered"]


@pytest.mark.parametrize("via", VIA)
@pytest.mark.parametrize(
    "head",
    [
        b"Subject: Richiesta di\r\nassistenza URGENTE\r\nFrom: Mario Rossi <mario@rossi.it>\r\n",
        b"Subject: Richiesta di assistenza URGENTE\r\nuna riga di testo\r\n"
        b"From: Mario Rossi <mario@rossi.it>\r\n",
        b"---- Original email message ----\r\nFrom: Mario Rossi <mario@rossi.it>\r\n"
        b"Subject: Richiesta di assistenza URGENTE\r\n",
    ],
    ids=["folded-without-space", "stray-line", "line-before-headers"],
)
def test_a_broken_header_line_still_makes_a_ticket_from_its_sender(api, via, head):
    """Item 1: the parser used to stop at the broken line and answer 400 "no valid sender"."""
    ticket, message, events = stored(
        api, deliver(api, via, head + message_id() + b"\r\nIl sito non risponde.\r\n")
    )

    assert ticket["from_email"] == "mario@rossi.it"
    assert ticket["subject"].startswith("Richiesta di assistenza URGENTE")
    assert ticket["urgent"] is True  # R12: the folded word still counts
    assert message["text"] == "Il sito non risponde."
    assert recovered(events) == []  # the first From gave the sender


@pytest.mark.parametrize("via", VIA)
def test_an_unusable_first_from_uses_the_next_one_and_says_so(api, via):
    """Item 2: several From headers, the first without an address."""
    raw = (
        b"From: Servizio clienti\r\nFrom: Anna Bianchi <anna@rossi.it>\r\nSubject: Ordine\r\n"
        + message_id()
        + b"\r\nNon arriva.\r\n"
    )

    ticket, _, events = stored(api, deliver(api, via, raw))

    assert ticket["from_email"] == "anna@rossi.it"
    assert recovered(events) == ["from"]


@pytest.mark.parametrize("via", VIA)
def test_after_a_broken_line_reply_to_gives_the_sender_and_it_is_recorded(api, via):
    """Item 1: From unusable, no Sender: Reply-To, recorded on the ticket's audit trail."""
    raw = (
        b"---- Original email message ----\r\nFrom: noreply\r\nSubject: Ordine\r\n"
        b"testo vagante\r\nReply-To: <anna@rossi.it>\r\nReturn-Path: <bounce@mx.example>\r\n"
        + message_id()
        + b"\r\nNon arriva.\r\n"
    )

    ticket, _, events = stored(api, deliver(api, via, raw))

    assert ticket["from_email"] == "anna@rossi.it"
    assert recovered(events) == ["reply_to"]


@pytest.mark.parametrize("via", VIA)
def test_an_outlook_express_boundary_keeps_text_and_html(api, via, db):
    """Item 3: the body used to be stored empty, as one attachment.bin."""
    boundary = b"----=_NextPart_000_0012_01C0A1B2.3C4D5E60"
    raw = (
        b"From: Mario <mario@rossi.it>\r\nSubject: Sito\r\nMIME-Version: 1.0\r\n"
        + message_id()
        + b"Content-Type: multipart/alternative;\r\n\tboundary="
        + boundary
        + b"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n--"
        + boundary
        + b"\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nIl sito \xe8 lento.\r\n--"
        + boundary
        + b"\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n<p>Il sito \xe8 lento.</p>\r\n--"
        + boundary
        + b"--\r\n"
    )

    _, message, _ = stored(api, deliver(api, via, raw))

    assert message["text"] == "Il sito è lento."
    assert message["html"] == "<p>Il sito è lento.</p>"
    assert count(db, Attachment) == 0  # not one attachment.bin of the whole body


@pytest.mark.parametrize("via", VIA)
def test_a_gb2312_label_on_gbk_text_and_latin1_on_windows_1252(api, via):
    """Item 4: labels read as the WHATWG table says (GBK, Windows-1252), no U+FFFD."""
    raw = (
        b"From: =?gb2312?B?1uzpRrv5?= <zhu@rossi.it>\r\n"  # 朱镕基 in GBK
        b"Subject: =?iso-8859-1?Q?Preventivo_10=80?=\r\n"
        + message_id()
        + b"Content-Type: text/plain; charset=gb2312\r\n\r\n"
        + "你好，朱镕基。".encode("gbk")
        + b"\r\n"
    )

    ticket, message, _ = stored(api, deliver(api, via, raw))

    assert ticket["subject"] == "Preventivo 10€"
    assert message["from_name"] == "朱镕基"
    assert message["text"] == "你好，朱镕基。"


@pytest.mark.parametrize("via", VIA)
def test_a_message_without_message_id_redelivered_is_one_ticket(api, via, db):
    """P1, exactly once: 79 of the corpus's real mails carry no Message-ID; their redelivery
    (the same bytes) used to open a second ticket. Another message is another ticket."""
    raw = b"From: Mario <mario@rossi.it>\r\nSubject: Sito lento\r\n\r\nIl sito non risponde.\r\n"

    first = deliver(api, via, raw).json()
    again = deliver(api, via, raw).json()
    other = deliver(api, via, raw.replace(b"non risponde", b"risponde piano")).json()

    assert again == {**first, "duplicate": True}
    assert other["duplicate"] is False and other["ticket_id"] != first["ticket_id"]
    assert count(db, Ticket) == 2


def test_parsed_webhooks_without_message_id_know_a_redelivery(api, db):
    """Mailgun's parsed fields (a new signature each time) and SendGrid's default fields carry
    no bytes of the message: its sender, date, subject and body tell the redelivery."""
    mailgun = {
        "sender": "mario@rossi.it",
        "from": "Mario <mario@rossi.it>",
        "subject": "Sito lento",
        "body-plain": "Il sito non risponde.",
        "Date": "Mon, 23 Nov 2026 16:00:00 +0100",
    }
    sendgrid = {
        "headers": "From: Anna <anna@rossi.it>\nSubject: Ordine\n",
        "text": "Non arriva.",
    }

    def post_sendgrid():
        return api.anonymous.post("/api/v1/inbound/email/sendgrid", auth=BASIC, data=sendgrid)

    for post in (lambda: post_mailgun(api, mailgun), post_sendgrid):
        first, again = post().json(), post().json()
        assert first["duplicate"] is False
        assert again == {**first, "duplicate": True}
    assert count(db, Ticket) == 2
