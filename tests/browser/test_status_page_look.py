"""The status page as the customer sees it on a phone and on a desktop: the agency's look, the
deadline drawn as a strip, nothing overflowing even with a hostile subject, nothing refused by
the page's Content-Security-Policy."""

import json
import struct
from pathlib import Path

import pytest

from tests.browser.chromium import Page
from tests.conftest import Api, LiveServer
from tests.routers.test_consent import asked
from tests.routers.test_pages import png
from tests.routers.test_status_page import status_url
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401

pytestmark = pytest.mark.browser

# One unbroken 300-character word, with markup in it: it must wrap, and stay text.
HOSTILE = "<img src=x onerror=alert(1)>" + "W" * 272
PHONE, DESKTOP = (390, 844, True), (1280, 900, False)


@pytest.mark.parametrize("screen", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_status_page_fits_the_screen_and_draws_its_deadline(
    api: Api,
    rossi,  # noqa: F811
    db: str,
    serve,
    page: Page,
    tmp_path: Path,
    screen: tuple[int, int, bool],
) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(png(160, 40, (29, 95, 168)))
    server: LiveServer = serve(company_name="Studio <Rossi> & Bianchi", logo_file=str(logo))
    # Thu 30 April 17:30 (the clock passed in): 1 May and a weekend on the way (R8, R9).
    ticket = new_ticket(api, received_at="2026-04-30T17:30:00+02:00", subject=HOSTILE)
    api.agent.post(f"/api/v1/tickets/{ticket['id']}/take-charge", json={})
    width, height, mobile = screen
    page.set_viewport(width, height, mobile=mobile)
    page.record_policy_violations()
    page.goto(server.base_url + status_url(db, ticket["id"]))
    page.wait_for("document.readyState === 'complete'")

    assert page.violations() == []  # the stylesheet and the logo are ours: nothing refused
    assert page.js("document.styleSheets[0].href").startswith(server.base_url + "/pages/")
    assert page.js("getComputedStyle(document.body).backgroundColor") == "rgb(244, 246, 248)"
    assert page.js("document.querySelector('.masthead img').naturalWidth") == 160
    assert page.js("document.querySelector('.masthead img').alt") == "Studio <Rossi> & Bianchi"
    assert page.js("document.title") == f"Richiesta {ticket['number']} · Studio <Rossi> & Bianchi"
    # The hostile subject is text, whole, and wraps: nothing is wider than the screen.
    assert page.js("document.querySelector('#subject').innerText") == HOSTILE
    assert page.js("document.querySelectorAll('main img').length") == 0
    assert page.js("window.innerWidth") == width
    assert page.js("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.js("document.querySelector('#subject').getBoundingClientRect().right") <= width

    # The strip: the open hours shaded, the holiday named, the whole said in words.
    strip = "document.querySelector('#deadline-strip')"
    assert page.js(f"{strip}.getAttribute('role')") == "img"
    assert page.js(f"{strip}.querySelector('title').textContent") == (
        "Tempo lavorativo dalla ricezione alla presa in carico: ricevuta gio 30/04 17:30; "
        "30 min gio 30; 01/05 Festa del Lavoro; sab-dom chiuso; 3 h lun 4; 30 min mar 5 "
        "-> mar 05/05 15:30"
    )
    shaded = page.js(
        f"[...{strip}.querySelectorAll('rect.strip-open')]"
        ".map(r => [r.querySelector('title').textContent, r.getBBox().width])"
    )
    assert [title for title, _ in shaded] == [
        "aperto gio 30/04 17:30-18:00",
        "aperto lun 04/05 15:00-18:00",
        "aperto mar 05/05 15:00-15:30",
    ]
    assert page.js(f"{strip}.querySelectorAll('rect.strip-holiday').length") == 1
    names = page.js(f"[...{strip}.querySelectorAll('text.strip-name')].map(t => t.textContent)")
    assert names == ["Festa del Lavoro"]
    # Drawn to scale: 4 business hours shaded in a window of 118 hours (30 min, 3 h, 30 min).
    drawn = page.js(f"{strip}.getBoundingClientRect().width")
    widths = [width for _, width in shaded]
    assert sum(widths) / drawn == pytest.approx(4 / 118, rel=0.02)
    assert widths[1] / widths[0] == pytest.approx(6, rel=0.02)
    assert page.js(f"getComputedStyle({strip}.querySelector('rect.strip-open')).fill") == (
        "rgb(47, 128, 209)"
    )
    assert page.js(f"{strip}.getBoundingClientRect().right") <= width

    shot = page.screenshot(tmp_path / f"status-{width}.png")
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    shot_width, shot_height = struct.unpack(">II", shot[16:24])
    # The screen's width (less a desktop's scroll bar), the whole page's height.
    assert width - 20 <= shot_width <= width and shot_height >= 600
    assert len(shot) > 20_000  # not blank: a blank page compresses to a few kilobytes


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/api/v1/contact/thanks?n=" + "9" * 32, "Richiesta ricevuta"),
        ("/status/" + "x" * 64, "Pagina non trovata"),
    ],
    ids=["thanks", "not found"],
)
def test_the_contact_form_and_link_pages_wear_the_same_look_on_a_phone(
    sportello: LiveServer, page: Page, tmp_path: Path, path: str, title: str
) -> None:
    page.set_viewport(*PHONE[:2], mobile=True)
    page.record_policy_violations()
    page.goto(sportello.base_url + path)
    page.wait_for("document.readyState === 'complete'")

    assert page.violations() == []
    assert page.js("document.title") == f"{title} · MB Services & Consulting"
    assert page.js("document.querySelector('.masthead .agency').innerText") == (
        "MB Services & Consulting"
    )
    assert page.js("getComputedStyle(document.querySelector('.card')).borderRadius") == "8px"
    assert page.js("document.documentElement.scrollWidth <= window.innerWidth")
    assert len(page.screenshot(tmp_path / "page.png")) > 5_000


def test_the_consent_question_and_a_refused_answer_fit_a_phone(
    api: Api, db: str, sportello: LiveServer, page: Page, tmp_path: Path
) -> None:
    ticket = asked(api)  # R2: no contract, billable: the page asks for consent (P4)
    url = sportello.base_url + status_url(db, ticket["id"])
    page.set_viewport(*PHONE[:2], mobile=True)
    page.record_policy_violations()
    page.goto(url)
    page.wait_for("document.readyState === 'complete'")

    assert page.violations() == []
    assert page.js("document.documentElement.scrollWidth <= window.innerWidth")
    for button in ("#agree", "#decline"):
        assert page.js(f"document.querySelector('{button}').getBoundingClientRect().right") <= 390
    assert len(page.screenshot(tmp_path / "consent-phone.png")) > 10_000

    # An answer posted without the page's form token: refused, on a page of the same look.
    forged = f'<form id="forged" method="post" action="{url}/consent"><button>x</button></form>'
    page.js(f"document.body.insertAdjacentHTML('beforeend', {json.dumps(forged)})")
    page.js("document.querySelector('#forged').submit()")
    page.wait_for("document.title.startsWith('Conferma non registrata')")
    page.wait_for("document.readyState === 'complete'")
    assert page.js("getComputedStyle(document.querySelector('.card')).borderRadius") == "8px"
    assert page.js("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.violations() == []
