"""Reading IMAP mailboxes (R6) against a real Dovecot on loopback, on both databases: messages
become tickets once, replies thread, automatic mail stays silent, nothing is lost or stored
twice when the poller is killed, failures show and alert staff once."""

import asyncio
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from app.db import get_engine, unit_of_work
from app.enums import OutboxState
from app.models.base import utcnow
from app.models.mailbox import Mailbox
from app.models.message import Message
from app.models.outbox import Outbox
from app.models.ticket import Ticket
from app.runners.mailbox_poller import MailPoller
from app.services.knobs import knobs_from
from app.services.mailboxes import records
from tests.conftest import make_settings
from tests.imap import ImapServer, email
from tests.runners.test_worker import STAFF, SUPPORT, customer, worker_process, written

SEEN = b"\\Seen"


def add_mailbox(api, imap: ImapServer, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "assistenza",
        "host": imap.host,
        "port": imap.port,
        "security": "plain",
        "username": imap.user,
        "password": imap.password,
        "poll_seconds": 1,
        **fields,
    }
    response = api.admin.post("/api/v1/mailboxes", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def poll(
    db: str,
    until: Callable[[], bool],
    *,
    timeout: float = 30,
    before_stop: Callable[[], None] | None = None,
    **overrides: Any,
) -> None:
    """Run a poller (as `sportello worker` does) until `until()` holds; fail after `timeout`.
    `before_stop` runs before the poller is stopped (a hostile server closing, say)."""
    settings = make_settings(
        db, support_address=SUPPORT, staff_email=STAFF, mailbox_lease_seconds=3, **overrides
    )
    poller = MailPoller(get_engine(db), settings=settings, knobs=knobs_from(settings))

    async def main() -> bool:
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop))
        deadline = asyncio.get_running_loop().time() + timeout
        # A thread of the check's own: whatever the poller does with threads, it is free.
        checker = ThreadPoolExecutor(1)
        try:
            while asyncio.get_running_loop().time() < deadline:
                if await asyncio.get_running_loop().run_in_executor(checker, until):
                    return True
                await asyncio.sleep(0.1)
            return False
        finally:
            if before_stop is not None:
                before_stop()
            stop.set()
            await task
            checker.shutdown()

    assert asyncio.run(main()), "the poller did not get there in time"


def count(db: str, model: Any, *where: Any) -> int:
    with Session(get_engine(db)) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


def mailbox(db: str) -> Mailbox:
    with Session(get_engine(db)) as session:
        return session.exec(select(Mailbox)).one()


def all_seen(imap: ImapServer, expected: int) -> Callable[[], bool]:
    def check() -> bool:
        flags = imap.flags()
        return len(flags) == expected and all(SEEN in f for f in flags.values())

    return check


