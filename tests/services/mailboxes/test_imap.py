"""What a server says never betrays the mailbox's password (R6 mailboxes; the connection's own
defences against hostile servers are in tests/test_mail_poller_hostile.py)."""

import base64
import imaplib

from hypothesis import given
from hypothesis import strategies as st
from imapclient.exceptions import LoginError

from app.enums import AfterStore, MailboxSecurity
from app.services.mailboxes.imap import REDACTED, ImapConnection
from app.services.mailboxes.records import Reading

USER = "assistenza@agency.example"
passwords = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E) | st.characters(categories=["L"]),
    min_size=6,
    max_size=40,
)


def connection_for(password: str) -> ImapConnection:
    box = Reading(
        id=1,
        name="assistenza",
        host="imap.example.com",
        port=993,
        security=MailboxSecurity.IMPLICIT_TLS,
        username=USER,
        password=password,
        folder="INBOX",
        after_store=AfterStore.MARK_SEEN,
        move_to=None,
        poll_seconds=60,
        uidvalidity=None,
        last_uid=0,
        revision=1,
    )
    return ImapConnection(box, step_seconds=60, max_bytes=1000)


def echoes(password: str) -> list[bytes]:
    """How a server may quote it: as typed, as the IMAP quoted string it received, base64
    alone and inside an AUTH PLAIN string."""
    quoted = '"' + password.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return [
        password.encode(),
        quoted.encode(),
        base64.b64encode(password.encode()),
        base64.b64encode(f"\0{USER}\0{password}".encode()),
    ]


def betrayals(password: str) -> list[str]:
    """What would let a reader recover the password."""
    return [
        password,
        repr(password.encode())[2:-1],  # inside imaplib's bytes
        base64.b64encode(password.encode()).decode(),
    ]


@given(password=passwords, before=st.text(max_size=20), after=st.text(max_size=20))
def test_a_refused_login_echoing_the_password_is_described_without_it(password, before, after):
    connection = connection_for(password)
    for echo in echoes(password):
        said = before.encode() + echo + after.encode(errors="replace")
        # As imapclient raises it: imaplib's error holds the server's bytes.
        refused = LoginError(str(imaplib.IMAP4.error(said)))
        described = connection.describe(refused)
        # Each redaction stands apart, so no password can span one.
        apart = described.replace(REDACTED, "\0")
        assert not [form for form in betrayals(password) if form in apart]


def test_control_characters_from_the_server_never_reach_a_line():
    described = connection_for("segreta-123").describe(
        LoginError("NO bad\r\nFAKE: injected\x1b[31m line")
    )
    assert described == "login refused: NO bad FAKE: injected [31m line"
