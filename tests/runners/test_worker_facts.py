"""Emails are written from facts (P2, R11): the cause's transaction queues what the email says
as facts, and the worker writes the email once, when it first takes the row, and keeps it, so
that a resend after a crash is the same bytes with the same Message-ID."""

from datetime import timedelta
from typing import Any

from sqlmodel import Session, select

from app.db import get_engine, unit_of_work
from app.enums import Channel, OutboxState
from app.models.message import Message
from app.models.outbox import LetterFacts, Outbox, OutboxFacts
from app.services.notifications import outbox, render
from app.services.notifications.transports import build_email
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401
from tests.runners.test_worker import customer, open_email, rome, rows, worker_for
from tests.smtp import SmtpServer

MONDAY = rome("2026-11-23T16:00:00+01:00")
LEASE = timedelta(minutes=5)


def outbound(db: str, ticket_id: int) -> list[Message]:
    with Session(get_engine(db)) as check:
        query = select(Message).where(
            Message.ticket_id == ticket_id, Message.direction == "outbound"
        )
        return list(check.exec(query))


def test_intake_queues_the_receipt_as_facts_not_as_an_email(db, session, smtp):
    """The delivery's transaction decides what the receipt says and writes none of it."""
    customer(session)
    session.commit()
    ticket_id = open_email(db, smtp, at=MONDAY, message_id="question-1@rossi.it")

    (row,) = rows(db)
    assert row.payload is None  # nothing written yet
    facts = OutboxFacts.model_validate(row.facts)
    assert (facts.template, facts.language, facts.to) == ("receipt", "it", ["mario@rossi.it"])
    assert facts.caused_at == MONDAY
    assert facts.letter.instants["due"] == rome("2026-11-24T17:00:00+01:00")  # R9
    assert facts.letter.words["explained"]  # the explanation line, decided now
    assert "/status/" in str(facts.letter.words["status_url"])
    assert facts.headers["In-Reply-To"] == "<question-1@rossi.it>"
    # The conversation's copy is there (its Message-ID threads replies) and has no words yet.
    (copy,) = outbound(db, ticket_id)
    assert copy.message_id == row.message_id and copy.text == ""


async def test_a_row_is_written_once_and_a_resend_after_a_crash_is_the_same_bytes(
    db, session, smtp: SmtpServer, monkeypatch
):
    """Claimed and written, then the worker dies before sending: the row is claimed again when
    its lease runs out and sent as written, never written again."""
    customer(session)
    session.commit()
    ticket_id = open_email(db, smtp, at=MONDAY)
    writes: list[str] = []
    payload_of = render.payload_of

    def counted(facts: OutboxFacts, **where: Any) -> dict[str, Any]:
        writes.append(where["message_id"])
        return payload_of(facts, **where)

    monkeypatch.setattr(render, "payload_of", counted)

    with unit_of_work(get_engine(db)) as work:  # the worker's claim, then a crash
        (claimed,) = outbox.claim_due(
            session=work, worker="dead", now=MONDAY, lease=LEASE, events=None, limit=1
        )
        assert claimed is not None
        first = outbox.write(claimed, session=work)
    (row,) = rows(db)
    assert row.payload == first.payload and row.leased_by == "dead"
    (copy,) = outbound(db, ticket_id)
    assert first.payload is not None and copy.text == first.payload["text"]

    worker = worker_for(db, smtp)
    assert await worker.drain_once(now=lambda: MONDAY + timedelta(seconds=1)) == 0  # leased
    assert await worker.drain_once(now=lambda: MONDAY + LEASE + timedelta(seconds=1)) == 1

    (sent,) = smtp.sink.received
    assert writes == [row.message_id]  # written exactly once
    assert sent.raw == build_email(first.payload)  # the same bytes as first written
    assert sent.message["Message-ID"] == f"<{row.message_id}>"
    assert rows(db)[0].state == OutboxState.SENT and rows(db)[0].payload == first.payload