def test_messages_become_tickets_replies_thread_and_automatic_mail_stays_silent(
    api, db, session, imap
):
    customer(session)
    session.commit()
    add_mailbox(api, imap)
    imap.append(
        email("<m1@rossi.it>"),
        email(
            "<ooo@rossi.it>",
            sender="Luca Bianchi <luca@rossi.it>",
            subject="Risposta automatica: fuori ufficio",
            body="Sono fuori ufficio fino a lunedì.",
            headers="Auto-Submitted: auto-replied\r\n",
        ),
    )
    poll(db, all_seen(imap, 2))
    assert count(db, Ticket) == 2

    imap.append(
        email(
            "<m2@rossi.it>",
            subject="Re: Sito lento",
            body="Ancora lento, grazie.",
            headers="In-Reply-To: <m1@rossi.it>\r\nReferences: <m1@rossi.it>\r\n",
        ),
        email("<m1@rossi.it>"),  # the same message delivered again
    )
    poll(db, all_seen(imap, 4))

    assert count(db, Ticket) == 2  # the reply joined, the copy was recognised
    with Session(get_engine(db)) as check:
        first = check.exec(select(Ticket).where(Ticket.from_email == "mario@rossi.it")).one()
        conversation = check.exec(
            select(Message.message_id)
            .where(Message.ticket_id == first.id, Message.direction == "inbound")
            .order_by(col(Message.id))
        ).all()
        assert conversation == ["m1@rossi.it", "m2@rossi.it"]
        assert first.contract_id is not None and first.take_charge_due_at is not None
        told = check.exec(select(Outbox).where(Outbox.kind == "customer.receipt")).all()
    # One receipt, to Mario; the out-of-office gets nothing that leaves (loop guard).
    receipts = {row.recipient: row.state for row in told}
    assert receipts["mario@rossi.it"] == OutboxState.PENDING
    assert receipts.get("luca@rossi.it") in (None, OutboxState.HELD)

    health = api.admin.get("/api/v1/mailboxes").json()["items"][0]["health"]
    assert health["state"] == "ok"
    assert health["messages_stored"] == 3 and health["messages_left"] == 0
    assert health["last_error"] is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_stored_messages_are_moved_when_asked(api, db, imap):
    add_mailbox(api, imap, after_store="move", move_to="Processed")
    imap.append(*(email(f"<move{n}@rossi.it>", subject=f"Richiesta {n}") for n in range(3)))
    poll(db, lambda: len(imap.flags()) == 0 and len(imap.flags("Processed")) == 3)
    assert count(db, Ticket) == 3


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_message_without_message_id_found_twice_in_the_folder_is_one_ticket(api, db, imap):
    """P1: without a Message-ID its bytes identify it, not its UID: the copy a relay delivered
    again (or a folder reset to a new UIDVALIDITY) is recognised; another message is not."""
    add_mailbox(api, imap)
    twice = email("<x@rossi.it>").replace(b"Message-ID: <x@rossi.it>\r\n", b"")
    other = twice.replace(b"Sito lento", b"Sito fermo")
    imap.append(twice, twice, other)
    poll(db, all_seen(imap, 3))
    assert count(db, Ticket) == 2
    assert count(db, Message, Message.direction == "inbound") == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_message_over_the_size_limit_is_left_in_the_mailbox_and_reported_once(api, db, imap):
    add_mailbox(api, imap)
    imap.append(
        email("<big@rossi.it>", subject="Allegato enorme", body="x" * 5000),
        email("<small@rossi.it>", subject="Piccola"),
    )

    def small_stored() -> bool:
        return count(db, Ticket) == 1 and mailbox(db).messages_left == 1

    poll(db, small_stored, max_message_bytes=2000)
    first_round = mailbox(db).last_success_at
    assert first_round is not None
    poll(db, lambda: mailbox(db).last_success_at > first_round, max_message_bytes=2000)

    flags = imap.flags()
    assert [SEEN in f for f in flags.values()] == [False, True]  # the big one stays unread
    with Session(get_engine(db)) as check:
        alerts = check.exec(select(Outbox).where(Outbox.kind == "staff.mailbox_message_left")).all()
    assert len(alerts) == 1
    assert alerts[0].recipient == STAFF
    assert "Allegato enorme" in written(alerts[0])["text"]
    assert "over the limit of 2000 bytes" in written(alerts[0])["subject"]


def test_a_message_that_cannot_become_a_ticket_is_quarantined_and_does_not_block(api, db, imap):
    """P1: a message with no sender anywhere is kept raw in the quarantine, then flagged like a
    stored one, so the mailbox goes on; its bytes download as they were in the mailbox."""
    add_mailbox(api, imap)
    senderless = b"Subject: Nessun mittente\r\nMessage-ID: <nobody@x.example>\r\n\r\nAiuto\r\n"
    imap.append(senderless, email("<after@rossi.it>", subject="Dopo"))

    poll(db, all_seen(imap, 2))

    assert count(db, Ticket) == 1
    items = api.agent.get("/api/v1/quarantine").json()["items"]
    assert [(item["source"], item["reason"]) for item in items] == [
        (f"mailbox:{mailbox(db).id}", "no_sender")
    ]
    raw = api.agent.get(f"/api/v1/quarantine/{items[0]['id']}/raw")
    assert raw.content == senderless
    # Read again (a restart before the flag, say): still one item.
    poll(db, lambda: mailbox(db).last_success_at is not None)
    assert len(api.agent.get("/api/v1/quarantine").json()["items"]) == 1


