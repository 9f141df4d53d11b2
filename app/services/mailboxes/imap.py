"""One IMAP connection that cannot hurt the desk; app.runners.mailbox_poller drives one per mailbox
(docs/adr/0003-imap-connections.md).

- **Bounded in time.** Each step (connecting, the greeting, STARTTLS, logging in and selecting
  the folder; then each command) must end within `step_seconds`, or the connection is cut:
  its socket is shut down, which ends a blocked read at once. A server that trickles its
  greeting a byte at a time is cut like a silent one.
- **No pool to wait for.** Each step runs on a daemon thread of its own, so a hung server holds
  only its own reader, and a process that stops does not wait for it.
- **Bounded in size.** No literal over `max_bytes + 1` bytes is read, whatever size the server
  announced for the message (RFC822.SIZE): it is refused as soon as it is announced, before a
  byte of it is read, and the connection is cut (its bytes stay unread). Nor may one step
  receive more than that and a margin for the lines around it.
- **Server text is hostile.** What a server says in an error may echo the password: it is
  redacted, in every form it may be echoed in, and freed of control characters before anyone
  keeps, logs or mails it.
"""

import asyncio
import base64
import imaplib
import re
import socket
import ssl
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar
from urllib.parse import quote

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from app.enums import MailboxSecurity
from app.services.mailboxes.records import Reading

T = TypeVar("T")
LINE_MARGIN = 2 * 1024 * 1024  # what a step may receive beside its literal: status lines, SEARCH
REDACTED = "[redacted]"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


class ResponseTooLarge(Exception):
    """The server sent, or announced, more in one answer than a message may hold."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the server sent an answer of {size} bytes, over {limit} bytes")
        self.size = size


# What a broken connection, a refused login, a bad certificate or an oversized answer raise.
IMAP_ERRORS = (IMAPClientError, OSError, ssl.SSLError, EOFError, ResponseTooLarge)


class _Guard:
    """What one connection may still receive in the current step, and the handle that cuts
    the connection from any thread."""

    def __init__(self, *, max_literal: int) -> None:
        self.max_literal = max_literal
        self.received = 0
        self.cut = False
        self._handle: socket.socket | None = None
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket) -> None:
        # A duplicate of the socket: shutting it down ends any read on the connection, even
        # once TLS has taken the original over.
        with self._lock:
            self._handle = sock.dup()
            if self.cut:
                self._shut()

    def hang_up(self) -> None:
        with self._lock:
            self.cut = True
            self._shut()

    def _shut(self) -> None:
        if self._handle is not None:
            with suppress(OSError):
                self._handle.shutdown(socket.SHUT_RDWR)
            self._handle.close()
            self._handle = None

    def literal(self, size: int) -> None:
        if size > self.max_literal:
            raise ResponseTooLarge(size, self.max_literal)

    def count(self, size: int) -> None:
        self.received += size
        if self.received > self.max_literal + LINE_MARGIN:
            raise ResponseTooLarge(self.received, self.max_literal + LINE_MARGIN)


class _GuardedIMAP4(imaplib.IMAP4):
    """imaplib's connection with every byte read through the guard (TLS from the start when
    given a context)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        guard: _Guard,
        timeout: float | None,
        tls: ssl.SSLContext | None,
    ) -> None:
        self._guard, self._connect_timeout, self._tls = guard, timeout, tls
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self._connect_timeout)
        self._guard.attach(sock)
        if self._tls is None:
            return sock
        return self._tls.wrap_socket(sock, server_hostname=self.host)

    def read(self, size: int) -> bytes:
        self._guard.literal(size)  # refused before a byte of it is read
        data = super().read(size)
        self._guard.count(len(data))
        return data

    def readline(self) -> bytes:
        line = super().readline()  # at most imaplib's line limit (1 MB)
        self._guard.count(len(line))
        return line


class _GuardedClient(IMAPClient):
    def __init__(
        self, box: Reading, *, guard: _Guard, context: ssl.SSLContext, timeout: float
    ) -> None:
        self._guard = guard
        super().__init__(
            box.host,
            port=box.port,
            ssl=box.security == MailboxSecurity.IMPLICIT_TLS,
            ssl_context=context,
            timeout=timeout,
        )
        # imapclient turns imaplib's protocol trace on: every line, the LOGIN with its
        # password included, kept in memory for a debug log. Off.
        self._imap.debug = 0

    def _create_IMAP4(self) -> imaplib.IMAP4:
        return _GuardedIMAP4(
            self.host,
            self.port,
            guard=self._guard,
            timeout=self._timeout.connect,
            tls=self.ssl_context if self.ssl else None,
        )


