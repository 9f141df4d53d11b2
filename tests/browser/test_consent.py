"""Consent to billable work in a real headless Chromium (P4): the status page's one button is a
plain form, no script; it records the answer once and the page says so."""

import base64
import json
import struct
from pathlib import Path

import pytest

from tests.browser.chromium import Page
from tests.conftest import Api, LiveServer
from tests.routers.test_consent import asked
from tests.routers.test_status_page import status_url

pytestmark = pytest.mark.browser


def screenshot(page: Page, path: Path) -> tuple[int, int]:
    """A PNG of the tab, written to `path`; its width and height."""
    data = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
    path.write_bytes(data)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_customer_agrees_with_the_button_once(
    api: Api, db: str, sportello: LiveServer, page: Page, tmp_path: Path
) -> None:
    ticket = asked(api)  # R2: no contract, billable
    url = sportello.base_url + status_url(db, ticket["id"])
    page.record_policy_violations()
    page.goto(url)
    page.wait_for("document.readyState === 'complete'")
    assert page.violations() == []
    assert page.js("document.scripts.length") == 0
    assert page.js("document.querySelector('#agree').innerText") == (
        "Confermo l'intervento alle tariffe indicate"
    )
    assert "60,00" in page.js("document.querySelector('#rates').innerText")
    width, height = screenshot(page, tmp_path / "consent-asked.png")
    assert width > 300 and height > 300
    # What a second tab still open on the page would post.
    stale_form = page.js("document.querySelector('#consent form').outerHTML")

    page.click("#agree")
    page.wait_for("document.querySelector('#consent-state') !== null")
    assert page.js("location.href") == url + "?lang=it"  # 303 back to the page
    assert page.js("document.querySelector('#consent-state').innerText").startswith(
        "Conferma già data: "
    )
    assert page.js("document.querySelector('#consent form')") is None
    assert screenshot(page, tmp_path / "consent-given.png") == (width, height)
    # The button gave way to the answer: the page looks different.
    assert (tmp_path / "consent-given.png").read_bytes() != (
        tmp_path / "consent-asked.png"
    ).read_bytes()
    given = api.viewer.get(f"/api/v1/tickets/{ticket['id']}/consent").json()
    assert given["state"] == "given" and given["via"] == "status_page"

    # A second click, from the stale tab: nothing changes, the page says it is given already.
    again = json.dumps(stale_form.replace('id="agree"', 'id="again"'))
    page.js(f"document.body.insertAdjacentHTML('beforeend', {again})")
    page.click("#again")
    page.wait_for("document.querySelector('#again') === null")
    page.wait_for("document.querySelector('#consent-state') !== null")
    assert api.viewer.get(f"/api/v1/tickets/{ticket['id']}/consent").json() == given