async def test_facts_that_cannot_be_written_fail_for_good_and_do_not_jam_the_queue(db, smtp):
    said = {"mailbox": "info", "server": "imap.agency.example:993", "error": "x", "mailbox_id": 1}
    with unit_of_work(get_engine(db)) as work:
        for n, template in enumerate(("no_such_letter", "mailbox_failing")):
            facts = OutboxFacts(
                template=template,
                language="it",
                caused_at=MONDAY,
                sender="assistenza@agency.example",
                to=["staff@agency.example"],
                letter=LetterFacts.of(said),
            )
            work.add(
                Outbox(
                    kind="staff.test",
                    channel=Channel.EMAIL,
                    recipient="staff@agency.example",
                    message_id=f"facts.{n}@agency.example",
                    dedup_key=f"facts:{n}",
                    facts=facts.model_dump(mode="json"),
                    created_at=MONDAY,
                    available_at=MONDAY,
                )
            )

    assert await worker_for(db, smtp).drain_once(now=lambda: MONDAY) == 2

    broken, written = rows(db)
    assert broken.state == OutboxState.FAILED and broken.payload is None
    assert "could not be written" in (broken.last_error or "")
    assert "TemplateNotFound" in (broken.last_error or "")
    assert written.state == OutboxState.SENT
    (sent,) = smtp.sink.received
    assert sent.message["Message-ID"] == "<facts.1@agency.example>"


def test_the_same_facts_write_the_same_email(db, session, smtp):
    """Deterministic: nothing but the facts (no clock), through their JSON form and back."""
    customer(session)
    session.commit()
    open_email(db, smtp, at=MONDAY)
    (row,) = rows(db)
    facts = OutboxFacts.model_validate(row.facts)
    again = OutboxFacts.model_validate_json(facts.model_dump_json())
    one = render.payload_of(facts, channel="email", message_id=row.message_id)
    assert render.payload_of(again, channel="email", message_id=row.message_id) == one
    assert "lunedì 23 novembre 2026" not in one["text"]  # the deadline, not today, is said
    assert "entro martedì 24 novembre 2026, 17:00" in one["text"]


async def test_the_outbox_and_the_conversation_show_an_email_once_written(
    api,
    rossi,  # noqa: F811
    db,
    smtp,
):
    """The outbox lists a row as soon as it is queued; our email's subject and text in the
    conversation are there once the worker has written it (docs/api.md)."""
    ticket = new_ticket(api)
    api.agent.post(f"/api/v1/tickets/{ticket['id']}/take-charge", json={})
    (queued,) = api.agent.get("/api/v1/outbox").json()["items"]
    assert queued["kind"] == "customer.taken_in_charge" and queued["state"] == "pending"
    assert queued["recipient"] == "mario@rossi.it"
    assert queued["message_id"].startswith(ticket["number"])
    messages = api.viewer.get(f"/api/v1/tickets/{ticket['id']}/messages").json()["items"]
    (ours,) = [m for m in messages if m["direction"] == "outbound"]
    assert (ours["subject"], ours["text"], ours["delivery"]["state"]) == ("", "", "pending")

    assert await worker_for(db, smtp).drain_once() == 1

    (sent,) = api.agent.get("/api/v1/outbox").json()["items"]
    assert sent.keys() == queued.keys()  # the same fields, written or not
    same = ("id", "kind", "recipient", "message_id", "created_at")
    assert [sent[k] for k in same] == [queued[k] for k in same]
    assert (sent["state"], sent["attempts"]) == ("sent", 1)
    messages = api.viewer.get(f"/api/v1/tickets/{ticket['id']}/messages").json()["items"]
    (ours,) = [m for m in messages if m["direction"] == "outbound"]
    assert ours["subject"] == f"[#{ticket['number']}] Presa in carico: Sito lento"
    assert ours["text"] == smtp.sink.to("mario@rossi.it")[0].text.replace("\r\n", "\n")
    assert ours["delivery"]["state"] == "sent"
