"""/docs works offline: Swagger UI's assets come from the app itself (a package), not a CDN,
and Chromium renders the operations from /openapi.json."""

import base64
from pathlib import Path

import httpx
import pytest

from tests.browser.chromium import Page
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


def test_the_docs_pages_name_only_local_assets(api):
    for path in ("/docs", "/redoc"):
        html = api.anonymous.get(path).text
        assert "cdn." not in html and "googleapis" not in html
        assert "/static/docs/" in html
    assert api.anonymous.get("/static/docs/swagger-ui-bundle.js").status_code == 200
    assert api.anonymous.get("/static/docs/redoc.standalone.js").status_code == 200


def test_swagger_ui_renders_the_api_in_a_browser(
    sportello: LiveServer,
    page: Page,
    tmp_path: Path,
) -> None:
    page.record_policy_violations()
    page.goto(sportello.base_url + "/docs")
    page.wait_for("document.querySelectorAll('.opblock').length > 10")
    assert page.violations() == []  # its own Content-Security-Policy lets it work
    assert "Sportello" in page.js("document.querySelector('.title').innerText")
    operations = page.js(
        "[...document.querySelectorAll('.opblock-summary-path')].map(e => e.innerText)"
    )
    assert any("/api/v1/tickets" in op for op in operations)
    shot = page.call("Page.captureScreenshot", format="png")["data"]
    (tmp_path / "docs.png").write_bytes(base64.b64decode(shot))
    assert httpx.get(sportello.base_url + "/openapi.json").status_code == 200


def test_redoc_renders_the_api_under_its_policy(sportello: LiveServer, page: Page) -> None:
    page.record_policy_violations()
    page.goto(sportello.base_url + "/redoc")
    page.wait_for("document.querySelectorAll('[data-section-id^=\\'operation/\\']').length > 10")
    # Only ReDoc's "powered by" logo, which it would fetch from its CDN, is refused: by design,
    # nothing of these pages comes from elsewhere.
    refused = [v for v in page.violations() if not v.startswith("img-src https://cdn.redoc.ly/")]
    assert refused == []
