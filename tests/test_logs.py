"""Logs as an operator reads them: `sportello serve` writes JSON lines, each with the request id
of its request (the worker's lines about an email carry the id of the request that caused it),
and never a message body, an address's local part or a secret."""

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.db import get_engine
from app.logs import mask_addresses
from tests.processes import Process, environment, serve

ADMIN = "admin-secret-" + "7" * 16
INBOUND = ("relay", "relay-password-" + "9" * 12)
MARKER = "CORPO-RISERVATO-4711"


def test_addresses_keep_only_their_first_letter_and_domain():
    assert (
        mask_addresses("to giovanni.verdi@rossi.it and a@b.it") == "to g***@rossi.it and a***@b.it"
    )
    assert mask_addresses("no address here: 10:30 @ home") == "no address here: 10:30 @ home"


def _start(tmp_path: Path) -> Process:
    env = environment(
        database_url=f"sqlite:///{tmp_path / 'logs.db'}",
        admin_token=ADMIN,
        inbound_username=INBOUND[0],
        inbound_password=INBOUND[1],
        worker_poll_seconds="0.1",
    )
    return serve(tmp_path, env)  # its output is a file, not a terminal: JSON lines


def test_serve_logs_json_lines_with_request_ids_and_nothing_private(tmp_path):
    process = _start(tmp_path)
    base = process.base_url
    try:
        raw = (
            "From: Giovanni Verdi <giovanni.verdi@rossi.it>\r\n"
            "To: assistenza@example.com\r\nSubject: Sito giù\r\n"
            "Message-ID: <logs-1@rossi.it>\r\n\r\n"
            f"Il sito non risponde. {MARKER}\r\n"
        ).encode()
        delivered = httpx.post(
            base + "/api/v1/inbound/email/mime",
            content=raw,
            auth=INBOUND,
            headers={"Content-Type": "message/rfc822"},
        )
        assert delivered.status_code == 200
        request_id = delivered.headers["x-request-id"]
        listed = httpx.get(base + "/api/v1/calendars", headers={"Authorization": f"Bearer {ADMIN}"})
        assert listed.status_code == 200
        outbox = tmp_path / "var" / "outbox"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not list(outbox.glob("*.eml")):
            time.sleep(0.1)
        assert list(outbox.glob("*.eml")), "the receipt was not written"
        time.sleep(0.3)  # the worker's line after the send
    finally:
        process.stop()

    text = process.log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # each is JSON
    assert lines and all(
        {"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines
    )
    mine = [line for line in lines if line["request_id"] == request_id]
    loggers = {line["logger"] for line in mine}
    assert "sportello.access" in loggers  # the request itself
    assert "sportello.worker" in loggers  # the receipt it caused, sent later by the worker
    for private in (MARKER, ADMIN, INBOUND[1], "giovanni.verdi", "Il sito non risponde"):
        assert private not in text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_database_error_never_lists_the_values_it_was_given(db):
    """A failed statement's error (logged with its traceback when unexpected) names the SQL,
    not the parameters: a message body never reaches the log that way. (PostgreSQL's own
    DETAIL line of a constraint violation is the server's, and may still quote a row.)"""
    marker = "corpo-riservato-" + uuid.uuid4().hex
    with pytest.raises(DBAPIError) as raised, get_engine(db).begin() as connection:
        connection.execute(text("INSERT INTO customer (name) VALUES (:name)"), {"name": marker})
    assert marker not in str(raised.value)
    assert "INSERT INTO customer" in str(raised.value)
