"""A webhook receiver on loopback that verifies every delivery with the Standard Webhooks
library, as an integrator's would (docs/webhooks.md)."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    status: int
    verified: dict[str, Any] | None


@dataclass
class Receiver:
    """Verifies with `secrets` (any one verifying is enough); answers `answers` in turn, then
    `default`."""

    secrets: list[str] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    default: int = 204
    got: list[Delivery] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    before_answer: Callable[[int, dict[str, str]], None] | None = None
    """Called with the request's number (from 0) and headers before it is answered."""

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        verified = None
        for secret in self.secrets:
            try:
                verified = Webhook(secret).verify(body, headers)
                break
            except WebhookVerificationError:
                continue
        with self.lock:
            status = self.answers.pop(0) if self.answers else self.default
            if verified is None:
                status = 400
            self.got.append(Delivery(headers, body, status, verified))
            number = len(self.got) - 1
        if self.before_answer is not None:
            self.before_answer(number, headers)
        return status

    def accepted(self) -> list[dict[str, Any]]:
        """The events it accepted, in the order it got them."""
        return [d.verified for d in self.got if d.status < 300 and d.verified is not None]


@contextmanager
def receiving(receiver: Receiver) -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = self.rfile.read(length)
            if len(body) < length:
                # Its sender died mid-request (a worker killed by a test): no delivery, and
                # no one to answer, as for any HTTP server.
                self.close_connection = True
                return
            status = receiver.handle(dict(self.headers), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/events"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
