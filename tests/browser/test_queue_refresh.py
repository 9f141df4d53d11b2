"""The console's queue refreshes its rows in place every minute (app/static/console.js):
no page reload, its filter kept, and never under the hands of someone typing in a field."""

import time

import pytest

from tests.browser.chromium import Page
from tests.browser.test_console import sign_in
from tests.browser.test_console_day import press
from tests.conftest import Api, LiveServer
from tests.console.test_console import add_member
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401

pytestmark = pytest.mark.browser
# The page's minute, made a fifth of a second: the test does not wait minutes.
FAST_MINUTE = (
    "const every = window.setInterval;"
    " window.setInterval = (f, ms) => every(f, ms === 60000 ? 200 : ms);"
)
ROWS = "document.querySelectorAll('#queue tbody tr').length"


def test_the_queue_refreshes_its_rows_in_place_with_its_filter(
    api: Api,
    rossi,  # noqa: F811
    db: str,
    sportello: LiveServer,
    page: Page,
) -> None:
    new_ticket(api, subject="URGENTE: sito giù")
    add_member(db, "marco@agency.example")
    page.call("Page.addScriptToEvaluateOnNewDocument", source=FAST_MINUTE)
    page.record_policy_violations()
    sign_in(page, sportello.base_url, "marco@agency.example")
    page.goto(sportello.base_url + "/console/?view=urgent")
    page.wait_for(f"{ROWS} === 1")
    page.js("window.loadedOnce = true")  # gone if the page were loaded again

    new_ticket(api, subject="Sito lento")  # not urgent: not in this view
    new_ticket(api, subject="URGENTE: posta ferma")
    page.wait_for(f"{ROWS} === 2")
    assert "posta ferma" in page.js("document.querySelector('#queue').innerText")
    assert "Sito lento" not in page.js("document.querySelector('#queue').innerText")
    assert page.js("window.loadedOnce") is True
    assert page.js("location.search") == "?view=urgent"

    page.js("document.querySelector('#q').focus()")  # someone typing a search: left alone
    new_ticket(api, subject="URGENTE: certificato scaduto")
    time.sleep(1)
    assert page.js(ROWS) == 2
    page.js("document.activeElement.blur()")
    page.wait_for(f"{ROWS} === 3")
    assert page.js("window.loadedOnce") is True

    # The row marked with the keys stays marked when a newer request comes in above it.
    press(page, "j")
    marked = page.js("document.querySelector('#queue tr.marked a').innerText")
    new_ticket(api, subject="URGENTE: DNS", received_at="2026-11-23T15:00:00+01:00")
    page.wait_for(f"{ROWS} === 4")
    assert "DNS" in page.js("document.querySelector('#queue tbody tr').innerText")  # on top
    assert page.js("document.querySelector('#queue tr.marked a').innerText") == marked
    assert page.js("document.querySelectorAll('#queue tr.marked').length") == 1
    assert page.violations() == []  # the script and its fetch are ours: nothing refused