def test_a_wrong_password_shows_on_the_health_and_raises_one_alert(api, db, imap):
    created = add_mailbox(api, imap, password="wrong-password")

    poll(db, lambda: mailbox(db).failures >= 2)

    health = api.admin.get(f"/api/v1/mailboxes/{created['id']}").json()["health"]
    assert health["state"] == "failing"
    assert "login refused" in health["last_error"]
    assert health["failing_since"] is not None and health["next_attempt_at"] is not None
    assert count(db, Outbox, Outbox.kind == "staff.mailbox_failing") == 1  # not one per poll
    assert "wrong-password" not in str(api.admin.get("/api/v1/mailboxes").json())

    fixed = api.admin.patch(f"/api/v1/mailboxes/{created['id']}", json={"password": imap.password})
    assert fixed.status_code == 200
    imap.append(email("<after-fix@rossi.it>"))
    poll(db, all_seen(imap, 1))
    health = api.admin.get(f"/api/v1/mailboxes/{created['id']}").json()["health"]
    assert health["state"] == "ok" and health["failing_since"] is None
    assert count(db, Outbox, Outbox.kind == "staff.mailbox_failing") == 1


def _poller_process(db: str, tmp_path) -> subprocess.Popen[bytes]:
    return worker_process(db, None, tmp_path, SPORTELLO_MAILBOX_LEASE_SECONDS="2")


def test_a_poller_killed_mid_batch_of_200_stores_each_message_once(api, db, imap, tmp_path):
    add_mailbox(api, imap)
    imap.append(*(email(f"<batch{n}@rossi.it>", subject=f"Richiesta {n}") for n in range(200)))

    first = _poller_process(db, tmp_path)
    deadline = time.monotonic() + 60
    while count(db, Ticket) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    stored_before = count(db, Ticket)
    assert 40 <= stored_before < 200, "the poller was killed mid-batch"

    second = _poller_process(db, tmp_path)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all_seen(imap, 200)():
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=15)

    assert count(db, Ticket) == 200  # none lost, none twice
    assert count(db, Message, Message.direction == "inbound") == 200
    with Session(get_engine(db)) as check:
        ids = check.exec(select(Message.message_id).where(Message.direction == "inbound")).all()
    assert sorted(ids) == sorted(f"batch{n}@rossi.it" for n in range(200))
    assert all_seen(imap, 200)()  # every one flagged
    assert second.returncode == 0  # SIGTERM stops it cleanly


def test_one_reader_at_a_time_holds_a_mailbox_until_its_lease_ends(api, db, imap):
    created = add_mailbox(api, imap)
    lease, now = timedelta(seconds=120), utcnow()

    def claim(owner: str, at: datetime) -> list[int]:
        with unit_of_work(get_engine(db)) as session:
            boxes = records.claim_due(session=session, owner=owner, now=at, lease=lease, busy=set())
            return [box.id for box in boxes]

    assert claim("worker-a", now) == [created["id"]]
    assert claim("worker-b", now) == []  # another process: not while the lease lasts
    # Its own holder takes it again once no reader of its own is on it (a reader that ended
    # while the database was away could not give the lease back).
    assert claim("worker-a", now) == [created["id"]]
    assert claim("worker-b", now + lease + timedelta(seconds=1)) == [created["id"]]  # a died


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("security", ["starttls", "implicit_tls"])
def test_tls_checks_the_certificate_and_reads_once_it_is_trusted(api, db, imap, security):
    port = imap.port if security == "starttls" else imap.tls_port
    created = add_mailbox(api, imap, security=security, port=port)
    imap.append(email(f"<tls-{security}@rossi.it>"))

    poll(db, lambda: mailbox(db).failures >= 1)  # a self-signed certificate: not trusted
    health = api.admin.get(f"/api/v1/mailboxes/{created['id']}").json()["health"]
    assert health["state"] == "failing" and "TLS error" in health["last_error"]

    api.admin.patch(f"/api/v1/mailboxes/{created['id']}", json={"enabled": True})  # try now
    poll(db, all_seen(imap, 1), imap_ca_file=imap.ca_file)  # its CA given: read
    assert count(db, Ticket) == 1
