"""Logs as an operator reads them: `sportello serve` writes JSON lines, each with the request id
of its request (the worker's lines about an email carry the id of the request that caused it),
and never a message body, an address's local part or a secret."""

import io
import json
import logging
import time
import uuid
from pathlib import Path

import httpx
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.db import get_engine
from app.logs import TEXT_FORMAT, Context, mask_addresses
from tests.processes import Process, environment, serve

ADMIN = "admin-secret-" + "7" * 16
INBOUND = ("relay", "relay-password-" + "9" * 12)
MARKER = "CORPO-RISERVATO-4711"


def test_addresses_keep_only_their_first_letter_and_domain():
    assert (
        mask_addresses("to giovanni.verdi@rossi.it and a@b.it") == "to g***@rossi.it and a***@b.it"
    )
    assert mask_addresses("no address here: 10:30 @ home") == "no address here: 10:30 @ home"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("to echo.josé.garcía@example.com", "to e***@example.com"),
        ("to echo.δοκιμή@παράδειγμα.δοκιμή", "to e***@παράδειγμα.δοκιμή"),
        ("to o'brien@example.ie", "to o***@example.ie"),
        ("to 用户@例子.广告", "to 用***@例子.广告"),
        ("to mario+urgente@rossi.it", "to m***@rossi.it"),
        ('to "mario rossi"@rossi.it', 'to "m***@rossi.it'),
        ('to "mario \\"il capo\\" rossi"@rossi.it', 'to "m***@rossi.it'),
        ("Mario <mario.rossi@rossi.it>", "Mario <m***@rossi.it>"),
        ("mailto:mario.rossi@rossi.it", "mailto:m***@rossi.it"),
        ("recipient 'mario.rossi@rossi.it'", "recipient 'm***@rossi.it'"),
        ('{"to": "mario.rossi@rossi.it"}', '{"to": "m***@rossi.it"}'),
        ("to mario.rossi@xn--rss-pla.it", "to m***@xn--rss-pla.it"),
        ("to mario.rossi@[192.0.2.1]", "to m***@[192.0.2.1]"),
        ("export?email=mario.rossi%40rossi.it", "e***%40rossi.it"),  # all of it: "=" may be in one
        ('"a@b"@rossi.it', '"a***@rossi.it'),
    ],
)
def test_every_spelling_of_an_address_is_masked(text, masked):
    assert mask_addresses(text) == masked


LOCAL_CHARACTERS = st.characters(
    categories=("L", "M", "N"), include_characters="!#$%&'*+-/=?^_`{|}~."
)
QUOTED_CHARACTERS = st.one_of(
    st.characters(categories=("L", "N", "P", "S", "Zs"), exclude_characters='"\\'),
    st.sampled_from(['\\"', "\\\\"]),
)
LABEL = st.text(st.characters(categories=("Ll", "Lo", "Nd")), min_size=1, max_size=12)


@st.composite
def addresses(draw: st.DrawFn) -> tuple[str, str, str]:
    """(address, local part, "@" and domain): dot-atom or quoted local parts in any script,
    ASCII or IDN domains, with "@" or its URL-encoded form."""
    if draw(st.booleans()):
        local = draw(st.text(LOCAL_CHARACTERS, min_size=3, max_size=40))
    else:
        local = '"' + "".join(draw(st.lists(QUOTED_CHARACTERS, min_size=3, max_size=20))) + '"'
    domain = ".".join([*draw(st.lists(LABEL, min_size=1, max_size=3)), "it"])
    at = draw(st.sampled_from(["@", "%40"]))
    return f"{local}{at}{domain}", local, at + domain


CONTEXTS = [
    "{}",
    "sent to {} at 10:30",
    "Mario Rossi <{}>",
    "mailto:{}",
    "({}),",
    "recipient '{}'",
    '{{"to": "{}"}}',
    "to {} and {}",
    "line one\n{}\nline three",
]


@given(addresses(), st.sampled_from(CONTEXTS))
def test_a_masked_line_never_shows_a_local_part_beyond_its_first_character(address, context):
    text, local, at_domain = address
    line = context.format(text, text)
    # What the line shows anyway (its words, the domain, the mask's stars) cannot leak.
    assume(local[1:] not in context and local[1:] not in at_domain and "*" not in local)
    masked = mask_addresses(line)
    assert local[1:] not in masked
    assert at_domain in masked


def test_outside_text_in_a_line_never_starts_a_line_of_its_own():
    """An SMTP server's answer or an IMAP error is outside text: its CR, LF and other control
    characters are written escaped, so no one can forge a log line through it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(Context())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("sportello.test-forged-line")
    logger.addHandler(handler)
    try:
        answer = "451 busy\r\nERROR sportello.auth: admin token accepted\x1b[2J\u2028x"
        logger.warning("outbox 7 will be retried: %s", answer)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == (
        "WARNING outbox 7 will be retried: 451 busy\\r\\nERROR sportello.auth: admin token "
        "accepted\\x1b[2J\\u2028x\n"
    )


def test_a_logged_traceback_and_stack_mask_the_addresses_they_quote():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(Context())
    handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logger = logging.getLogger("sportello.test-traceback")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("refused: giovanni.verdi@rossi.it")
        except ValueError:
            logger.exception("sending to %s failed", "giovanni.verdi@rossi.it")
        logger.warning("a stack, quoting %s", "giovanni.verdi@rossi.it", stack_info=True)
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "ValueError: refused: g***@rossi.it" in written
    assert "sending to g***@rossi.it failed" in written
    assert "giovanni.verdi" not in written


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
