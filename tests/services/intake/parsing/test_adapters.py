"""Each provider adapter turns its documented payload into the expected InboundEmail."""

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.services.intake.parsing import (
    InboundEmail,
    MalformedEmail,
    UploadedFile,
    extract_ticket_tag,
    from_mailgun,
    from_mime,
    from_postmark,
    from_sendgrid,
)

from . import decode_form_data, fixture_bytes, provider_fixture

CET = timezone(timedelta(hours=1))


def postmark_payload() -> dict:
    return json.loads(fixture_bytes("postmark.json"))


# --- Mailgun --------------------------------------------------------------------------------


def test_mailgun_forward_parsed_fields() -> None:
    fields, files = provider_fixture("mailgun_forward.json")

    email = from_mailgun(fields, files)

    assert email.provider == "mailgun"
    assert email.message_id == "CAFr-mg-0001@mail.cliente.example"
    assert email.provider_id == "CAFr-mg-0001@mail.cliente.example"
    assert (email.from_email, email.from_name) == ("mario.rossi@cliente.example", "Mario Rossi")
    assert email.to == ("assistenza@sportello.example",)
    assert email.subject == "Re: [#2026-000123] Il modulo contatti non invia più"
    assert extract_ticket_tag(email.subject) == "2026-000123"
    assert email.text.startswith("Ecco lo screenshot dell'errore.\n\nOn Mon, Nov 23")
    assert email.text_stripped == "Ecco lo screenshot dell'errore."
    assert email.in_reply_to == ("ticket-2026-000123.2@sportello.example",)
    assert email.references == (
        "20261123151203.4471@cliente.example",
        "ticket-2026-000123.2@sportello.example",
    )
    assert email.date == datetime(2026, 11, 23, 16, 39, 58, tzinfo=CET)
    assert not email.auto_submitted and email.auto_reason is None
    assert email.html is not None and "onload" not in email.html
    assert '<img src="cid:ii_screen1">' in email.html
    [attachment] = email.attachments
    assert attachment.filename == "screenshot.png"
    assert attachment.content_type == "image/png"
    assert attachment.content_id == "ii_screen1"
    assert attachment.data == fixture_bytes("mailgun_forward_attachment-1.png")
    assert attachment.size == 70 and len(attachment.sha256) == 64
    assert ("X-Mailgun-Sflag", "No") in email.headers
    assert email.header("subject") == "Re: [#2026-000123] Il modulo contatti non invia più"


def test_mailgun_raw_mime_variant() -> None:
    fields, files = provider_fixture("mailgun_mime.json")

    email = from_mailgun(fields, files)

    assert email.provider == "mailgun"
    assert email.message_id == email.provider_id == "mg-mime-0002@cliente.example"
    assert (email.from_email, email.from_name) == ("nicolo@cliente.example", "Nicolò Esposito")
    assert email.subject == "URGENTE: caselle bloccate"
    assert email.text == "Nessuna casella riceve posta…"
    assert email.html == '<div dir="ltr">Nessuna casella riceve posta…</div>'
    assert email.date == datetime(2026, 11, 23, 17, 44, 58, tzinfo=CET)


def test_mailgun_headers_fall_back_to_top_level_fields() -> None:
    fields, files = provider_fixture("mailgun_forward.json")
    del fields["message-headers"]

    email = from_mailgun(fields, files)

    assert email.message_id == "CAFr-mg-0001@mail.cliente.example"
    assert email.in_reply_to == ("ticket-2026-000123.2@sportello.example",)
    assert email.subject == "Re: [#2026-000123] Il modulo contatti non invia più"


def test_mailgun_empty_envelope_sender_is_automatic() -> None:
    fields, files = provider_fixture("mailgun_forward.json")

    email = from_mailgun({**fields, "sender": ""}, files)

    assert email.auto_submitted and email.auto_reason == "empty return-path"


def test_mailgun_body_html_may_be_a_list_of_parts() -> None:
    fields, _ = provider_fixture("mailgun_forward.json")

    email = from_mailgun({**fields, "body-html": ["<p>uno</p>", "<p>due</p>"]}, [])

    assert email.html == "<p>uno</p>\n<p>due</p>"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"message-headers": "not json"}, "message-headers"),
        ({"message-headers": "[]", "from": "", "From": "", "sender": ""}, "sender"),
        ({"attachments": "[]", "attachment-count": None}, "store()"),
    ],
)
def test_mailgun_malformed(change: dict, message: str) -> None:
    fields, files = provider_fixture("mailgun_forward.json")
    fields = {key: value for key, value in {**fields, **change}.items() if value is not None}

    with pytest.raises(MalformedEmail, match=message):
        from_mailgun(fields, files)


