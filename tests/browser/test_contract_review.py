"""The printable year of a contract in a real headless Chromium, served under its strict
Content-Security-Policy: in the customer's language, its chart drawn, one A4 page."""

import base64
import re
import struct
from pathlib import Path

import pytest

from tests.browser.chromium import Page
from tests.conftest import Api, LiveServer
from tests.services.reports.test_review import _generate_year

pytestmark = pytest.mark.browser


def test_the_review_prints_on_one_page_with_its_chart(
    api: Api,
    db: str,
    sportello: LiveServer,
    page: Page,
    tmp_path: Path,
) -> None:
    contract_id = _generate_year(db, seed=30)["contract_id"]  # 2025, with the clock passed in
    url = f"/api/v1/contracts/{contract_id}/review"
    review = api.viewer.get(url).json()
    page.call("Network.enable")
    page.call(
        "Network.setExtraHTTPHeaders",
        headers={"Authorization": api.viewer.headers["Authorization"]},
    )
    page.record_policy_violations()
    page.goto(f"{sportello.base_url}{url}?format=html")
    page.wait_for("document.readyState === 'complete'")
    # The policy refuses nothing the page needs: its own style applies, to the chart too.
    assert page.violations() == []
    assert page.js("getComputedStyle(document.querySelector('main')).maxWidth") == "768px"
    assert page.js("getComputedStyle(document.querySelector('rect.within')).fill") == (
        "rgb(47, 111, 176)"
    )
    assert page.js("document.scripts.length") == 0

    text = page.js("document.querySelector('main').innerText")
    assert "L'anno del contratto · Rossi" in text
    assert "dal 1 gennaio 2025 al 31 dicembre 2025" in text
    assert page.js("document.querySelectorAll('table.months tr').length") == 14  # head, 12, year
    bars = page.js(
        "[...document.querySelectorAll('svg.chart text')].map(t => t.textContent.trim())"
    )
    # A count and a label per month, January first.
    assert " ".join(bars[1::2]) == "gen feb mar apr mag giu lug ago set ott nov dic"
    assert bars[0::2] == [str(month["received"]) for month in review["months"]]
    assert page.js("document.querySelectorAll('svg.chart rect.late').length") > 0
    assert page.js("document.querySelector('svg.chart').getBoundingClientRect().height") > 100

    shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
    png = base64.b64decode(shot)
    (tmp_path / "review.png").write_bytes(png)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    width, height = struct.unpack(">II", png[16:24])  # IHDR: the whole page, taller than wide
    assert width >= 700 and height > width
    pdf = base64.b64decode(page.call("Page.printToPDF", printBackground=True)["data"])
    (tmp_path / "review.pdf").write_bytes(pdf)
    assert pdf[:5] == b"%PDF-"
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1  # one page, to send with a proposal
