"""The console's pages around the desk in a real headless Chromium: an admin records a customer
whose name is hostile markup through the form, and every section of the bar opens under the
console's strict policy with the name shown as text and nothing wider than a phone."""

import pytest

from app.enums import Role
from tests.browser.chromium import Page
from tests.browser.test_console import sign_in
from tests.conftest import LiveServer
from tests.console.test_console import add_member

pytestmark = pytest.mark.browser
HOSTILE = "<img src=x onerror=alert(1)> Rossi & Figli"


def test_an_admin_records_a_hostile_customer_and_walks_every_section(
    db: str, sportello: LiveServer, page: Page
) -> None:
    add_member(db, "ada@agency.example", role=Role.ADMIN)
    page.record_policy_violations()
    sign_in(page, sportello.base_url, "ada@agency.example")
    page.click("nav.sections a[href='/console/customers']")
    page.wait_for("location.pathname === '/console/customers' && !!document.querySelector('#name')")
    page.type_into("#name", HOSTILE)
    page.type_into("#domains", "rossi.it")
    page.click("form.desk button[type=submit]")
    page.wait_for("/^\\/console\\/customers\\/[0-9]+$/.test(location.pathname)")
    page.wait_for("document.querySelector('#customer-name') !== null")
    assert page.js("document.querySelector('#customer-name').innerText") == HOSTILE
    assert page.js("document.querySelectorAll('main img').length") == 0

    sections = page.js("[...document.querySelectorAll('nav.sections a')].map(a => a.pathname)")
    assert sections == [
        "/console/",
        "/console/customers",
        "/console/contracts",
        "/console/statement",
        "/console/billing",
        "/console/outbox",
        "/console/quarantine",
        "/console/mailboxes",
        "/console/staff",
    ]
    page.set_viewport(390, 844, mobile=True)
    for path in sections[1:]:
        page.goto(sportello.base_url + path)
        page.wait_for("document.readyState === 'complete'")
        assert page.js("location.pathname") == path
        # No inline script: only the console's own file.
        scripts = "[...document.scripts].map(s => s.src ? new URL(s.src).pathname : 'inline')"
        assert all(src.startswith("/pages/console.") for src in page.js(scripts)), path
        # The section's own style applies (the policy allows it by hash).
        bar = "getComputedStyle(document.querySelector('nav.sections')).display"
        assert page.js(bar) == "flex", path
        overflow = "document.documentElement.scrollWidth <= window.innerWidth + 1"
        assert page.js(overflow), path
    page.goto(sportello.base_url + "/console/contracts")
    page.wait_for("document.querySelector('#customer_id') !== null")
    assert HOSTILE in page.js("document.querySelector('#customer_id').innerText")
    assert page.violations() == []