# --- SendGrid -------------------------------------------------------------------------------


def test_sendgrid_default_mode_applies_declared_charsets() -> None:
    fields, files = decode_form_data(fixture_bytes("sendgrid_default.multipart"), "xYzZY")
    assert isinstance(fields["text"], bytes)  # windows-1252 bytes, as posted

    email = from_sendgrid(fields, files)

    assert email.provider == "sendgrid" and email.provider_id is None
    assert email.message_id == "CAEPk3R+sg-0004@mail.cliente.example"
    assert (email.from_email, email.from_name) == ("nicolo@cliente.example", "Nicolò Esposito")
    assert email.to == ("assistenza@parse.sportello.example",)
    assert email.subject == "Re: [#2026-000126] Perchè il sito è lento?"
    assert email.text.startswith("Perchè il sito è lento? Il caricamento richiede 20\xa0s…")
    assert email.text_stripped == "Perchè il sito è lento? Il caricamento richiede 20\xa0s…"
    assert email.html == "<p>Perchè il sito è lento?</p><p>Grazie</p>"
    assert email.in_reply_to == email.references == ("ticket-2026-000126.1@sportello.example",)
    assert email.date == datetime(2026, 11, 26, 10, 15, tzinfo=CET)
    [attachment] = email.attachments
    assert (attachment.filename, attachment.content_type) == (
        "tempi di caricamento.csv",
        "text/csv",
    )
    assert attachment.data.startswith(b"pagina,secondi")


def test_sendgrid_default_mode_with_text_fields() -> None:
    fields, files = decode_form_data(fixture_bytes("sendgrid_default.multipart"), "xYzZY")
    as_text = {name: value.decode("utf-8", "replace") for name, value in fields.items()}

    email = from_sendgrid({**as_text, "html": "<p>già</p>"}, files)

    assert email.html == "<p>già</p>"
    assert email.subject == "Re: [#2026-000126] Perchè il sito è lento?"


def test_sendgrid_raw_mode() -> None:
    fields, files = provider_fixture("sendgrid_raw.json")

    email = from_sendgrid(fields, files)

    assert email.provider == "sendgrid" and email.provider_id is None
    assert email.message_id == "CAEPk3RKEx@mail.cliente.example"
    assert (email.from_email, email.from_name) == ("tester@cliente.example", "A tester")
    assert email.subject == "Raw MIME test"
    assert email.text == "It's a body…"
    assert email.date == datetime(2026, 11, 26, 18, 3, 30, tzinfo=timezone(timedelta(hours=-7)))


def test_sendgrid_raw_mode_accepts_bytes() -> None:
    fields, files = provider_fixture("sendgrid_raw.json")

    email = from_sendgrid({**fields, "email": fields["email"].encode()}, files)

    assert email.text == "It's a body…"


def test_sendgrid_without_headers_or_email_is_malformed() -> None:
    with pytest.raises(MalformedEmail, match="neither 'headers'"):
        from_sendgrid({"text": "hi", "from": "a@b.example"}, [])


# --- Postmark -------------------------------------------------------------------------------


def test_postmark_inbound_json() -> None:
    email = from_postmark(postmark_payload())

    assert email.provider == "postmark"
    assert email.provider_id == "73e6d360-66eb-11e1-8e72-a8904824019b"
    assert email.message_id == "CAGXpo-pm-0003@mail.cliente.example"
    assert (email.from_email, email.from_name) == ("laura.bianchi@cliente.example", "Laura Bianchi")
    assert email.to == ("yourhash+samplehash@inbound.postmarkapp.com",)
    assert email.subject == "Re: [#2026-000124] Sito lento"
    assert email.text_stripped == "Allego il log."
    assert email.html == "<p>Allego il log.</p><blockquote>Ci invii il log del server.</blockquote>"
    assert email.in_reply_to == ("ticket-2026-000124.1@sportello.example",)
    assert email.date == datetime(2026, 11, 24, 11, 15, 41, tzinfo=CET)
    [attachment] = email.attachments
    assert attachment.filename == "server.log" and attachment.content_type == "text/plain"
    assert attachment.data == b"Log del server:\n503 Service Unavailable\n"
    assert attachment.content_id is None


def test_postmark_from_string_when_fromfull_missing() -> None:
    payload = postmark_payload()
    del payload["FromFull"]
    payload["From"] = '"Laura B." <laura.b@cliente.example>'

    email = from_postmark(payload)

    assert (email.from_email, email.from_name) == ("laura.b@cliente.example", "Laura B.")


