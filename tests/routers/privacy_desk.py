"""A desk with one customer's data in every room, for the export and erasure tests: Mario's
requests (an email with files, one of them named by a hostile sender; a billed request), a
staff reply and an internal note with a file, time with notes, a status link, a receipt that
was sent, a quarantined delivery naming him; and Giulia's request for the same customer."""

import base64
import hashlib
import json
import uuid
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import MetaData, select, text
from sqlalchemy.engine import Engine

from tests.conftest import RUNS_UNTIL
from tests.routers.test_inbound import BASIC

CUSTOMER = "Rossi Arredamenti S.r.l."
MARIO, MARIO_NAME = "mario.bianchi@gmail.com", "Mario Bianchi"
GIULIA, GIULIA_NAME = "giulia.verdi@gmail.com", "Giulia Verdi"
SCREENSHOT = b"\x89PNG\r\n\x1a\n" + b"schermata-di-mario-" + bytes(range(256)) * 8
# ..\../../etc/passwd CR LF <script>alert(1)</script>.txt, as RFC 2231 writes it.
HOSTILE_NAME = "utf-8''..%5C..%2F..%2Fetc%2Fpasswd%0D%0A%3Cscript%3Ealert(1)%3C%2Fscript%3E.txt"
HOSTILE_BYTES = b"contenuto-ostile-di-mario"
NOTE_FILE = b"appunti-riservati-su-mario"
# Words only Mario's data holds: none may survive his erasure anywhere.
MARIO_WORDS = [
    MARIO,
    MARIO_NAME,
    "errore 5012",
    "Gentile Mario",
    "Qwerty123",
    "sistemato il carrello",
    "caselle non ricevono",
    "scrivetemi a",
    "schermata-di-mario",
    "contenuto-ostile-di-mario",
    "appunti-riservati",
]
GIULIA_WORDS = [GIULIA, GIULIA_NAME, "preventivo per il blog"]
INVOICE = "FT-2026-117"


def this_month() -> str:
    return datetime.now(ZoneInfo("Europe/Rome")).strftime("%Y-%m")


def _email(sender: str, subject: str, body: str, files: list[tuple[str, bytes]]) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "assistenza@agency.example"
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@gmail.com>"
    message.set_content(body)
    for index, (_, data) in enumerate(files):
        message.add_attachment(
            data, maintype="application", subtype="octet-stream", filename=f"file{index}.bin"
        )
    raw = message.as_bytes()
    for index, (filename, _) in enumerate(files):
        given = f"filename*={filename}" if "''" in filename else f'filename="{filename}"'
        raw = raw.replace(f'filename="file{index}.bin"'.encode(), given.encode())
    return raw


