"""Signed Mailgun deliveries of new messages from a customer with a contract (bench/ingest.py,
bench/load.py): each its own Message-Id and single-use token, as Mailgun's route forward()
posts them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlencode

import httpx
from harness import SIGNING_KEY, admin_headers

MAILGUN_PATH = "/api/v1/inbound/email/mailgun"
FORM = "application/x-www-form-urlencoded"

PLAIN = (
    "Buongiorno,\r\n\r\n"
    "da questa mattina il sito non risponde: la home page resta bianca e dopo circa trenta "
    "secondi compare un errore 502 Bad Gateway, anche dal pannello di amministrazione. Ieri "
    "sera funzionava ancora tutto e non abbiamo fatto modifiche.\r\n"
    "Potete verificare con urgenza? Abbiamo una campagna in partenza domani mattina.\r\n\r\n"
    "Grazie,\r\nMario Rossi\r\nRossi S.r.l. - Ufficio commerciale\r\nTel. 02 1234567\r\n"
)
STRIPPED = PLAIN.split("\r\n\r\nGrazie,")[0].removeprefix("Buongiorno,\r\n\r\n")
HTML = '<div dir="ltr"><p>Buongiorno,</p><p>{}</p><p>Grazie,<br>Mario Rossi</p></div>'.format(
    STRIPPED.replace("\r\n", "<br>")
)


def mailgun_delivery(run: str, n: int, *, now: datetime | None = None) -> str:
    """One signed Mailgun forward() of a new message, urlencoded (~1.5 KB, one line).

    Its own Message-Id and single-use token, signed HMAC-SHA256(key, timestamp + token): the
    server accepts it once, within 5 minutes of `now`.
    """
    now = now or datetime.now(UTC)
    timestamp = str(int(now.timestamp()))
    token = secrets.token_hex(25)  # 50 hex characters, as Mailgun's
    signature = hmac.new(
        SIGNING_KEY.encode(), (timestamp + token).encode(), hashlib.sha256
    ).hexdigest()
    message_id = f"<bench-{run}-{n}@rossi.it>"
    subject = f"Il sito non risponde (segnalazione {n})"
    # Each from an address of its own on rossi.it: past 20 emails an hour to one address the
    # loop guard holds the receipts, which the worker then never writes.
    address = f"cliente-{run}-{n}@rossi.it"
    sender = f"Mario Rossi <{address}>"
    headers = [
        ["X-Mailgun-Incoming", "Yes"],
        ["Mime-Version", "1.0"],
        ["From", sender],
        ["Date", format_datetime(now)],
        ["Message-Id", message_id],
        ["Subject", subject],
        ["To", "Assistenza <assistenza@sportello.example>"],
        ["Content-Type", 'multipart/alternative; boundary="000000000000b1c2d3"'],
    ]
    fields = [
        ("recipient", "assistenza@sportello.example"),
        ("sender", address),
        ("from", sender),
        ("subject", subject),
        ("body-plain", PLAIN),
        ("stripped-text", STRIPPED),
        ("body-html", HTML),
        ("Message-Id", message_id),
        ("message-headers", json.dumps(headers)),
        ("timestamp", timestamp),
        ("token", token),
        ("signature", signature),
    ]
    return urlencode(fields)


class Deliveries:
    """Signed deliveries numbered on across batches, so that every Message-Id is new."""

    def __init__(self) -> None:
        self.run = secrets.token_hex(4)
        self.made = 0

    def make(self, count: int) -> list[str]:
        """`count` more, signed now: make them right before they are sent."""
        now = datetime.now(UTC)
        bodies = [mailgun_delivery(self.run, self.made + n, now=now) for n in range(count)]
        self.made += count
        return bodies


def seed_contract(base: str) -> int:
    """A customer owning rossi.it and its contract, through the admin API; the contract's id.

    Every delivery then takes the realistic path: a new ticket on the contract, with its
    deadline.
    """
    with httpx.Client(base_url=base, headers=admin_headers(), timeout=30) as client:
        customer = client.post(
            "/api/v1/customers", json={"name": "Rossi", "email_domains": ["rossi.it"]}
        )
        customer.raise_for_status()
        contract = client.post(
            "/api/v1/contracts",
            json={
                "customer_id": customer.json()["id"],
                "code": "ROSSI-1",
                "starts_on": f"{datetime.now(UTC):%Y}-01-01",
                "annual_fee": "1200.00",
            },
        )
        contract.raise_for_status()
        return int(contract.json()["id"])


def post_deliveries(base: str, bodies: list[str]) -> None:
    """Send deliveries one after the other (a warm-up); each must store a new ticket."""
    with httpx.Client(base_url=base, timeout=30) as client:
        for body in bodies:
            response = client.post(MAILGUN_PATH, content=body, headers={"Content-Type": FORM})
            if response.status_code != 200 or response.json().get("duplicate") is not False:
                raise RuntimeError(f"warm-up delivery: {response.status_code} {response.text}")
