"""A real SMTP server on loopback for the tests (aiosmtpd), that can refuse and go down."""

import asyncio
import base64
import email
import email.policy
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Received:
    """One accepted email: envelope, the parsed message and the bytes as they arrived."""

    sender: str
    recipients: list[str]
    message: EmailMessage
    raw: bytes = b""

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        content: str = part.get_content()
        return content

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None
        content: str = part.get_content()
        return content


@dataclass
class Sink:
    """The aiosmtpd handler: keeps what it accepts; refuses addresses it is told to."""

    received: list[Received] = field(default_factory=list)
    # address -> SMTP reply for RCPT TO (e.g. "550 5.1.1 no such user", "451 4.3.0 try later")
    refuse: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        reply = self.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message, envelope.content)  # type: ignore[arg-type]
            )
        return "250 Message accepted"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.recipients]

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        with self.lock:
            return list(self.received)


class SmtpServer:
    """aiosmtpd on 127.0.0.1 at a fixed port, which can be stopped and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.sink = Sink()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> "SmtpServer":
        self._controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


# --- reading what arrived as a strict reader does ------------------------------------------

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?\s]*)\?=")


def header_fields(raw: bytes) -> list[tuple[str, str]]:
    """The top-level header fields of `raw`, unfolded, in order: (name, value).

    Every line must end with CRLF (no bare CR or LF); a line starting with a space or a tab
    continues the field before it (RFC 5322 unfolding).
    """
    head = raw.split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    assert all(b"\r" not in line and b"\n" not in line for line in lines), "a bare CR or LF"
    assert all(len(line) <= 998 for line in lines), "a header line over 998 octets"
    fields: list[tuple[str, str]] = []
    for line in head.decode("utf-8").split("\r\n"):
        if line[:1] in (" ", "\t"):
            name, value = fields[-1]
            fields[-1] = (name, value + line)
        else:
            name, colon, value = line.partition(":")
            assert colon and re.fullmatch(r"[!-9;-~]+", name), f"not a header line: {line!r}"
            fields.append((name, value.removeprefix(" ")))
    return fields


def decode_text(value: str) -> str:
    """An unstructured header value as RFC 2047 says to read it: whitespace-separated encoded
    words decoded, each on its own (a character split between two words is an error), the
    whitespace between two adjacent encoded words dropped; anything else as it is."""
    out: list[str] = []
    previous_encoded = False
    pending_space = ""
    for token in re.split(r"([ \t]+)", value):
        if not token:
            continue
        if token.isspace():
            pending_space = token
            continue
        word = _ENCODED_WORD.fullmatch(token)
        if word is None:
            out.append(pending_space + token)
            previous_encoded = False
        else:
            out.append(("" if previous_encoded else pending_space) + _decode_word(*word.groups()))
            previous_encoded = True
        pending_space = ""
    out.append(pending_space)
    return "".join(out)


def _decode_word(charset: str, encoding: str, text: str) -> str:
    if encoding in "bB":
        data = base64.b64decode(text, validate=True)
    else:
        spaced = text.replace("_", " ").encode("ascii")  # "_" is a space; "=5F" is "_"
        data = re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), spaced)
    return data.decode(charset)  # strict: an undecodable word fails the test


class StallingFront:
    """A TCP front for an `SmtpServer`: it accepts every connection and, while stalled, says
    nothing at all (no greeting, no answer), as a server hung under load does; otherwise, and
    once a stall is over, it passes the bytes both ways."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server
        self.stalled_until = 0.0
        self.stalled_connections = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._listener: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def stall(self, seconds: float) -> None:
        """From now on, for `seconds`, connections are accepted and left without an answer."""
        self.stalled_until = time.monotonic() + seconds

    def start(self) -> "StallingFront":
        self._thread.start()
        self._listener = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, "127.0.0.1", 0), self._loop
        ).result(timeout=5)
        self.port = self._listener.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Close the listener and every connection still open, then the loop."""

        async def shut() -> None:
            if self._listener is not None:
                self._listener.close()
            open_ones = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in open_ones:
                task.cancel()
            await asyncio.gather(*open_ones, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.stalled_until > time.monotonic():
                self.stalled_connections += 1
            while (left := self.stalled_until - time.monotonic()) > 0:
                try:
                    if not await asyncio.wait_for(reader.read(65536), timeout=left):
                        return  # the client gave up waiting
                except TimeoutError:
                    break
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.server.port
            )
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except ConnectionError:
            return
        finally:
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        return
    finally:
        writer.close()