@pytest.mark.parametrize("content", ["not base64!!", "QUJ", "QUJD*", 12, None])
def test_postmark_bad_attachment_content_is_malformed(content: object) -> None:
    payload = postmark_payload()
    payload["Attachments"][0]["Content"] = content

    with pytest.raises(MalformedEmail, match=r"Attachments\[0\]"):
        from_postmark(payload)


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"Subject": "no sender"},
        {"FromFull": {"Email": "not an address"}},
        {"RecordType": "Bounce", "FromFull": {"Email": "a@b.example"}},
    ],
)
def test_postmark_malformed(payload: object) -> None:
    with pytest.raises(MalformedEmail):
        from_postmark(payload)  # type: ignore[arg-type]


def test_postmark_wrapped_base64_is_accepted() -> None:
    payload = postmark_payload()
    encoded = base64.encodebytes(b"x" * 100).decode()  # MIME-style, 76 columns
    payload["Attachments"] = [{"Name": "a.txt", "Content": encoded, "ContentType": "text/plain"}]

    assert from_postmark(payload).attachments[0].data == b"x" * 100


# --- raw MIME -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "plain.eml",
            {
                "from_email": "mario.rossi@cliente.example",
                "from_name": "Mario Rossi",
                "subject": "Il modulo contatti non invia",
                "message_id": "20261123151203.4471@cliente.example",
                "date": datetime(2026, 11, 23, 15, 12, 3, tzinfo=CET),
                "html": None,
                "auto_reason": None,
            },
        ),
        (
            "urgente_b.eml",
            {"from_name": "Giulia Ferrà", "subject": "URGENTE: sito giù da un'ora"},
        ),
        (
            "urgente_q.eml",
            {
                "from_name": "Nicolò Esposito",
                "subject": "[#2026-000123] Re: urgente - posta non funziona più",
                "text": "Le caselle non ricevono più posta da stanotte.",
            },
        ),
        (
            "reply_it.eml",
            {
                "in_reply_to": ("ticket-2026-000123.1@sportello.example",),
                "references": (
                    "20261123151203.4471@cliente.example",
                    "ticket-2026-000123.1@sportello.example",
                ),
                "text_stripped": "Grazie, ora funziona. Chiudete pure la richiesta.",
            },
        ),
        (
            "auto_reply.eml",
            {"auto_submitted": True, "auto_reason": "auto-submitted: auto-replied"},
        ),
        (
            "bounce.eml",
            {
                "from_email": "mailer-daemon@mx.cliente.example",
                "from_name": "Mail Delivery System",
                "auto_submitted": True,
                "auto_reason": "empty return-path",
            },
        ),
        (
            "bad_charset.eml",
            {"subject": "cafè charset", "text": "Perchè il sito è lento? ÿþ\ufffd fine"},
        ),
    ],
)
def test_from_mime_fixtures(fixture: str, expected: dict) -> None:
    email = from_mime(fixture_bytes(fixture))

    assert email.provider == "mime" and email.provider_id is None
    assert {name: getattr(email, name) for name in expected} == expected


def test_from_mime_sanitises_html_of_multipart_alternative() -> None:
    email = from_mime(fixture_bytes("alternative_script.eml"))

    assert email.from_name == "Bianchi, Laura"
    assert email.text == (
        "Il backup di ieri notte non risulta eseguito.\n"
        "Dettagli: https://status.cliente.example/backup"
    )
    assert email.html is not None
    for forbidden in (
        "<script",
        "document.cookie",
        "<style",
        "color: red",
        "onclick",
        "javascript:",
    ):
        assert forbidden not in email.html
    assert "onerror" not in email.html and "onmouseover" not in email.html
    assert (
        '<a href="https://status.cliente.example/backup" rel="noopener noreferrer">' in email.html
    )


def test_from_mime_attachment_filenames_are_sanitised() -> None:
    email = from_mime(fixture_bytes("attachment_traversal.eml"))

    assert email.text == "In allegato."
    assert [(a.filename, a.content_type, a.content_id) for a in email.attachments] == [
        ("passwd", "text/plain", None),
        ("Fattura n. 12 – Società Cooperativa.pdf", "application/pdf", None),
        ("attachment.png", "image/png", "logo@cliente.example"),
    ]
    assert email.attachments[1].data.startswith(b"%PDF-1.4")


