"""The website's CONTACT form (R6): a ticket per submission, spam kept out."""

import math
import secrets
import threading
import time
from collections import deque
from datetime import datetime

from sqlmodel import Session

from app.errors import TooManyRequests
from app.models.inbound import ContactIn, ContactResult
from app.models.ticket import TicketCreate
from app.services import terms
from app.services.inbound import InboundAttachment, UploadedFile, sanitize_filename
from app.services.ingest import check_sizes, store_attachments
from app.services.tickets.intake import open_ticket
from app.services.tickets.snapshot import SlaKnobs

ACTOR = "contact-form"


class RateLimiter:
    """At most `limit` hits per key in a sliding window; memory bounded by `max_keys`."""

    def __init__(self, *, limit: int, window_seconds: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window_seconds
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, *, now: float | None = None) -> None:
        """Count a hit, or raise TooManyRequests with the seconds until the next is allowed."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                retry = max(1, math.ceil(hits[0] + self.window - now))
                raise TooManyRequests(
                    f"Too many messages from this address; retry in {retry} seconds.",
                    headers={"Retry-After": str(retry)},
                )
            hits.append(now)
            if len(self._hits) > self.max_keys:
                self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        idle = [k for k, h in self._hits.items() if not h or h[-1] <= now - self.window]
        for key in idle:
            del self._hits[key]


def submit(
    form: ContactIn,
    files: list[UploadedFile],
    *,
    session: Session,
    knobs: SlaKnobs,
    now: datetime,
    max_file_bytes: int,
) -> ContactResult:
    """Record a contact-form request as a ticket; a filled honeypot stores nothing."""
    attachments = tuple(
        InboundAttachment(
            filename=sanitize_filename(f.filename, f.content_type),
            content_type=(f.content_type or "application/octet-stream")[:255],
            data=f.data,
        )
        for f in files
        if f.field_name == "attachments" and f.data
    )
    check_sizes(attachments, max_file_bytes=max_file_bytes)
    if form.website:
        # A bot filled the hidden field: answer like a success, keep nothing.
        _, decision = terms.preview(
            received_at=now,
            from_email=form.email,
            subject=form.subject,
            channel="web_form",
            category=None,
            session=session,
            support_hours=knobs.support_hours,
        )
        return ContactResult(
            ticket_number=f"{now:%Y}-{secrets.randbelow(10**6):06d}",
            take_charge_due_at=decision.take_charge_due_at,
        )
    request = TicketCreate(
        channel="web_form",
        from_email=form.email,
        from_name=form.name,
        subject=form.subject,
        body=form.message,
        received_at=now,
    )
    ticket = open_ticket(request, session=session, knobs=knobs, actor=ACTOR, now=now)
    store_attachments(ticket.message_id, attachments, session=session)
    return ContactResult(ticket_number=ticket.number, take_charge_due_at=ticket.take_charge_due_at)
