"""The mailbox reader against servers that lie, hang or echo secrets, and against a database
that goes away: none of them can hurt the desk (R6, P1)."""

import asyncio
import base64
import logging
import os
import re
import tracemalloc
from typing import Any

import pytest
from sqlmodel import Session, select

from app.db import get_engine
from app.models.outbox import Outbox
from app.models.ticket import Ticket
from app.runners.mailbox_poller import MailPoller
from app.services.knobs import knobs_from
from tests.conftest import PG_URL, make_settings
from tests.hostile_imap import Behaviour, HostileImapServer, Message
from tests.imap import email
from tests.proxy import TcpProxy
from tests.runners.test_mail_poller import STAFF, SUPPORT, add_mailbox, count, mailbox, poll
from tests.runners.test_worker import worker_for, written

MiB = 1024 * 1024


def add_hostile(api, server: HostileImapServer, **fields: Any) -> dict[str, Any]:
    """A mailbox on the hostile server (plain IMAP: it is on this machine)."""
    body = {
        "name": "ostile",
        "host": "127.0.0.1",
        "port": server.port,
        "security": "plain",
        "username": "desk",
        "password": "not-echoed",
        "poll_seconds": 1,
        **fields,
    }
    response = api.admin.post("/api/v1/mailboxes", json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_server_that_sends_far_more_than_it_announced_is_cut_off_at_the_limit(api, db):
    limit = 2 * MiB
    liar = email("<enorme@rossi.it>", subject="Enorme", body="")
    honest = email("<dopo@rossi.it>", subject="Dopo")
    messages = {
        1: Message(claimed_size=1000, raw=liar, filler=150 * MiB),  # announced 1 kB, sends 150 MB
        2: Message(claimed_size=len(honest), raw=honest),
    }
    with HostileImapServer(Behaviour(messages=messages)) as server:
        add_hostile(api, server)
        tracemalloc.start()
        try:
            poll(db, lambda: 2 in server.flagged, max_message_bytes=limit)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert peak < limit + 100 * MiB  # the literal was never buffered
    assert server.flagged == {2}  # the liar stays in the mailbox, unread
    with Session(get_engine(db)) as check:
        assert check.exec(select(Ticket.subject)).all() == ["Dopo"]  # nothing of it stored
        alerts = check.exec(select(Outbox).where(Outbox.kind == "staff.mailbox_message_left")).all()
    assert len(alerts) == 1 and alerts[0].recipient == STAFF  # staff are told, once
    assert f"over the limit of {limit} bytes" in written(alerts[0])["subject"]
    assert mailbox(db).messages_left == 1 and mailbox(db).messages_stored == 1


def test_hung_servers_do_not_keep_a_healthy_mailbox_from_being_read(api, db, imap):
    # More hung mailboxes than a default thread pool has threads on this machine.
    hung = max(8, (os.cpu_count() or 1) + 4)
    healthy_poll = 60  # the first read comes at once; the rest is room for a loaded machine
    with HostileImapServer(Behaviour(trickle_seconds=2)) as server:
        for n in range(hung):
            add_hostile(api, server, name=f"appeso-{n}")
        add_mailbox(api, imap, name="sano", poll_seconds=healthy_poll)
        imap.append(email("<sano@rossi.it>"))
        # Liveness, not speed: the healthy mailbox is read within its poll interval while
        # every hung one still holds its connection (each step may take 10 minutes).
        poll(
            db,
            # Every hung one connected too (on a loaded machine the last may come after the
            # healthy read): none of them ever answers, so they all still hang then.
            lambda: count(db, Ticket) == 1 and server.connections == hung,
            timeout=healthy_poll,
            before_stop=server.stop,
            imap_timeout_seconds=600,
        )
        assert server.connections == hung  # all of them were hanging meanwhile


ECHOES = {
    "as typed": lambda password, sent: f"[AUTHENTICATIONFAILED] no user desk with {password}",
    "as sent, quoted": lambda password, sent: f"[AUTHENTICATIONFAILED] LOGIN desk {sent} refused",
    "in an AUTH PLAIN string": lambda password, sent: (
        "[AUTHENTICATIONFAILED] bad " + base64.b64encode(f"\0desk\0{password}".encode()).decode()
    ),
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("echo", ECHOES)
def test_a_server_echoing_the_password_never_gets_it_shown_logged_or_mailed(
    api, db, smtp, caplog, echo
):
    secret = os.urandom(6).hex()
    password = f'S3gr"et\\o-{secret}'  # a quote and a backslash: escaped when quoted
    refuse = ECHOES[echo]
    behaviour = Behaviour(refuse_login=lambda sent: refuse(password, sent))
    caplog.set_level(logging.INFO)
    with HostileImapServer(behaviour) as server:
        created = add_hostile(api, server, password=password)
        poll(db, lambda: mailbox(db).failures >= 1)
    asyncio.run(worker_for(db, smtp).drain_once())

    shown = api.admin.get(f"/api/v1/mailboxes/{created['id']}").json()["health"]["last_error"]
    assert shown.startswith("login refused") and "[AUTHENTICATIONFAILED]" in shown
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "login refused" in logged
    [alert] = [r for r in smtp.sink.received if r.recipients == [STAFF]]
    mailed = alert.text + str(alert.message["Subject"])
    assert "login refused" in mailed
    # Its random part, however escaped around it, or its base64 forms would betray it.
    betraying = [
        secret,
        base64.b64encode(password.encode()).decode(),
        base64.b64encode(f"\0desk\0{password}".encode()).decode(),
    ]
    for seen in (shown, logged, mailed):
        assert not [form for form in betraying if form in seen]


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

    def lines_still_failing() -> int:
        said = [r.getMessage() for r in caplog.records if r.name == "sportello.mailboxes"]
        return len([line for line in said if "still failing" in line])

    async def outage() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop))
        try:
            await until(lambda: mailbox(db).last_success_at is not None, 30)
            caplog.clear()
            proxy.cut()
            # The database is away until the poller has failed, then failed twice more (a
            # line each, the second try later than the first): what is checked below.
            await until(lambda: lines_still_failing() >= 2, 60)
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

    records = [r for r in caplog.records if r.name == "sportello.mailboxes"]
    assert len([r for r in records if r.exc_info]) <= 1  # one traceback at most
    waits = [
        int(found[1])
        for r in records
        if (found := re.search(r"still failing.*next try in (\d+) s", r.getMessage()))
    ]
    # Each failure after the first is one line, further apart each time.
    assert len(waits) >= 2 and waits == sorted(set(waits))
    # Beside them: the first failure, and each reader stopped by the outage.
    assert len([r for r in records if r.levelno >= logging.WARNING]) <= len(waits) + 3
