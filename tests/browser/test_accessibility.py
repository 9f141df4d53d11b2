"""Accessibility: axe-core (from the npm registry, scripts/download_axe_core.py) run in the same
headless Chromium finds no serious or critical violation on the console's sign-in page, queue,
ticket page and pages around the desk, nor on the customer's status page.

axe is given to the page over the DevTools protocol (Runtime.evaluate), which the pages' strict
Content-Security-Policy does not govern: the pages themselves still carry no script."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from app.deps import get_now
from tests.browser.chromium import Page
from tests.browser.test_console import sign_in
from tests.conftest import Api, LiveServer
from tests.console.test_console import add_member
from tests.routers.test_status_page import status_url
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401

pytestmark = pytest.mark.browser
NOW = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)  # Tuesday 16:30 in Rome
SERIOUS = ("serious", "critical")


def axe_violations(page: Page, axe_script: str) -> list[dict[str, Any]]:
    """axe.run() on the page as it is: its violations, each with its nodes."""
    page.wait_for("document.readyState === 'complete'")
    loaded = page.call("Runtime.evaluate", expression=axe_script + "\n;typeof axe")
    assert loaded["result"].get("value") == "object", loaded
    result = page.call(
        "Runtime.evaluate",
        expression="axe.run(document).then(r => r.violations.map(v => ({id: v.id, impact: "
        "v.impact, help: v.help, nodes: v.nodes.map(n => ({target: n.target, html: n.html, "
        "summary: n.failureSummary}))})))",
        awaitPromise=True,
        returnByValue=True,
    )
    assert "exceptionDetails" not in result, result["exceptionDetails"]
    violations: list[dict[str, Any]] = result["result"]["value"]
    return violations


def assert_accessible(page: Page, axe_script: str, what: str) -> None:
    found = [v for v in axe_violations(page, axe_script) if v["impact"] in SERIOUS]
    said = "\n".join(
        f"{v['impact']} {v['id']}: {v['help']}\n"
        + "\n".join(
            f"  {json.dumps(n['target'])} {n['html']}\n    {n['summary']}" for n in v["nodes"]
        )
        for v in found
    )
    assert not found, f"{what}: axe-core finds\n{said}"


def test_the_sign_in_page_is_accessible(
    db: str, sportello: LiveServer, page: Page, axe_script: str
) -> None:
    page.goto(sportello.base_url + "/console/sign-in")
    assert_accessible(page, axe_script, "the sign-in page")
    page.type_into("#email", "nobody@agency.example")
    page.type_into("#password", "wrong password")
    page.click("#submit")
    page.wait_for("document.querySelector('#error') !== null")
    assert_accessible(page, axe_script, "the sign-in page with its error")
    page.goto(sportello.base_url + "/console/link/" + "x" * 43)  # a one-time link's button
    page.wait_for("document.querySelector('#enter') !== null")
    assert_accessible(page, axe_script, "a one-time link's page")


def test_the_queue_and_a_ticket_are_accessible(
    api: Api,
    rossi,  # noqa: F811
    db: str,
    sportello: LiveServer,
    page: Page,
    axe_script: str,
) -> None:
    sportello.app.dependency_overrides[get_now] = lambda: NOW
    # Every colour of the queue: on time, at risk, breached, taken in charge, no deadline.
    new_ticket(api, subject="Sito lento", received_at="2026-11-24T15:00:00+01:00")
    new_ticket(api, subject="Modulo contatti", received_at="2026-11-23T17:00:00+01:00")
    new_ticket(api, subject="Certificato scaduto", received_at="2026-11-20T09:00:00+01:00")
    new_ticket(api, subject="URGENTE: sito giù", received_at="2026-11-24T16:00:00+01:00")
    taken = new_ticket(api, subject="Nuova pagina", received_at="2026-11-24T09:00:00+01:00")
    api.agent.post(f"/api/v1/tickets/{taken['id']}/take-charge", json={})
    asked = new_ticket(
        api,
        from_email="anna@example.net",
        subject="Preventivo",
        received_at="2026-11-24T10:00:00+01:00",
    )
    api.agent.post(f"/api/v1/tickets/{asked['id']}/replies", json={"text": "Ci guardiamo."})
    api.agent.post(f"/api/v1/tickets/{asked['id']}/notes", json={"text": "Cliente nuovo."})
    add_member(db, "marco@agency.example")

    sign_in(page, sportello.base_url, "marco@agency.example")
    page.wait_for("document.querySelectorAll('#queue tbody tr').length === 6")
    assert_accessible(page, axe_script, "the queue")
    page.goto(sportello.base_url + "/console/?view=consent")
    assert_accessible(page, axe_script, "the queue's consent view")
    page.goto(sportello.base_url + "/console/?view=mine&q=nothing-like-this")
    page.wait_for("document.querySelector('#empty') !== null")
    assert_accessible(page, axe_script, "an empty queue")

    for ticket in (asked, taken):
        page.goto(f"{sportello.base_url}/console/tickets/{ticket['number']}")
        page.wait_for("document.querySelector('#subject') !== null")
        assert_accessible(page, axe_script, f"the ticket page of {ticket['number']}")
    page.goto(f"{sportello.base_url}/console/tickets/2026-999999")
    page.wait_for("document.querySelector('#error') !== null")
    assert_accessible(page, axe_script, "a refusal (no such request)")


def test_the_status_page_is_accessible(
    api: Api,
    rossi,  # noqa: F811
    db: str,
    sportello: LiveServer,
    page: Page,
    axe_script: str,
) -> None:
    ticket = new_ticket(api, received_at="2026-04-30T17:30:00+02:00")
    api.agent.post(f"/api/v1/tickets/{ticket['id']}/take-charge", json={})  # an email: the link
    page.goto(sportello.base_url + status_url(db, ticket["id"]))
    assert_accessible(page, axe_script, "the status page")


def test_the_pages_around_the_desk_are_accessible(
    api: Api,
    rossi,  # noqa: F811
    db: str,
    sportello: LiveServer,
    page: Page,
    axe_script: str,
) -> None:
    from app.enums import Role
    from tests.routers.test_inbound import post_mime
    from tests.routers.test_quarantine import no_sender

    sportello.app.dependency_overrides[get_now] = lambda: NOW
    covered = new_ticket(api, subject="Sito lento")
    api.agent.post(f"/api/v1/tickets/{covered['id']}/take-charge", json={})  # an email
    billable = new_ticket(api, from_email="chiunque@altrove.it", subject="Sito nuovo")
    api.agent.post(f"/api/v1/tickets/{billable['id']}/time-entries", json={"minutes": 30})
    post_mime(api, no_sender())  # a quarantined delivery
    add_member(db, "ada@agency.example", role=Role.ADMIN)
    sign_in(page, sportello.base_url, "ada@agency.example")
    contract = rossi["contract"]["id"]
    for path, ready in (
        ("/console/customers", "#customers"),
        (f"/console/customers/{rossi['customer']['id']}", "#customer-name"),
        ("/console/contracts", "#contracts"),
        (f"/console/contracts/{contract}", "#renew"),
        ("/console/statement?month=2026-11", "#statement"),
        ("/console/billing?month=2026-11", "#billing"),
        ("/console/outbox?state=", "#outbox"),
        ("/console/quarantine", "article.quarantined"),
        ("/console/mailboxes", "main"),
        ("/console/staff", "#members"),
    ):
        page.goto(sportello.base_url + path)
        page.wait_for(f"document.querySelector({json.dumps(ready)}) !== null")
        assert_accessible(page, axe_script, path)
