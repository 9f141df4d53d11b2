"""Every HTML page we serve tells the browser: no script (the pages have none), only our own
style, never in a frame, no referrer (a status page's URL is its customer's key), no
type sniffing. The API docs, which need their packaged script, have a policy of their own."""

import re

import httpx

from app.rendering import csp_hash
from tests.conftest import Api
from tests.routers.test_status_page import status_url
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401

STYLESHEET_LINK = r'<link rel="stylesheet" href="/pages/sportello\.[0-9a-f]{16}\.css">'
FRAMING = {"x-frame-options": "DENY", "referrer-policy": "no-referrer"}


def _directives(response: httpx.Response) -> dict[str, set[str]]:
    policy = response.headers["content-security-policy"]
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {name: set(sources) for name, *sources in parts}


def _strict(response: httpx.Response) -> dict[str, set[str]]:
    """Checks the headers every page must carry; returns its policy's directives."""
    assert response.headers["content-type"].startswith("text/html")
    assert {name: response.headers.get(name) for name in FRAMING} == FRAMING
    assert response.headers["x-content-type-options"] == "nosniff"
    assert len(response.headers.get_list("content-security-policy")) == 1
    assert len(response.headers.get_list("referrer-policy")) == 1
    directives = _directives(response)
    assert directives["frame-ancestors"] == {"'none'"}
    assert directives["base-uri"] == {"'none'"}
    return directives


def test_every_page_has_a_strict_policy_and_no_script(api: Api, rossi, db):  # noqa: F811
    ticket = new_ticket(api)
    api.agent.post(f"/api/v1/tickets/{ticket['id']}/take-charge", json={})  # its email: a link
    bad_form = api.anonymous.post(
        "/api/v1/contact", data={"name": "Mario"}, headers={"Accept": "text/html"}
    )
    assert bad_form.status_code == 422
    pages = {
        "status": api.anonymous.get(status_url(db, ticket["id"])),
        "unknown status link": api.anonymous.get("/status/nothing-here"),
        "thank-you": api.anonymous.get("/api/v1/contact/thanks", params={"n": ticket["number"]}),
        "form error": bad_form,
        "printable report": api.viewer.get(
            "/api/v1/reports/sla", params={"month": "2026-11", "format": "html"}
        ),
    }
    assert [page.status_code for page in pages.values()] == [200, 404, 200, 422, 200]
    for name, page in pages.items():
        directives = _strict(page)
        assert directives["default-src"] == {"'none'"}, name
        assert "script-src" not in directives, name  # default-src 'none': no script at all
        # Only the status page has a form of ours (consent, P4): it posts to us, nowhere else.
        assert directives["form-action"] == {"'self'" if name == "status" else "'none'"}, name
        # Our own style, and only that, is allowed: the customer's pages link our stylesheet
        # ('self'), the printable report has its <style> elements, each by its hash.
        assert "'unsafe-inline'" not in directives["style-src"], name
        assert "'self'" in directives["style-src"], name
        assert directives["img-src"] == {"'self'"}, name  # the agency's logo, if set
        styles = re.findall(r"<style>(.*?)</style>", page.text, re.S)
        assert {csp_hash(css) for css in styles} <= directives["style-src"], name
        assert " style=" not in page.text, name  # no style attribute: the policy refuses them
        if name == "printable report":
            assert styles
        else:
            assert not styles, name
            assert re.search(STYLESHEET_LINK, page.text), name


def test_json_answers_carry_the_same_refusals(api: Api):
    answer = api.anonymous.get("/api/v1/tickets")  # a 401 problem
    assert answer.status_code == 401
    assert {name: answer.headers.get(name) for name in FRAMING} == FRAMING
    assert _directives(answer)["default-src"] == {"'none'"}


def test_the_api_docs_allow_their_own_script_and_nothing_else(api: Api):
    swagger, redoc = api.anonymous.get("/docs"), api.anonymous.get("/redoc")
    inline = re.findall(r"<script>(.*?)</script>", swagger.text, re.S)
    assert _strict(swagger)["script-src"] == {"'self'", *(csp_hash(s) for s in inline)}
    assert _strict(redoc)["script-src"] == {"'self'"}
    for page in (swagger, redoc):
        directives = _directives(page)
        assert directives["default-src"] == {"'none'"}
        assert directives["connect-src"] == {"'self'"}
