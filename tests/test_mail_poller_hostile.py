"""The mailbox reader against a database that goes away: it cannot hurt the desk (R6, P1)."""

import asyncio
import logging
import re
from typing import Any

import pytest

from app.db import get_engine
from app.deps import knobs_from
from app.mail_poller import MailPoller
from app.models.ticket import Ticket
from tests.conftest import PG_URL, make_settings
from tests.imap import email
from tests.proxy import TcpProxy
from tests.test_mail_poller import STAFF, SUPPORT, add_mailbox, count, mailbox


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_database_outage_is_one_traceback_then_a_line_per_failure_and_reading_resumes(
    api, db, imap, caplog
):
    add_mailbox(api, imap)
    host, port = re.findall(r"@([\d.]+):(\d+)/", PG_URL)[0]
    proxy = TcpProxy((host, int(port)))
    through_proxy = proxy.url_for(db)
    settings = make_settings(
        through_proxy, support_address=SUPPORT, staff_email=STAFF, mailbox_lease_seconds=3
    )
    poller = MailPoller(get_engine(through_proxy), settings=settings, knobs=knobs_from(settings))
    caplog.set_level(logging.INFO, logger="sportello.mailboxes")

    async def until(condition: Any, timeout: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not await asyncio.to_thread(condition):
            assert asyncio.get_running_loop().time() < deadline, "not in time"
            await asyncio.sleep(0.1)

    async def outage() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop))
        try:
            await until(lambda: mailbox(db).last_success_at is not None, 30)
            caplog.clear()
            proxy.cut()
            await asyncio.sleep(12)  # the database is away for a while
            proxy.restore()
            imap.append(email("<dopo-il-guasto@rossi.it>"))
            await until(lambda: count(db, Ticket) == 1, 90)  # read again, without a restart
        finally:
            stop.set()
            await task

    try:
        asyncio.run(outage())
    finally:
        proxy.close()
        get_engine(through_proxy).dispose()

    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) <= 1
    waits = [
        int(found[1])
        for r in caplog.records
        if (found := re.search(r"still failing.*next try in (\d+) s", r.getMessage()))
    ]
    # Each failure after the first is one line, further apart each time.
    assert len(waits) >= 2 and waits == sorted(set(waits))
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) <= len(waits) + 3
