"""Take the README's picture of the console's queue: docs/console-queue.png.

A demo desk on a throw-away SQLite database (three customers under contract, a stranger asking
for a quote, seven requests in every SLA state), the app served on loopback with its clock set
to a Tuesday afternoon in Rome, a staff member signed in with a one-time link as `sportello
staff login-link` gives one, and the queue photographed by the browser tests' headless Chromium
(tests/browser/chromium.py) at 1280 px.

    .venv/bin/python scripts/console_screenshot.py [--out docs/console-queue.png]
"""

import argparse
import base64
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from cryptography.fernet import Fernet
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import migrations, sealing  # noqa: E402
from app.db import get_engine  # noqa: E402
from app.deps import get_now  # noqa: E402
from app.main import create_app  # noqa: E402
from app.services.console import sign_in  # noqa: E402
from app.settings import Settings  # noqa: E402
from tests.browser.chromium import Chromium, find_chromium  # noqa: E402

NOW = datetime(2026, 11, 24, 15, 40, tzinfo=UTC)  # Tuesday 24 November, 16:40 in Rome
ADMIN = "screenshot-admin-" + base64.urlsafe_b64encode(os.urandom(12)).decode()
CUSTOMERS = (
    ("Rossi Srl", "rossi.it", "ASS-2026-01"),
    ("Bianchi & Figli", "bianchifigli.it", "ASS-2026-02"),
    ("Studio Verdi", "studioverdi.it", "ASS-2026-03"),
)
# (from, name, subject, received in Rome, then: "take" in charge, "mine" assigned to Marco)
TICKETS = (
    ("mario@rossi.it", "Mario Rossi", "URGENTE: il sito non risponde", "2026-11-24T16:10", ""),
    ("anna@bianchifigli.it", "Anna Bianchi", "Certificato SSL scaduto", "2026-11-23T15:55", ""),
    ("luca@studioverdi.it", "Luca Verdi", "Casella email piena", "2026-11-24T15:20", "mine"),
    ("mario@rossi.it", "Mario Rossi", "Backup non eseguito stanotte", "2026-11-19T10:00", ""),
    ("giulia@example.net", "Giulia Neri", "Preventivo per un nuovo sito", "2026-11-24T11:30", ""),
    (
        "anna@bianchifigli.it",
        "Anna Bianchi",
        "Modifica pagina contatti",
        "2026-11-24T09:30",
        "take",
    ),
    (
        "paolo@rossi.it",
        "Paolo Rossi",
        "Pannello di amministrazione lento",
        "2026-11-24T09:00",
        "mine",
    ),
)


class Server:
    """The app on a loopback port, in a thread, its clock at NOW."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.app.dependency_overrides[get_now] = lambda: NOW
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise SystemExit("the server did not start")
            time.sleep(0.05)
        self.base_url = f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def ok(response: httpx.Response) -> dict:
    if response.status_code >= 300:
        raise SystemExit(f"{response.request.method} {response.request.url}: {response.text}")
    return response.json() if response.content else {}


def seed(api: httpx.Client, database_url: str) -> str:
    """The demo desk; the one-time sign-in link's path for Marco."""
    for name, domain, code in CUSTOMERS:
        customer = ok(api.post("/api/v1/customers", json={"name": name, "email_domains": [domain]}))
        contract = {"customer_id": customer["id"], "code": code, "starts_on": "2026-01-01"}
        ok(api.post("/api/v1/contracts", json=contract | {"annual_fee": "1200.00"}))
    marco = ok(
        api.post(
            "/api/v1/staff",
            json={"name": "Marco Bianchi", "email": "marco@agency.example", "role": "agent"},
        )
    )
    for address, name, subject, received, then in TICKETS:
        ticket = ok(
            api.post(
                "/api/v1/tickets",
                json={
                    "channel": "email",
                    "from_email": address,
                    "from_name": name,
                    "subject": subject,
                    "body": subject + ".",
                    "received_at": received + ":00+01:00",
                },
            )
        )
        if then == "take":
            ok(api.post(f"/api/v1/tickets/{ticket['id']}/take-charge", json={}))
        if then == "mine":
            ok(
                api.post(
                    f"/api/v1/tickets/{ticket['id']}/assign", json={"assignee_id": marco["id"]}
                )
            )
    with Session(get_engine(database_url)) as session:
        token = sign_in.issue_link(marco["email"], session=session, now=NOW, minutes=15)
        session.commit()
    return f"/console/link/{token}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console-queue.png")
    args = parser.parse_args()
    binary = find_chromium()
    if binary is None:
        raise SystemExit("Chromium is not installed: `make chromium` installs it")
    with tempfile.TemporaryDirectory(prefix="sportello-screenshot-") as directory:
        database_url = f"sqlite:///{directory}/demo.db"
        key = Fernet.generate_key().decode()
        sealing.configure([key])
        migrations.upgrade(database_url)
        settings = Settings(
            database_url=database_url,
            admin_token=ADMIN,
            secret_keys=[key],
            worker=False,
            outbox_dir=f"{directory}/outbox",
            company_name="Agenzia Web",
        )
        server = Server(settings)
        browser = Chromium(binary)
        try:
            with httpx.Client(
                base_url=server.base_url, headers={"Authorization": f"Bearer {ADMIN}"}
            ) as api:
                link = seed(api, database_url)
            with browser.new_page() as page:
                page.set_viewport(1280, 800)
                page.goto(server.base_url + link)
                page.click("#enter")
                page.wait_for(
                    "location.pathname === '/console/' && document.readyState === 'complete'"
                )
                page.wait_for(
                    f"document.querySelectorAll('#queue tbody tr').length === {len(TICKETS)}"
                )
                png = page.screenshot(args.out)
        finally:
            browser.close()
            server.stop()
    print(f"{args.out}: {len(png) // 1024} KB")


if __name__ == "__main__":
    main()
