"""A real IMAP server for the tests: Dovecot, started by scripts/dovecot-test-server.sh with a
throw-away user and maildir on a loopback port.

Without Dovecot the IMAP tests are skipped with the reason; with
SPORTELLO_TEST_REQUIRE_IMAP=1 (CI, which installs it) its absence fails them.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from imapclient import IMAPClient

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "dovecot-test-server.sh"
REQUIRE_IMAP = os.environ.get("SPORTELLO_TEST_REQUIRE_IMAP") == "1"
FOLDERS = ("INBOX", "Processed")


def dovecot_unavailable() -> str | None:
    if shutil.which("dovecot") or Path("/usr/sbin/dovecot").exists():
        return None
    return "Dovecot is not installed (scripts/install-dovecot.sh installs Debian's dovecot-imapd)"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ImapServer:
    """The running server and its one user."""

    host: str
    port: int  # plain, or STARTTLS
    user: str
    password: str
    tls_port: int  # implicit TLS
    ca_file: str  # the server's self-signed certificate

    def client(self, folder: str = "INBOX") -> IMAPClient:
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        client.select_folder(folder)
        return client

    def append(self, *messages: bytes, folder: str = "INBOX") -> None:
        with self.client(folder) as client:
            for raw in messages:
                client.append(folder, raw)

    def flags(self, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        """Each message's flags, by UID."""
        with self.client(folder) as client:
            uids = client.search(["ALL"])
            fetched = client.fetch(uids, ["FLAGS"]) if uids else {}
        return {uid: tuple(data[b"FLAGS"]) for uid, data in fetched.items()}

    def empty(self) -> None:
        for folder in FOLDERS:
            with self.client(folder) as client:
                uids = client.search(["ALL"])
                if uids:
                    client.delete_messages(uids)
                    client.expunge()


@pytest.fixture(scope="session")
def imap_server() -> Iterator[ImapServer]:
    """Dovecot for the whole session (each test empties its folders first)."""
    reason = dovecot_unavailable()
    if reason:
        if REQUIRE_IMAP:
            pytest.fail(f"Dovecot is required (SPORTELLO_TEST_REQUIRE_IMAP=1): {reason}")
        pytest.skip(reason)
    directory = tempfile.mkdtemp(prefix="sportello-imap-")
    server = ImapServer(
        "127.0.0.1",
        _free_port(),
        "desk",
        "pw-" + uuid.uuid4().hex[:12],
        tls_port=_free_port(),
        ca_file=str(Path(directory, "cert.pem")),
    )
    process = subprocess.Popen(
        [
            "bash",
            str(SCRIPT),
            directory,
            str(server.port),
            server.user,
            server.password,
            str(server.tls_port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                server.client().logout()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    error = process.stderr.read().decode() if process.stderr else ""
                    log = Path(directory, "dovecot.log")
                    if log.exists():
                        error += log.read_text()
                    pytest.fail(f"Dovecot did not start: {error[-2000:]}")
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def imap(imap_server: ImapServer) -> ImapServer:
    """The IMAP server with empty folders."""
    imap_server.empty()
    return imap_server


def email(
    message_id: str,
    *,
    sender: str = "Mario Rossi <mario@rossi.it>",
    subject: str = "Sito lento",
    body: str = "Il sito è lento da stamattina.",
    headers: str = "",
) -> bytes:
    """A plain-text email as a mail client would write it."""
    text = (
        f"From: {sender}\r\n"
        "To: assistenza@agency.example\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: {message_id}\r\n"
        "Date: Mon, 23 Nov 2026 16:00:00 +0100\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        f"{headers}"
        "\r\n"
        f"{body}\r\n"
    )
    return text.encode()
