"""The daily retention job in the outbox worker's scan (GDPR art. 5(1)(e)), with the clock
passed in: one runner applies it once a day, in batches, and logs one line of counts."""

import logging
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import Session

from app.db import get_engine
from app.runners.outbox_worker import Worker
from app.services.knobs import MailKnobs
from app.services.notifications.transports import FileTransport
from app.services.retention import PLACEHOLDER
from tests.conftest import make_settings
from tests.services.test_retention import NOW, arrange


def _worker(db: str, tmp_path, **retention: int) -> Worker:
    settings = make_settings(db, **{f"retention_{k}": v for k, v in retention.items()})
    return Worker(
        get_engine(db),
        settings=settings,
        mail=MailKnobs(),
        email=FileTransport(tmp_path),
        webhook=None,
    )


async def test_two_runners_apply_it_once_a_day_in_batches(db, session, tmp_path, caplog):
    ids = arrange(session)
    session.commit()
    first = _worker(db, tmp_path, closed_ticket_months=12, outbox_days=30, batch=1)
    second = _worker(db, tmp_path, closed_ticket_months=12, outbox_days=30, batch=1)

    with caplog.at_level(logging.INFO, logger="sportello.worker"):
        await first.scan_once(now=NOW)  # the scan every worker runs: retention is one of its jobs
    assert await second.retain_once(now=NOW + timedelta(hours=1)) is None  # done today
    assert await first.retain_once(now=NOW + timedelta(hours=2)) is None

    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retention")]
    assert lines == [
        "retention applied: message_bodies 3, attachments 2, quarantined 0, outbox_payloads 1"
    ]
    with get_engine(db).connect() as connection:
        texts = (
            connection.execute(
                text("SELECT DISTINCT text FROM message WHERE ticket_id = :id"), {"id": ids["old"]}
            )
            .scalars()
            .all()
        )
        runs = connection.execute(text("SELECT ran_by, removed FROM retention_run")).all()
        body = connection.execute(
            text("SELECT body FROM ticket WHERE id = :id"), {"id": ids["old"]}
        ).scalar_one()
    assert texts == [PLACEHOLDER] and body == PLACEHOLDER
    assert len(runs) == 1 and runs[0][0] == first.name

    tomorrow = await second.retain_once(now=NOW + timedelta(days=1))
    assert tomorrow == dict.fromkeys(
        ("message_bodies", "attachments", "quarantined", "outbox_payloads"), 0
    )


async def test_retention_is_off_by_default(db, session: Session, tmp_path):
    arrange(session)
    session.commit()
    worker = _worker(db, tmp_path)
    assert await worker.retain_once(now=NOW + timedelta(days=3650)) is None
    with get_engine(db).connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM retention_run")).scalar() == 0
        assert (
            PLACEHOLDER not in connection.execute(text("SELECT text FROM message")).scalars().all()
        )
