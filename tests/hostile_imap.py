"""A small IMAP server on loopback that misbehaves on purpose, for the reader's defences (the
well-behaved server is Dovecot, tests/imap.py).

It speaks just enough IMAP4rev1 for imapclient (greeting, CAPABILITY, LOGIN, SELECT, UID
SEARCH, UID FETCH, UID STORE, NOOP, LOGOUT), and can:
- trickle its greeting one byte every `trickle_seconds` (a hung server that never goes silent);
- refuse LOGIN with a message that echoes the password, in a form of the test's choosing;
- announce a message's size (RFC822.SIZE) and then send another number of bytes.
"""

import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import BinaryIO

CHUNK = b"x" * (1024 * 1024)


@dataclass
class Message:
    """A message as the server shows it: the size it claims, and what it sends."""

    claimed_size: int
    raw: bytes = b""
    filler: int = 0  # bytes of `x` sent after `raw` (a body far larger than claimed)

    @property
    def length(self) -> int:
        return len(self.raw) + self.filler


@dataclass
class Behaviour:
    trickle_seconds: float | None = None
    # Given the password the client sent (as it arrived, quoted), the text of the NO answer.
    refuse_login: Callable[[str], str] | None = None
    messages: dict[int, Message] = field(default_factory=dict)


class HostileImapServer:
    """The server, in a thread; `connections` counts the clients that reached it."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.connections = 0
        self.flagged: set[int] = set()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        hostile = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                with hostile.lock:
                    hostile.connections += 1
                with suppress(OSError):  # the client hung up: what this server is for
                    hostile.converse(self.rfile, self.connection)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "HostileImapServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving; every trickle ends, and its client sees the connection close."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def converse(self, rfile: BinaryIO, sock: socket.socket) -> None:
        greeting = b"* OK [CAPABILITY IMAP4rev1] hostile ready\r\n"
        if self.behaviour.trickle_seconds is not None:
            for byte in greeting:
                if self.stopping.wait(self.behaviour.trickle_seconds):
                    return
                sock.sendall(bytes([byte]))
            while not self.stopping.wait(self.behaviour.trickle_seconds):
                sock.sendall(b"*")  # and never a complete line after it
            return
        sock.sendall(greeting)
        while not self.stopping.is_set():
            line = rfile.readline()
            if not line:
                return
            tag, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
            command, _, arguments = rest.partition(" ")
            if not self.answer(sock, tag, command.upper(), arguments):
                return

    def answer(self, sock: socket.socket, tag: str, command: str, arguments: str) -> bool:
        """Answer one command; False once the conversation is over."""
        if command == "LOGIN":
            refuse = self.behaviour.refuse_login
            if refuse is not None:
                _, _, password = arguments.partition(" ")
                sock.sendall(f"{tag} NO {refuse(password)}\r\n".encode())
                return True
        elif command == "SELECT":
            sock.sendall(
                f"* {len(self.behaviour.messages)} EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n".encode()
            )
        elif command == "UID":
            return self.uid_command(sock, tag, arguments)
        elif command == "LOGOUT":
            sock.sendall(f"* BYE bye\r\n{tag} OK bye\r\n".encode())
            return False
        elif command not in ("CAPABILITY", "NOOP"):
            sock.sendall(f"{tag} BAD unknown command\r\n".encode())
            return True
        if command == "CAPABILITY":
            sock.sendall(b"* CAPABILITY IMAP4rev1\r\n")
        sock.sendall(f"{tag} OK done\r\n".encode())
        return True

    def uid_command(self, sock: socket.socket, tag: str, arguments: str) -> bool:
        command, _, rest = arguments.partition(" ")
        uids = sorted(self.behaviour.messages)
        if command.upper() == "SEARCH":
            first = int(re.findall(r"(\d+):\*", rest)[0])
            found = [uid for uid in uids if uid >= first] or uids[-1:]
            sock.sendall(f"* SEARCH {' '.join(map(str, found))}\r\n".encode())
        elif command.upper() == "FETCH":
            wanted, _, items = rest.partition(" ")
            for uid in (int(u) for u in wanted.split(",")):
                self.fetch(sock, uid, items.upper())
        elif command.upper() == "STORE":
            self.flagged.update(int(u) for u in rest.split(" ")[0].split(","))
        sock.sendall(f"{tag} OK done\r\n".encode())
        return True

    def fetch(self, sock: socket.socket, uid: int, items: str) -> None:
        message = self.behaviour.messages.get(uid)
        if message is None:
            return
        seq = sorted(self.behaviour.messages).index(uid) + 1
        if "RFC822.SIZE" in items:
            sock.sendall(
                f"* {seq} FETCH (UID {uid} RFC822.SIZE {message.claimed_size})\r\n".encode()
            )
            return
        # BODY.PEEK[], whole or partial, or its header: the same bytes, whatever was asked.
        sock.sendall(f"* {seq} FETCH (UID {uid} BODY[] {{{message.length}}}\r\n".encode())
        sock.sendall(message.raw)
        left = message.filler
        while left > 0:
            piece = CHUNK[: min(left, len(CHUNK))]
            sock.sendall(piece)
            left -= len(piece)
        sock.sendall(b")\r\n")


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Wait until `condition()` holds (a liveness check: fail after `timeout`)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)
