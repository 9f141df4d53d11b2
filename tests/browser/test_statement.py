"""The printable SLA statement in a real headless Chromium: printed to PDF, a page per
contract, in the customer's language, with its chart."""

import base64
import re
from pathlib import Path

import pytest

from tests.browser.chromium import Page
from tests.conftest import Api
from tests.routers.test_reports import october  # noqa: F401

pytestmark = pytest.mark.browser


def test_the_statement_prints_a_page_per_contract_with_its_chart_and_breaches(
    api: Api,
    october,  # noqa: F811
    page: Page,
    tmp_path: Path,
) -> None:
    response = api.viewer.get("/api/v1/reports/sla", params={"month": "2026-10", "format": "html"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    statement = tmp_path / "statement.html"
    statement.write_text(response.text, encoding="utf-8")
    page.goto(statement.as_uri())
    page.wait_for("document.readyState === 'complete'")

    sections = page.js("document.querySelectorAll('section.contract').length")
    assert sections == 2  # R-2026, and the requests without a contract
    first = page.js("document.querySelector('section.contract').innerText")
    assert "Rendiconto SLA · ottobre 2026" in first
    assert "Rossi · contratto R-2026" in first
    assert "66,67 %" in first and "(4/6)" in first
    assert (
        page.js(
            "document.querySelectorAll('section.contract')[0].querySelectorAll('svg rect').length"
        )
        == 6
    )
    breaches = page.js(
        "[...document.querySelectorAll('section.contract')[0].querySelectorAll('table')[1].rows]"
        ".slice(1).map(r => r.cells[0].innerText + ' ' + r.cells[4].innerText)"
    )
    # B, taken in charge 30 business minutes late; E, still not taken at the real report time.
    assert len(breaches) == 2 and breaches[0].split(" ", 1)[1] == "30 / 1290 min"
    assert page.js("document.scripts.length") == 0

    shot = page.call("Page.captureScreenshot", format="png")["data"]
    (tmp_path / "statement.png").write_bytes(base64.b64decode(shot))
    assert (tmp_path / "statement.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = base64.b64decode(page.call("Page.printToPDF", printBackground=True)["data"])
    (tmp_path / "statement.pdf").write_bytes(pdf)
    assert pdf[:5] == b"%PDF-"
    # One page per contract: each section starts a new page and fits on one.
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 2
