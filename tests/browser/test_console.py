"""The staff console in a real headless Chromium: signing in with the form, the queue with a new
urgent request on top, and a customer's hostile subject shown as text."""

import base64
import json
import re
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.deps import get_now
from tests.browser.chromium import Page
from tests.conftest import Api, LiveServer
from tests.console.test_console import PASSWORD, add_member
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401

pytestmark = pytest.mark.browser
HOSTILE = "<img src=x onerror=alert(1)>"
NOW = datetime(2026, 11, 23, 16, 40, tzinfo=UTC)  # Monday 17:40 in Rome


def sign_in(page: Page, base_url: str, email: str) -> None:
    """Sign in as a person does: type into the form, click the button."""
    page.goto(base_url + "/console/")  # redirected to the form
    page.wait_for("document.querySelector('#email') !== null")
    assert page.js("location.pathname") == "/console/sign-in"
    page.type_into("#email", email)
    page.type_into("#password", PASSWORD)
    page.click("#submit")
    page.wait_for("location.pathname === '/console/' && document.readyState === 'complete'")


def screenshot(page: Page, path: Path) -> bytes:
    shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
    png = base64.b64decode(shot)
    path.write_bytes(png)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24])[0] > 300
    return png


def test_an_agent_signs_in_and_sees_a_new_urgent_request_on_top(
    api: Api,
    rossi,  # noqa: F811
    db: str,
    sportello: LiveServer,
    page: Page,
    tmp_path: Path,
) -> None:
    sportello.app.dependency_overrides[get_now] = lambda: NOW
    calm = new_ticket(api, subject="Sito lento", received_at="2026-11-23T15:00:00+01:00")
    add_member(db, "marco@agency.example")
    page.record_policy_violations()
    sign_in(page, sportello.base_url, "marco@agency.example")
    assert page.js("document.querySelector('#queue tbody tr td a').innerText") == calm["number"]

    urgent = new_ticket(
        api, subject="URGENTE: il sito non risponde", received_at="2026-11-23T17:30:00+01:00"
    )
    page.goto(sportello.base_url + "/console/")
    page.wait_for("document.querySelectorAll('#queue tbody tr').length === 2")
    first = page.js("document.querySelector('#queue tbody tr').innerText")
    assert first.startswith(urgent["number"]) and "URGENTE" in first
    assert "il sito non risponde" in first and "Rossi" in first and "email" in first
    assert re.search(r"\d+ (h|min)( \d+ min)? lavorative", first), first
    assert page.js("getComputedStyle(document.querySelector('.sla')).color") == "rgb(255, 255, 255)"
    assert page.violations() == []  # the strict CSP refuses nothing the page needs
    # One script, the console's own file (its keys, the queue's refresh); nothing inline.
    scripts = page.js("[...document.scripts].map(s => new URL(s.src).pathname + s.text)")
    assert len(scripts) == 1 and re.fullmatch(r"/pages/console\.[0-9a-f]{16}\.js", scripts[0])
    text = page.js("document.body.innerText")
    for key in ("Connesso come Marco", "Coda", "Urgenti", "Consenso in attesa", calm["number"]):
        assert key in text
    screenshot(page, tmp_path / "queue.png")

    page.click("#queue tbody tr a")
    page.wait_for(f"location.pathname === '/console/tickets/{urgent['number']}'")
    page.wait_for("document.querySelector('#explained') !== null")
    assert "-> " in page.js("document.querySelector('#explained').innerText")
    screenshot(page, tmp_path / "ticket.png")

    page.click("#sign-out")
    page.wait_for("location.pathname === '/console/sign-in'")
    page.goto(sportello.base_url + "/console/")
    assert page.js("location.pathname") == "/console/sign-in"  # the session is gone


def test_a_hostile_subject_is_text_and_runs_nothing(
    api: Api,
    db: str,
    sportello: LiveServer,
    page: Page,
) -> None:
    ticket = new_ticket(api, subject=HOSTILE, from_email="eve@example.net")
    add_member(db, "marco@agency.example")
    page.call(
        "Page.addScriptToEvaluateOnNewDocument",
        source="window.__alerts = []; window.alert = m => window.__alerts.push(String(m));",
    )
    page.record_policy_violations()
    sign_in(page, sportello.base_url, "marco@agency.example")
    assert page.js("document.querySelector('#queue .subject').innerText") == HOSTILE
    assert page.js("document.querySelectorAll('main img').length") == 0
    page.goto(f"{sportello.base_url}/console/tickets/{ticket['number']}")
    page.wait_for("document.querySelector('#subject') !== null")
    assert page.js("document.querySelector('#subject').innerText") == HOSTILE
    assert page.js("document.querySelectorAll('main img').length") == 0
    assert page.js("window.__alerts") == []
    assert page.violations() == [], json.dumps(page.violations())