def test_from_mime_html_only_derives_text() -> None:
    raw = (
        b"From: a@b.example\r\nSubject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Primo&nbsp;paragrafo</p><ul><li>uno</li><li>due</li></ul><script>x()</script>"
    )

    email = from_mime(raw)

    assert email.text == "Primo paragrafo\n\n- uno\n- due"
    assert email.html == "<p>Primo&nbsp;paragrafo</p><ul><li>uno</li><li>due</li></ul>"


def test_from_mime_keeps_embedded_message_as_attachment() -> None:
    inner = b"From: c@d.example\r\nSubject: inner\r\n\r\nforwarded body\r\n"
    raw = (
        b"From: a@b.example\r\nSubject: Fwd\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
        b"--B\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"--B--\r\n"
    )

    email = from_mime(raw)

    assert email.text == "see below"
    [attachment] = email.attachments
    assert attachment.content_type == "message/rfc822"
    assert attachment.filename == "attachment.eml"
    assert b"forwarded body" in attachment.data


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        (b"   \r\n", "empty"),
        (b"\r\n\r\njust a body", "no header section"),
        (b"Subject: no sender\r\n\r\nbody", "sender"),
        (b"From: not an address\r\n\r\nbody", "sender"),
        ("From: a@b.example\r\n\r\n", None),
    ],
)
def test_from_mime_malformed(raw: bytes, message: str | None) -> None:
    if message is None:  # a str is accepted (encoded as UTF-8), not rejected
        assert isinstance(from_mime(raw), InboundEmail)  # type: ignore[arg-type]
        return
    with pytest.raises(MalformedEmail, match=message):
        from_mime(raw)


def test_from_mime_rejects_non_bytes() -> None:
    with pytest.raises(MalformedEmail):
        from_mime(12345)  # type: ignore[arg-type]


def test_date_with_unknown_zone_is_utc_and_garbage_is_none() -> None:
    base = b"From: a@b.example\r\nDate: %s\r\n\r\nx"

    assert from_mime(base % b"Mon, 23 Nov 2026 10:00:00 -0000").date == datetime(
        2026, 11, 23, 10, tzinfo=UTC
    )
    assert from_mime(base % b"yesterday at noon").date is None


def test_uploaded_file_is_a_plain_value() -> None:
    upload = UploadedFile("attachment-1", "a.txt", "text/plain", b"x")

    assert upload == UploadedFile("attachment-1", "a.txt", "text/plain", b"x")


# --- a message without a Message-ID ---------------------------------------------------------

NO_MESSAGE_ID = (
    b"From: Mario Rossi <mario@rossi.it>\r\nSubject: Sito lento\r\n"
    b"Date: Mon, 23 Nov 2026 16:00:00 +0100\r\n\r\nIl sito \xc3\xa8 lento.\r\n"
)


def test_a_raw_message_without_message_id_is_known_by_the_digest_of_its_bytes() -> None:
    """P1: its redelivery (the same bytes) must be recognised; any other byte is another."""
    email = from_mime(NO_MESSAGE_ID)

    assert email.message_id is None
    assert email.provider_id == "sha256:" + hashlib.sha256(NO_MESSAGE_ID).hexdigest()
    assert from_mime(NO_MESSAGE_ID).provider_id == email.provider_id
    assert from_mime(NO_MESSAGE_ID + b"\r\n").provider_id != email.provider_id
    with_id = b"Message-ID: <a@rossi.it>\r\n" + NO_MESSAGE_ID
    assert from_mime(with_id).provider_id is None  # the Message-ID is its identity


def test_parsed_fields_without_message_id_are_known_by_their_content() -> None:
    """A parsed payload has no bytes of its own: its sender, date, subject, body and files."""
    fields = {
        "headers": "From: Mario <mario@rossi.it>\nSubject: Sito lento\n"
        "Date: Mon, 23 Nov 2026 16:00:00 +0100\n",
        "text": "Il sito è lento.",
    }
    upload = UploadedFile("attachment1", "a.txt", "text/plain", b"log")

    email = from_sendgrid(fields, [upload])

    assert email.message_id is None and email.provider_id is not None
    assert email.provider_id.startswith("sha256:")
    assert from_sendgrid(dict(fields), [upload]).provider_id == email.provider_id
    others = [
        from_sendgrid({**fields, "text": "Il sito è giù."}, [upload]),
        from_sendgrid(fields, [UploadedFile("attachment1", "a.txt", "text/plain", b"log 2")]),
        from_sendgrid({**fields, "headers": fields["headers"].replace("16:00", "16:01")}, [upload]),
    ]
    assert email.provider_id not in {other.provider_id for other in others}
    postmark = {**postmark_payload(), "MessageID": None, "Headers": []}
    assert from_postmark(postmark).provider_id.startswith("sha256:")
