"""A real headless Chromium submits examples/contact-form.html and the ticket appears.

Chromium is Debian's `chromium`, installed by `make chromium` when missing; the test is
skipped, with the reason printed, only where it cannot be installed (tests/browser/conftest.py).
"""

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from app.models.message import Attachment, Message
from tests.browser.chromium import ROOT, Page
from tests.conftest import Api, LiveServer

pytestmark = pytest.mark.browser

FORM = ROOT / "examples" / "contact-form.html"
EXAMPLE_ACTION = "https://sportello.example.com/api/v1/contact"


@pytest.fixture
def website(sportello: LiveServer) -> Iterator[str]:
    """A customer's website on another loopback origin, serving the example form as is,
    except for the action's host, which points at the test server."""
    html = FORM.read_text(encoding="utf-8")
    assert EXAMPLE_ACTION in html, "the example form's default action changed"
    body = html.replace(EXAMPLE_ACTION, f"{sportello.base_url}/api/v1/contact").encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/contatti.html":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/contatti.html"
    server.shutdown()
    server.server_close()


def fill_in(page: Page, *, subject: str, email: str, message: str) -> None:
    page.type_into("#sportello-name", "Maria Rossi")
    page.type_into("#sportello-email", email)
    page.type_into("#sportello-subject", subject)
    page.type_into("#sportello-message", message)


def submit_and_read_thanks(page: Page, sportello: LiveServer) -> str:
    """Click "Invia", follow the 303 to the built-in confirmation page and return its text."""
    page.click("button[type=submit]")
    thanks = f"{sportello.base_url}/api/v1/contact/thanks"
    page.wait_for(
        f"location.href.startsWith({json.dumps(thanks)}) && document.readyState === 'complete'"
        " && document.body.innerText.includes('Grazie')"
    )
    text: str = page.js("document.body.innerText")
    assert "Thank you" in text, text
    return text


def new_tickets(api: Api) -> list[dict[str, Any]]:
    response = api.admin.get("/api/v1/tickets", params={"status": "new"})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_browser_submits_the_example_form_and_the_ticket_appears(
    api: Api, sportello: LiveServer, page: Page, website: str, session: Session, tmp_path: Path
) -> None:
    page.goto(website)
    assert page.js("document.title") == "Richiesta di assistenza"

    # The honeypot is there, empty, out of sight, out of the tab order and of assistive tech.
    honeypot = page.js(
        "(() => { const e = document.querySelector('input[name=website]');"
        " const r = e.getBoundingClientRect();"
        " return {value: e.value, tabIndex: e.tabIndex, autocomplete: e.autocomplete,"
        " offscreen: r.right <= 0 || r.bottom <= 0 || r.width <= 1,"
        " ariaHidden: e.closest('[aria-hidden=true]') !== null}; })()"
    )
    assert honeypot == {
        "value": "",
        "tabIndex": -1,
        "autocomplete": "off",
        "offscreen": True,
        "ariaHidden": True,
    }

    marker = uuid.uuid4().hex[:8]
    subject = f"Il sito non si apre più ({marker})"
    email = f"maria.rossi.{marker}@example.org"
    message = "Da stamattina la home page dà errore 500.\nGrazie."
    fill_in(page, subject=subject, email=email, message=message)
    attachment = tmp_path / "errore.txt"
    attachment.write_bytes(b"HTTP 500 Internal Server Error\n")
    page.set_files("#sportello-attachments", [attachment])
    assert page.js("document.querySelector('form').checkValidity()") is True
    assert page.js("document.querySelector('input[name=website]').value") == ""

    text = submit_and_read_thanks(page, sportello)

    mine = [t for t in new_tickets(api) if t["subject"] == subject]
    assert len(mine) == 1, new_tickets(api)
    ticket = mine[0]
    assert ticket["channel"] == "web_form"
    assert ticket["from_email"] == email
    assert ticket["number"] in text  # the confirmation page shows the ticket's number

    # What the browser typed and attached arrived intact (UTF-8, the file's bytes).
    stored = session.exec(
        select(Message).where(Message.ticket_id == ticket["id"], Message.direction == "inbound")
    ).one()
    assert stored.text.replace("\r\n", "\n").strip() == message
    files = session.exec(select(Attachment).where(Attachment.message_id == stored.id)).all()
    assert [(f.filename, f.size) for f in files] == [("errore.txt", attachment.stat().st_size)]


def test_a_bot_filling_the_honeypot_sees_the_thanks_page_but_no_ticket_is_made(
    api: Api, sportello: LiveServer, page: Page, website: str
) -> None:
    page.goto(website)
    subject = f"Offerta imperdibile {uuid.uuid4().hex[:8]}"
    fill_in(page, subject=subject, email="bot@example.net", message="Compra ora!")
    # A bot fills every field it finds, hidden or not.
    page.js("document.querySelector('input[name=website]').value = 'https://spam.example'")

    submit_and_read_thanks(page, sportello)

    assert [t for t in new_tickets(api) if t["subject"] == subject] == []