def _post_mime(api: Any, raw: bytes) -> dict[str, Any]:
    response = api.anonymous.post(
        "/api/v1/inbound/email/mime",
        content=raw,
        auth=BASIC,
        headers={"Content-Type": "message/rfc822"},
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def build(api: Any, engine: Engine) -> dict[str, Any]:
    """The desk; returns the ids the tests look at."""
    customer = _ok(
        api.admin.post(
            "/api/v1/customers",
            json={
                "name": CUSTOMER,
                "email_domains": ["rossi.it"],
                "contacts": [
                    {"email": MARIO, "name": MARIO_NAME},
                    {"email": GIULIA, "name": GIULIA_NAME},
                ],
            },
        ),
        201,
    )
    _ok(
        api.admin.post(
            "/api/v1/contracts",
            json={"customer_id": customer["id"], "code": "R-2026", "starts_on": "2026-01-01"}
            | {"ends_on": RUNS_UNTIL, "annual_fee": "1200.00"},
        ),
        201,
    )
    files = [("schermata.png", SCREENSHOT), (HOSTILE_NAME, HOSTILE_BYTES)]
    body = "Il carrello mostra l'errore 5012 da stamattina."
    a = _post_mime(api, _email(f"{MARIO_NAME} <{MARIO}>", "Carrello rotto", body, files))
    ticket_a = a["ticket_id"]
    _ok(
        api.agent.post(
            f"/api/v1/tickets/{ticket_a}/replies",
            json={"text": "Gentile Mario Bianchi, abbiamo sistemato il carrello."},
        ),
        201,
    )
    note_file = {
        "filename": "appunti.txt",
        "content_type": "text/plain",
        "content_base64": base64.b64encode(NOTE_FILE).decode(),
    }
    _ok(
        api.agent.post(
            f"/api/v1/tickets/{ticket_a}/notes",
            json={"text": "Nota riservata: password Qwerty123", "attachments": [note_file]},
        ),
        201,
    )
    _ok(api.agent.post(f"/api/v1/tickets/{ticket_a}/take-charge", json={}))
    _ok(
        api.agent.post(
            f"/api/v1/tickets/{ticket_a}/time-entries",
            json={"minutes": 30, "note": "Sistemato il carrello di Mario Bianchi"},
        ),
        201,
    )
    ticket_b = _ok(
        api.agent.post(
            "/api/v1/tickets",
            json={
                "channel": "email",
                "from_email": MARIO,
                "from_name": MARIO_NAME,
                "subject": "Caselle email",
                "body": "Le caselle non ricevono posta da ieri.",
                "category": "email",  # outside the contract (R4): billable
            },
        ),
        201,
    )["id"]
    _ok(api.agent.post(f"/api/v1/tickets/{ticket_b}/time-entries", json={"minutes": 60}), 201)
    consent = {"decision": "given", "note": f"Confermato al telefono da {MARIO_NAME}."}
    _ok(api.agent.post(f"/api/v1/tickets/{ticket_b}/consent", json=consent), 201)
    _ok(
        api.admin.post(
            "/api/v1/billing/mark-billed",
            json={"item_ids": [f"{ticket_b}:not_covered"], "invoice_ref": INVOICE},
        )
    )
    ticket_c = _post_mime(
        api,
        _email(f"{GIULIA_NAME} <{GIULIA}>", "Blog", "Vorrei un preventivo per il blog.", []),
    )["ticket_id"]
    quarantined = _post_mime(
        api,
        b"To: assistenza@agency.example\r\nSubject: Aiuto\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Scrivetemi a mario.bianchi@gmail.com, grazie.\r\n",
    )
    assert quarantined["quarantined"], quarantined
    _sent_receipt(engine, ticket_a)
    _staff_digest(engine, ticket_a)
    return {
        "customer_id": customer["id"],
        "a": ticket_a,
        "b": ticket_b,
        "c": ticket_c,
        "quarantine_id": quarantined["quarantine_id"],
    }


def _sent_receipt(engine: Engine, ticket_id: int) -> None:
    """The receipt of ticket A as a worker leaves it once sent: its email written out, with
    Mario's name and words, and an attempt's answer naming his address."""
    with engine.begin() as connection:
        row = connection.execute(
            text("SELECT id FROM outbox WHERE ticket_id = :t AND recipient = :r ORDER BY id"),
            {"t": ticket_id, "r": MARIO},
        ).first()
        assert row is not None
        payload = json.dumps(
            {"to": [MARIO], "subject": "Ricevuta", "text": f"Gentile {MARIO_NAME}"}
        )
        connection.execute(
            text("UPDATE outbox SET state = 'sent', payload = :p WHERE id = :i"),
            {"p": payload, "i": row.id},
        )
        connection.execute(
            text(
                "INSERT INTO outbox_attempt (outbox_id, at, worker, ok, error)"
                " VALUES (:i, CURRENT_TIMESTAMP, 'w1', false, :e)"
            ),
            {"i": row.id, "e": f"451 {MARIO} try again"},
        )


def _staff_digest(engine: Engine, ticket_id: int) -> None:
    """A staff digest (about no one ticket) that names ticket A and Mario, as sent."""
    with engine.begin() as connection:
        number = connection.execute(
            text("SELECT number FROM ticket WHERE id = :t"), {"t": ticket_id}
        ).scalar_one()
        facts = {"letter": {"lists": {"tickets": [{"words": {"number": number}}]}}}
        payload = {"subject": "Ticket a rischio", "text": f"{number} {MARIO_NAME}"}
        connection.execute(
            text(
                "INSERT INTO outbox (kind, channel, recipient, message_id, state, attempts,"
                " created_at, available_at, dedup_key, facts, payload)"
                " VALUES ('staff.sla_alert', 'email', 'staff@agency.example', :m, 'sent', 1,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :m, :f, :p)"
            ),
            {"m": f"digest-{uuid.uuid4().hex}", "f": json.dumps(facts), "p": json.dumps(payload)},
        )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table there is (reflected, not listed by hand), in key order."""
    metadata = MetaData()
    metadata.reflect(engine)
    found = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            found[table.name] = [
                tuple(row) for row in connection.execute(select(table).order_by(*order))
            ]
    return found


def _as_text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("latin-1")
    return str(value)


def holding(engine: Engine, words: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, word) for every value of every column of every table that holds one of
    the words (any case): text, JSON and bytes alike."""
    metadata = MetaData()
    metadata.reflect(engine)
    found = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is None:
                        continue
                    written = _as_text(value).lower()
                    found += [
                        (table.name, column, word) for word in words if word.lower() in written
                    ]
    return found
