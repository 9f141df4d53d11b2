"""Staff hear of quarantined deliveries once per run of failures (P1, R8, R12, R15, R17): one
digest in service hours, at once for an urgent one, nothing more while they have not dealt with
what they were told of. The clock is passed in; the digest goes out through the real worker and
a real SMTP server."""

from datetime import datetime

from app.db import get_engine, unit_of_work
from app.enums import QuarantineReason
from app.services.intake import quarantine
from app.services.knobs import knobs_from
from tests.runners.test_worker import STAFF, rome, settings_for, worker_for

SATURDAY = rome("2026-11-28T10:00:00+01:00")  # closed (R8)
MONDAY_OPENING = rome("2026-11-30T15:00:00+01:00")


def hold(db: str, subject: str, *, at: datetime) -> int:
    raw = f"From: nessuno\r\nSubject: {subject}\r\n\r\ntesto\r\n".encode()
    with unit_of_work(get_engine(db)) as session:
        return quarantine.hold(
            raw,
            session=session,
            source="mime",
            reason=QuarantineReason.NO_SENDER,
            detail="MalformedEmail: no sender",
            content_type="message/rfc822",
            now=at,
        ).id


async def told(worker, smtp, at: datetime) -> list:
    before = len(smtp.sink.to(STAFF))
    await worker.scan_once(now=at)
    await worker.drain_once(now=lambda: at)
    return smtp.sink.to(STAFF)[before:]


async def test_one_digest_per_run_in_service_hours(db, smtp):
    worker = worker_for(db, smtp)
    first = hold(db, "Sito lento", at=SATURDAY)
    second = hold(db, "Fattura", at=SATURDAY)

    assert await told(worker, smtp, SATURDAY) == []  # closed: it waits for the opening
    (digest,) = await told(worker, smtp, MONDAY_OPENING)
    assert digest.message["Subject"] == "2 messaggi in quarantena"
    assert (
        f"n. {first}, arrivato sabato 28 novembre 2026, 10:00 da mime: nessun mittente leggibile"
        in digest.text
    )
    assert f"n. {second}" in digest.text and "oggetto: Fattura" in digest.text
    assert "POST /api/v1/quarantine/{id}/retry" in digest.text
    assert await told(worker, smtp, rome("2026-11-30T15:30:00+01:00")) == []  # told once

    # The run goes on while staff have not dealt with what they were told of.
    third = hold(db, "Ancora", at=rome("2026-11-30T16:00:00+01:00"))
    assert await told(worker, smtp, rome("2026-11-30T16:05:00+01:00")) == []
    with unit_of_work(get_engine(db)) as session:
        quarantine.delete_item(first, session=session)
        quarantine.delete_item(second, session=session)
    (next_run,) = await told(worker, smtp, rome("2026-11-30T16:10:00+01:00"))
    assert next_run.message["Subject"] == "un messaggio in quarantena"
    assert f"n. {third}" in next_run.text and f"n. {first}," not in next_run.text


async def test_an_urgent_one_is_told_at_once_even_while_closed_and_during_a_run(db, smtp):
    worker = worker_for(db, smtp)
    hold(db, "Domanda", at=SATURDAY)
    urgent = hold(db, "URGENTE sito giù", at=SATURDAY)

    (digest,) = await told(worker, smtp, SATURDAY)  # R15: not at Monday's opening
    assert digest.message["Subject"] == "URGENTE: 2 messaggi in quarantena"
    assert f"n. {urgent} (URGENTE)" in digest.text

    hold(db, "Altro", at=rome("2026-11-28T11:00:00+01:00"))
    assert await told(worker, smtp, rome("2026-11-28T11:01:00+01:00")) == []  # run going
    later = hold(db, "[urgente] posta ferma", at=rome("2026-11-28T12:00:00+01:00"))
    (again,) = await told(worker, smtp, rome("2026-11-28T12:01:00+01:00"))
    assert again.message["Subject"] == "URGENTE: 2 messaggi in quarantena"
    assert f"n. {later} (URGENTE)" in again.text


async def test_an_item_retried_into_a_ticket_is_never_told(db, smtp):
    worker = worker_for(db, smtp)
    item = hold(db, "Sito lento", at=SATURDAY)
    with unit_of_work(get_engine(db)) as session:
        quarantine.retry(
            item,
            session=session,
            knobs=knobs_from(settings_for(db, smtp)),
            now=SATURDAY,
            max_file_bytes=1_000_000,
            actor="agent",
            from_email="anna@rossi.it",
        )

    assert await told(worker, smtp, MONDAY_OPENING) == []
