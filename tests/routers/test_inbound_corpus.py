"""Real problem mail through the raw-MIME webhook: nothing lost, read as a mail reader reads it.

Every message of tests/fixtures/corpus (public test fixtures of mail libraries, help desks and
bounce parsers; SOURCES.md) is posted twice to `POST /api/v1/inbound/email/mime` on each
database. Each must be answered 200 and end up either as a ticket whose stored message has the
sender, the subject, a body and the attachments an independent reader found (expected.json, see
the corpus README.md), or, when nobody can tell who sent it, in the quarantine with its reason and
its original bytes (P1). The redelivery is a duplicate, never a second ticket or quarantine row.
"""

import hashlib
import json
import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session, SQLModel, func, select

from app.db import get_engine
from app.models.message import MAX_SUBJECT, Attachment, Message
from tests.conftest import (
    ADMIN_TOKEN,
    FIXTURES,
    INBOUND_PASSWORD,
    INBOUND_USER,
    LiveServer,
    _empty_tables,
)

CORPUS = FIXTURES / "corpus"
MANIFEST = json.loads((CORPUS / "expected.json").read_text("utf-8"))["messages"]
BASIC = (INBOUND_USER, INBOUND_PASSWORD)


@pytest.fixture(scope="module")
def corpus_db(database_url: str) -> Iterator[str]:
    """The backend's database; emptied the usual way (identities restarted) after the module."""
    yield database_url
    _empty_tables(database_url)


def delete_rows(url: str) -> None:
    """Every row but the default calendar: cheaper than the `db` fixture's TRUNCATE, which
    would cost more than posting the message, several hundred times."""
    with get_engine(url).begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            if table.name != "calendar":
                connection.execute(table.delete())
        connection.execute(text("DELETE FROM calendar WHERE name <> 'default'"))


@pytest.fixture(scope="module")
def staff(live_server: LiveServer) -> Iterator[httpx.Client]:
    """One client of the session's server for the module (making one costs more than posting a
    message: its TLS context), staff reads with the bootstrap admin token (the `api` fixture's
    three fresh tokens per message would double the time)."""
    with httpx.Client(base_url=live_server.base_url, timeout=30) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        yield client


@pytest.fixture
def desk(staff: httpx.Client, corpus_db: str) -> Iterator[httpx.Client]:
    """The module's client; the rows each message made deleted after it."""
    yield staff
    delete_rows(corpus_db)


def post_mime(desk: httpx.Client, raw: bytes) -> httpx.Response:
    return desk.post(
        "/api/v1/inbound/email/mime",
        content=raw,
        auth=BASIC,  # the relay's credentials, instead of the staff token
        headers={"Content-Type": "message/rfc822"},
    )


def one_line(subject: str) -> str:
    """A subject as the desk must store it: one line, control characters gone, capped."""
    subject = re.sub(r"[\x00-\x1f\x7f]+", " ", subject)
    return re.sub(r"\s+", " ", subject).strip()[:MAX_SUBJECT].strip()


def attachments_of(db: str, ticket_id: int) -> int:
    with Session(get_engine(db)) as session:
        query = (
            select(func.count())
            .select_from(Attachment)
            .join(Message, Message.id == Attachment.message_id)  # type: ignore[arg-type]
            .where(Message.ticket_id == ticket_id)
        )
        return session.exec(query).one()


def ticket_problems(desk, db: str, answer: dict, again: dict, expected: dict) -> list[str]:
    """What the stored ticket gets wrong against the reader's expectations (R6, P1)."""
    problems = []
    ticket_id = answer["ticket_id"]
    if not (again.get("duplicate") is True and again.get("ticket_id") == ticket_id):
        problems.append(f"redelivery answered {again}, not a duplicate of ticket {ticket_id}")
    if expected["sender"] is None:
        problems.append("became a ticket, but no header names a sender: expected the quarantine")
    messages = desk.get(f"/api/v1/tickets/{ticket_id}/messages").json()["items"]
    inbound = [m for m in messages if m["direction"] == "inbound"]
    if len(inbound) != 1:
        return [*problems, f"{len(inbound)} inbound messages on the ticket, expected 1"]
    message = inbound[0]
    # Where two readings of a broken header are both defensible, corrections.json lists both.
    senders = [expected["sender"], *expected.get("sender_alternatives", [])]
    if expected["sender"] is not None and message["from_email"] not in senders:
        problems.append(f"sender {message['from_email']!r}, expected one of {senders}")
    subject = one_line(expected["subject"])
    if message["subject"] != subject:
        problems.append(f"subject {message['subject']!r}, expected {subject!r}")
    if expected["body"] and not (message["text"].strip() or (message["html"] or "").strip()):
        problems.append("no body stored, the reader shows one")
    if "<script" in (message["html"] or "").lower():
        problems.append("a script survived in the stored HTML")
    stored = attachments_of(db, ticket_id)
    if stored != expected["attachments"]:
        problems.append(f"{stored} attachments stored, expected {expected['attachments']}")
    return problems


def quarantine_problems(desk, raw: bytes, answer: dict, again: dict, expected: dict) -> list[str]:
    """A delivery that could not become a ticket: kept once, raw, with its reason (P1)."""
    problems = []
    if not (answer.get("quarantined") is True and again.get("duplicate") is True):
        problems.append(f"answered {answer} then {again}: not quarantined, then a duplicate")
    if expected["sender"] is not None:
        problems.append(
            f"quarantined (answer {answer}), but {expected['sender_header']} names "
            f"the sender {expected['sender']!r}"
        )
    listing = desk.get("/api/v1/quarantine")
    if listing.status_code != 200:
        return [*problems, f"not a ticket, and GET /quarantine answered {listing.status_code}"]
    items = listing.json()["items"]
    if len(items) != 1:
        return [*problems, f"{len(items)} quarantine rows after two deliveries, expected 1"]
    if not str(items[0].get("reason") or "").strip():
        problems.append("quarantined without a reason")
    kept = desk.get(f"/api/v1/quarantine/{items[0]['id']}/raw")
    if kept.status_code != 200 or kept.content != raw:
        problems.append("the quarantine does not give back the original bytes")
    return problems


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_corpus_message_is_kept_and_read_as_a_mail_reader_reads_it(desk, corpus_db, name):
    raw = (CORPUS / name).read_bytes()
    expected = MANIFEST[name]
    assert hashlib.sha256(raw).hexdigest() == expected["sha256"], "the fixture's bytes changed"

    first, second = post_mime(desk, raw), post_mime(desk, raw)
    # P1: a relay treats a 4xx as final and retries a 5xx: either loses or repeats the mail.
    assert (first.status_code, second.status_code) == (200, 200), (
        f"answered {first.status_code} then {second.status_code}: {first.text[:300]}"
    )
    answer, again = first.json(), second.json()
    if answer.get("ticket_id") is not None:
        problems = ticket_problems(desk, corpus_db, answer, again, expected)
    else:
        problems = quarantine_problems(desk, raw, answer, again, expected)
    assert not problems, "; ".join(problems)
