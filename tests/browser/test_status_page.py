"""The customer's status page in a real headless Chromium: what the customer sees."""

import base64
from pathlib import Path

import pytest

from tests.browser.chromium import Page
from tests.conftest import Api, LiveServer
from tests.routers.test_status_page import INTERNAL, status_url
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401

pytestmark = pytest.mark.browser


def test_the_customer_sees_status_deadline_why_and_history_and_no_internals(
    api: Api,
    rossi,  # noqa: F811
    db: str,
    sportello: LiveServer,
    page: Page,
    tmp_path: Path,
) -> None:
    ticket = new_ticket(api, received_at="2026-11-27T17:30:00+01:00")
    api.agent.post(f"/api/v1/tickets/{ticket['id']}/take-charge", json={"note": INTERNAL[0]})
    page.record_policy_violations()
    page.goto(sportello.base_url + status_url(db, ticket["id"]))
    page.wait_for("document.readyState === 'complete'")
    # Its strict Content-Security-Policy refuses nothing the page needs: its style applies.
    assert page.violations() == []
    assert page.js("getComputedStyle(document.querySelector('main')).maxWidth") == "736px"

    assert page.js("document.title") == f"Richiesta {ticket['number']} · MB Services & Consulting"
    assert page.js("document.querySelector('#status').innerText") == "presa in carico"
    assert page.js("document.querySelector('#due').innerText") == "martedì 1 dicembre 2026, 15:30"
    assert page.js("document.querySelector('#explained').innerText") == (
        "ricevuta ven 27/11 17:30; 30 min ven 27; sab-dom chiuso; 3 h lun 30; 30 min mar 1 "
        "-> mar 01/12 15:30"
    )
    history = page.js("document.querySelector('#history').innerText")
    assert history.startswith("Ricevuta: venerdì 27 novembre 2026, 17:30")
    html = page.js("document.documentElement.outerHTML")
    assert all(word not in html for word in INTERNAL)
    assert page.js("document.scripts.length") == 0  # no JavaScript needed
    shot = page.call("Page.captureScreenshot", format="png")["data"]
    (tmp_path / "status.png").write_bytes(base64.b64decode(shot))
    assert (tmp_path / "status.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    page.goto(sportello.base_url + "/status/not-a-real-token")
    page.wait_for("document.readyState === 'complete'")
    assert page.js("document.title") == "Pagina non trovata · MB Services & Consulting"
