"""An HTML or SVG file a customer sent, opened in a real headless Chromium: it is a download,
never a document of our origin, so no script in it runs."""

import time
import uuid
from email.message import EmailMessage

import httpx
import pytest

from tests.browser.chromium import Page
from tests.conftest import INBOUND_PASSWORD, INBOUND_USER, Api, LiveServer
from tests.routers.test_status_page import status_url
from tests.routers.test_tickets import rossi  # noqa: F401

pytestmark = pytest.mark.browser

HTML = b"<html><head><title>x</title></head><body><script>document.title='pwned';"
HTML += b"localStorage.setItem('pwned','1')</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="document.title=\'pwned\'">'
SVG += b"<script>document.title='pwned'</script></svg>"


def sent_with_files(server: LiveServer) -> int:
    message = EmailMessage()
    message["From"] = "Mario Rossi <mario@rossi.it>"
    message["To"] = "assistenza@agency.example"
    message["Subject"] = "Pagina strana"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@rossi.it>"
    message.set_content("Allego la pagina.")
    message.add_attachment(HTML, maintype="text", subtype="html", filename="pagina.html")
    message.add_attachment(SVG, maintype="image", subtype="svg+xml", filename="logo.svg")
    response = httpx.post(
        server.base_url + "/api/v1/inbound/email/mime",
        content=message.as_bytes(),
        auth=(INBOUND_USER, INBOUND_PASSWORD),
        headers={"Content-Type": "message/rfc822"},
    )
    assert response.status_code == 200, response.text
    ticket_id: int = response.json()["ticket_id"]
    return ticket_id


def test_an_html_or_svg_attachment_never_runs_script(
    api: Api,
    rossi,  # noqa: F811
    db: str,
    sportello: LiveServer,
    page: Page,
) -> None:
    ticket_id = sent_with_files(sportello)
    api.agent.post(f"/api/v1/tickets/{ticket_id}/take-charge", json={})  # a letter: the link
    messages = api.viewer.get(f"/api/v1/tickets/{ticket_id}/messages").json()["items"]
    files = messages[0]["attachments"]
    assert [f["filename"] for f in files] == ["pagina.html", "logo.svg"]
    status = sportello.base_url + status_url(db, ticket_id)
    page.goto(status)
    title = page.js("document.title")
    for attached in files:
        page.call("Page.navigate", url=f"{status}/files/{attached['id']}")
        time.sleep(0.5)  # time for a document, were one rendered, to run its script
        assert page.js("document.title") in (title, "")
        assert page.js("document.title") != "pwned"
        assert page.js("localStorage.getItem('pwned')") is None