def _on_own_thread(work: Callable[[], T], *, name: str) -> "asyncio.Future[T]":
    """`work()` on a new daemon thread; its outcome as a future of the running loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():  # abandoned: the step took too long, or the reader was cancelled
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def run() -> None:
        result, error = None, None
        try:
            result = work()
        except BaseException as exc:
            error = exc
        with suppress(RuntimeError):  # the loop has closed: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


class ImapConnection:
    """One mailbox's connection, driven from the event loop one step at a time."""

    def __init__(
        self, box: Reading, *, step_seconds: float, max_bytes: int, ca_file: str | None = None
    ) -> None:
        self._box = box
        self._step_seconds = step_seconds
        self._ca_file = ca_file
        self._guard = _Guard(max_literal=max_bytes + 1)
        self._client: IMAPClient | None = None
        self._secrets = secret_pattern(box.username, box.password)
        self.capabilities: tuple[bytes, ...] = ()

    @property
    def cut(self) -> bool:
        return self._guard.cut

    async def open(self) -> int:
        """Connect, log in and select the folder, as one step; the folder's UIDVALIDITY (and
        the server's `capabilities`)."""
        self._client, uidvalidity, self.capabilities = await self._step(self._open)
        return uidvalidity

    async def call(self, method: str, *args: Any) -> Any:
        """`IMAPClient.<method>(*args)` as one step."""
        client = self._client
        if client is None:
            raise ConnectionAbortedError("not connected")
        return await self._step(lambda: getattr(client, method)(*args))

    def hang_up(self) -> None:
        """Cut the connection (from any thread): a step in progress fails at once."""
        self._guard.hang_up()

    async def close(self) -> None:
        """Log out if the connection is whole; otherwise cut it and close its socket."""
        client, self._client = self._client, None
        if client is not None and not self.cut:
            with suppress(*IMAP_ERRORS):
                await self._step(client.logout)
                client = None  # logged out: imaplib has closed its socket
        self.hang_up()
        if client is not None:
            # Its socket is closed on a thread of its own: closing may wait for the read
            # that the cut is ending.
            threading.Thread(target=_shut_quietly, args=(client,), daemon=True).start()

    def describe(self, exc: BaseException) -> str:
        """A failure in words for the mailbox's health, the log and staff: never the
        password, never a control character."""
        if isinstance(exc, LoginError):
            text = f"login refused: {exc}"
        elif isinstance(exc, ssl.SSLError):
            text = f"TLS error: {exc}"
        elif isinstance(exc, socket.timeout | TimeoutError):
            text = f"the server did not answer in time ({exc})"
        elif isinstance(exc, ConnectionRefusedError):
            text = "connection refused: is the server down, or the port wrong?"
        else:
            text = f"{type(exc).__name__}: {exc}"
        return _CONTROL.sub(" ", self._secrets.sub(REDACTED, text))[:1000]

    def _open(self) -> tuple[IMAPClient, int, tuple[bytes, ...]]:
        box = self._box
        # Certificates are checked against the system's CAs, or the private CA's file.
        context = ssl.create_default_context(cafile=self._ca_file)
        client = _GuardedClient(box, guard=self._guard, context=context, timeout=self._step_seconds)
        try:
            if box.security == MailboxSecurity.STARTTLS:
                client.starttls(context)
            client.login(box.username, box.password)
            selected = client.select_folder(box.folder)
            return client, int(selected[b"UIDVALIDITY"]), tuple(client.capabilities())
        except BaseException:
            _shut_quietly(client)
            raise

    async def _step(self, work: Callable[[], T]) -> T:
        if self.cut:
            raise ConnectionAbortedError("the connection was cut")

        def step() -> T:
            self._guard.received = 0
            return work()

        future = _on_own_thread(step, name=f"imap {self._box.name}")
        try:
            return await asyncio.wait_for(future, self._step_seconds)
        except TimeoutError:
            self.hang_up()
            raise TimeoutError(f"no complete answer within {self._step_seconds:g} s") from None
        except BaseException:  # failed or cancelled: what was half read is lost with it
            self.hang_up()
            raise


def _shut_quietly(client: IMAPClient) -> None:
    with suppress(*IMAP_ERRORS):
        client.shutdown()


def secret_pattern(username: str, password: str) -> "re.Pattern[str]":
    """The password as a server may echo it: as typed, as an IMAP quoted string, base64 alone
    or in an AUTH PLAIN string, percent-encoded; and each of these as Python shows it inside
    bytes (imaplib's errors hold the server's bytes)."""
    auth_plain = (f"\0{username}\0{password}", f"{username}\0{username}\0{password}")
    encoded = [base64.b64encode(text.encode()).decode() for text in (password, *auth_plain)]
    forms = {
        password,
        password.replace("\\", "\\\\").replace('"', '\\"'),
        quote(password, safe=""),
        *encoded,
        *(text.rstrip("=") for text in encoded),
    }
    for form in list(forms):
        shown = repr(b'"' + form.encode())[3:-1]  # as inside '...': \\, \' and \xNN escaped
        forms |= {shown, shown.replace("\\'", "'")}
    # Longest first, so that a form inside another goes with it.
    ordered = sorted((form for form in forms if form), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, ordered)), re.IGNORECASE)
